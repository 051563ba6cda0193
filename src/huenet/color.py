"""sRGB <-> CIE Lab (D65) on batched torch tensors, and the network's channel scaling.

All functions take and return ``N x 3 x H x W`` (or ``3 x H x W``) float tensors on any device and
are differentiable. Constants follow scikit-image (``skimage.color.rgb2lab``/``lab2rgb``), which the
tests use as the reference.

Ranges: RGB in [0, 1]; L in [0, 100]; a, b roughly in [-110, 110].
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
import torch.nn.functional as F

# sRGB (linear) -> XYZ, as in scikit-image.
_RGB_TO_XYZ = torch.tensor(
    [
        [0.412453, 0.357580, 0.180423],
        [0.212671, 0.715160, 0.072169],
        [0.019334, 0.119193, 0.950227],
    ],
    dtype=torch.float64,
)
_XYZ_TO_RGB = torch.linalg.inv(_RGB_TO_XYZ)
_WHITE_D65 = torch.tensor([0.95047, 1.0, 1.08883], dtype=torch.float64)

_EPS = 0.008856  # (6/29)^3
_KAPPA = 7.787  # (29/6)^2 / 3
_F0 = 16.0 / 116.0


def _matmul_channels(x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """Apply a 3x3 matrix to the channel dimension (dim -3) of ``... x 3 x H x W``."""
    return torch.einsum("ij,...jhw->...ihw", m.to(x.device, x.dtype), x)


def _per_channel(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return v.to(like.device, like.dtype).view(3, 1, 1)


def srgb_to_linear(rgb: torch.Tensor) -> torch.Tensor:
    # Clamping the power branch keeps gradients finite where torch.where discards it.
    high = ((rgb.clamp(min=0.04045) + 0.055) / 1.055) ** 2.4
    return torch.where(rgb > 0.04045, high, rgb / 12.92)


def linear_to_srgb(lin: torch.Tensor) -> torch.Tensor:
    high = 1.055 * lin.clamp(min=0.0031308) ** (1 / 2.4) - 0.055
    return torch.where(lin > 0.0031308, high, lin * 12.92)


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """``... x 3 x H x W`` sRGB in [0, 1] -> Lab (L in [0, 100])."""
    xyz = _matmul_channels(srgb_to_linear(rgb), _RGB_TO_XYZ) / _per_channel(_WHITE_D65, rgb)
    f = torch.where(xyz > _EPS, xyz.clamp(min=_EPS) ** (1 / 3), _KAPPA * xyz + _F0)
    fx, fy, fz = f.unbind(-3)
    L = 116.0 * fy - 16.0
    # skimage uses 903.3 * y below the threshold, which is the same line as 116 * f(y) - 16.
    return torch.stack([L, 500.0 * (fx - fy), 200.0 * (fy - fz)], dim=-3)


def _lab_to_linear(lab: torch.Tensor) -> torch.Tensor:
    """Lab -> linear RGB, not clipped (values outside [0, 1] are out of the sRGB gamut)."""
    L, a, b = lab.unbind(-3)
    fy = (L + 16.0) / 116.0
    fx = a / 500.0 + fy
    fz = (fy - b / 200.0).clamp(min=0.0)  # skimage clips negative z the same way
    f = torch.stack([fx, fy, fz], dim=-3)
    xyz = torch.where(f > 0.2068966, f.clamp(min=0.2068966) ** 3, (f - _F0) / _KAPPA)
    xyz = xyz * _per_channel(_WHITE_D65, lab)
    return _matmul_channels(xyz, _XYZ_TO_RGB)


def lab_to_rgb(lab: torch.Tensor) -> torch.Tensor:
    """``... x 3 x H x W`` Lab -> sRGB clipped to [0, 1] (as scikit-image's ``lab2rgb``)."""
    return linear_to_srgb(_lab_to_linear(lab).clamp(min=0.0)).clamp(0.0, 1.0)


def linear_to_srgb_u8(lin: torch.Tensor) -> torch.Tensor:
    """Linear RGB -> 8-bit sRGB, ``round(255 * linear_to_srgb(lin))``, in a few in-place passes.

    The curve's linear toe is written as ``(x - c) * 12.92`` with ``c = max(x, 0.0031308)`` added
    to the power branch of ``c``, instead of ``torch.where`` (on this project's CPU a ``where``
    costs as much as five arithmetic passes; ``bucketize`` against the 255 code boundaries, an
    earlier version, cost up to seven times this whole function). Agrees with the formula through
    ``linear_to_srgb`` except for float ties (a few pixels in a million, by one code).
    """
    x = lin.clamp(0.0, 1.0)
    c = x.clamp(min=0.0031308)
    toe = x.sub_(c).mul_(12.92 * 255.0).sub_(0.055 * 255.0)  # the toe's line, 0 above the break
    out = torch.add(toe, c.pow_(1 / 2.4), alpha=1.055 * 255.0)  # in [0, 255]: x was clipped
    return out.round_().to(torch.uint8)


def _gamut_map(flat: torch.Tensor, steps: int, tol: float) -> torch.Tensor:
    """``K x 3`` out-of-gamut Lab -> ``K x 3`` linear RGB in the gamut, same L and hue.

    Bisection on a chroma factor: each pixel gets the largest factor of its ab that is displayable.
    """
    lo = torch.zeros(flat.shape[0], 1, device=flat.device, dtype=flat.dtype)
    hi = torch.ones_like(lo)
    for _ in range(steps):
        mid = (lo + hi) / 2
        trial = torch.cat([flat[:, :1], flat[:, 1:] * mid], dim=1)
        t_lin = _lab_to_linear(trial.T.unsqueeze(-1)).squeeze(-1).T  # K x 3
        ok = ((t_lin >= -tol) & (t_lin <= 1 + tol)).all(dim=1, keepdim=True)
        lo, hi = torch.where(ok, mid, lo), torch.where(ok, hi, mid)
    fixed = torch.cat([flat[:, :1], flat[:, 1:] * lo], dim=1)
    return _lab_to_linear(fixed.T.unsqueeze(-1)).squeeze(-1).T


def lab_to_rgb_keep_lightness(lab: torch.Tensor, steps: int = 10, tol: float = 1e-4, as_uint8: bool = False) -> torch.Tensor:
    """Lab -> sRGB, bringing out-of-gamut colors into the gamut by lowering their chroma.

    Clipping R, G, B one by one (``lab_to_rgb``) changes a color's lightness, by several L units
    for saturated colors near black or white. Here each out-of-gamut pixel keeps its L and hue and
    gets the largest chroma (found by bisection on a factor for its ab) that is in the gamut, so a
    colorized photo keeps the input's lightness. Only out-of-gamut pixels cost anything extra.
    ``as_uint8`` returns 8-bit sRGB (``linear_to_srgb_u8``) instead of floats.
    This is the reference; ``lab_to_srgb_u8`` is the same map in fewer passes for 8-bit output.
    """
    lin = _lab_to_linear(lab)
    bad = ((lin < -tol) | (lin > 1 + tol)).any(dim=-3)  # ... x H x W
    if bool(bad.any()):
        moved = lin.movedim(-3, -1).clone()
        moved[bad] = _gamut_map(lab.movedim(-3, -1)[bad], steps, tol)
        lin = moved.movedim(-1, -3)
    if as_uint8:
        return linear_to_srgb_u8(lin)
    return linear_to_srgb(lin.clamp(min=0.0)).clamp(0.0, 1.0)


# XYZ -> linear RGB with the white point folded in: lin = M @ (X/Xn, Y/Yn, Z/Zn)
_XYZN_TO_RGB = (_XYZ_TO_RGB * _WHITE_D65[None, :]).float()
_DELTA = 6.0 / 29.0  # where Lab's f changes from a cube root to a line


def _xyzn_to_linear(xyz: torch.Tensor, as_conv: bool) -> torch.Tensor:
    """``N x 3 x H x W`` white-normalised XYZ -> linear RGB, stored channels last.

    ``as_conv``: a 1x1 convolution (oneDNN's fastest form on CPUs, 22 vs 48 ms for a 12 MP matmul
    here); otherwise a matmul over pixels, for GPUs, where cuDNN may run fp32 convolutions in TF32
    (a 10-bit mantissa) but matmuls stay fp32 unless asked otherwise. The same numbers (tested).
    """
    xyz = xyz.contiguous(memory_format=torch.channels_last)
    m = _u8_tables(xyz.device)[2]
    if as_conv:
        lin = F.conv2d(xyz, m.view(3, 3, 1, 1))
    else:
        lin = torch.matmul(xyz.permute(0, 2, 3, 1), m.T).permute(0, 3, 1, 2)
    return lin.contiguous(memory_format=torch.channels_last)  # a no-op where the layout was kept


def lab_to_srgb_u8(L: torch.Tensor, ab: torch.Tensor, steps: int = 10, tol: float = 1e-4) -> torch.Tensor:
    """``N x 1 x H x W`` L and ``N x 2 x H x W`` ab -> ``N x 3 x H x W`` uint8 sRGB, stored channels
    last (``.permute(0, 2, 3, 1)`` is the images' ``N x H x W x 3`` without a copy): the colorizer's
    output path, ``lab_to_rgb_keep_lightness(cat([L, ab]), as_uint8=True)`` in fewer passes.

    Per pixel this is a few dozen flops, so on megapixel photos the cost is the number of passes
    over memory: L and ab are not concatenated, f's inverse is written without ``torch.where``
    (``c^3 + (f - c) * 3 delta^2`` with ``c = max(f, delta)``: the same line below the break point),
    the white point is folded into the matrix, most steps work in place, and the gamut test is one
    ``aminmax``. Only out-of-gamut pixels go through the (shared) bisection. Agrees with the
    reference to one 8-bit code where float rounding differs (tested).
    """
    n, _, h, w = L.shape
    # planes (one pass per channel) up to XYZ; then channels last (pixels x RGB in memory), where
    # oneDNN runs the 3x3 matrix as a 1x1 convolution faster than a matmul on planes, and the 8-bit
    # result comes out laid out as images are (H x W x 3) with no transposing copy at the end
    f = torch.empty(n, 3, h, w, device=L.device, dtype=torch.float32)
    fy = torch.add(L, 16.0, out=f[:, 1:2]).mul_(1 / 116)
    torch.add(fy, ab[:, 0:1], alpha=1 / 500, out=f[:, 0:1])
    torch.add(fy, ab[:, 1:2], alpha=-1 / 200, out=f[:, 2:3]).clamp_(min=0.0)
    c = f.clamp(min=_DELTA)
    xyz = torch.addcmul(f.sub_(c).mul_(3 * _DELTA**2), c.mul(c), c)  # c^3 + (f - c) 3 delta^2
    lin = _xyzn_to_linear(xyz, as_conv=xyz.device.type == "cpu")
    px = lin.permute(0, 2, 3, 1).view(n * h * w, 3)  # the same memory, one row per pixel
    lo, hi = px.aminmax()
    if lo < -tol or hi > 1 + tol:
        lo_px = torch.minimum(px[:, 0], px[:, 1]).minimum(px[:, 2])
        hi_px = torch.maximum(px[:, 0], px[:, 1]).maximum(px[:, 2])
        idx = (lo_px < -tol).logical_or_(hi_px > 1 + tol).nonzero().squeeze(1)
        img, at = idx // (h * w), idx % (h * w)
        ab_v = ab.reshape(n, 2, h * w)
        flat = torch.stack([L.reshape(n * h * w)[idx], ab_v[img, 0, at], ab_v[img, 1, at]], 1)
        px[idx] = _gamut_map(flat.float(), steps, tol)  # writes into lin
    return linear_to_srgb_u8(lin)  # keeps lin's channels-last layout


def l_from_rgb(rgb: torch.Tensor) -> torch.Tensor:
    """``... x 3 x H x W`` sRGB -> ``... x 1 x H x W`` lightness L in [0, 100].

    L depends on Y alone (Y's white is 1), so this skips X and Z: a third of ``rgb_to_lab``'s work,
    which matters at full resolution on megapixel photos.
    """
    w = _RGB_TO_XYZ[1].to(rgb.device, rgb.dtype).view(3, 1, 1)
    return _l_from_y((srgb_to_linear(rgb) * w).sum(dim=-3, keepdim=True))


def l_from_rgb_u8(rgb: torch.Tensor) -> torch.Tensor:
    """``... x 3 x H x W`` uint8 sRGB -> ``... x 1 x H x W`` float32 L, the same as ``l_from_rgb``
    of ``rgb / 255``: the sRGB curve and Y's weights become three 256-entry tables, and f's cube
    root branch is joined to its line by a clamp (``c^(1/3) + (y - c) kappa``, ``c = max(y, eps)``)
    rather than ``torch.where``."""
    tables = _u8_tables(rgb.device)[0]  # 3 x 256: each channel's share of Y
    idx = rgb.long()
    y = torch.take(tables[0], idx[..., 0:1, :, :])
    y += torch.take(tables[1], idx[..., 1:2, :, :])
    y += torch.take(tables[2], idx[..., 2:3, :, :])
    c = y.clamp(min=_EPS)
    line = y.sub_(c).mul_(116.0 * _KAPPA)  # 0 above eps
    return torch.add(line, c.pow_(1 / 3), alpha=116.0).sub_(16.0)


def l_from_gray(gray: torch.Tensor) -> torch.Tensor:
    """Gray values in [0, 1] (``... x 1 x H x W``, sRGB-encoded) -> L in [0, 100].

    A gray pixel has R = G = B, so only the Y row of the matrix matters (its rows sum to 1).
    """
    return _l_from_y(srgb_to_linear(gray))


def _l_from_y(y: torch.Tensor) -> torch.Tensor:
    """Relative luminance Y (white 1) -> L, as ``rgb_to_lab`` computes it."""
    f = torch.where(y > _EPS, y.clamp(min=_EPS) ** (1 / 3), _KAPPA * y + _F0)
    return 116.0 * f - 16.0


def l_from_gray_u8(gray: torch.Tensor) -> torch.Tensor:
    """``... x 1 x H x W`` uint8 gray -> float32 L: one lookup in a 256-entry table of ``l_from_gray``."""
    return torch.take(_u8_tables(gray.device)[1], gray.long())


@functools.lru_cache(maxsize=None)
def _u8_tables(device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Constants of the 8-bit and output paths, made once per device (the colorizer calls these
    functions once per band of rows): Y's share of each 8-bit R, G, B code (3 x 256), L of each
    8-bit gray code (256), and the XYZ/white -> linear RGB matrix."""
    codes = torch.arange(256, dtype=torch.float64) / 255.0
    y_tables = (srgb_to_linear(codes)[None, :] * _RGB_TO_XYZ[1][:, None]).float()
    return y_tables.to(device), l_from_gray(codes).float().to(device), _XYZN_TO_RGB.to(device)


@dataclass(frozen=True)
class LabScaling:
    """How L and ab are scaled for the network (Zhang et al.'s constants).

    network L  = (L - l_center) / l_scale   -> about [-0.5, 0.5]
    network ab = ab / ab_scale              -> about [-1, 1]
    """

    l_center: float = 50.0
    l_scale: float = 100.0
    ab_scale: float = 110.0

    def normalize_l(self, L: torch.Tensor) -> torch.Tensor:
        return (L - self.l_center) / self.l_scale

    def denormalize_l(self, l_net: torch.Tensor) -> torch.Tensor:
        return l_net * self.l_scale + self.l_center

    def normalize_ab(self, ab: torch.Tensor) -> torch.Tensor:
        return ab / self.ab_scale

    def denormalize_ab(self, ab_net: torch.Tensor) -> torch.Tensor:
        return ab_net * self.ab_scale

    def to_dict(self) -> dict:
        return {"l_center": self.l_center, "l_scale": self.l_scale, "ab_scale": self.ab_scale}


def lightness_of(px: torch.Tensor) -> torch.Tensor:
    """``N x 3 x H x W`` RGB or ``N x 1 x H x W`` gray, uint8 or float in [0, 1] -> L."""
    if px.shape[-3] == 1:
        return l_from_gray_u8(px) if px.dtype == torch.uint8 else l_from_gray(px.float())
    return l_from_rgb_u8(px) if px.dtype == torch.uint8 else l_from_rgb(px.float())
