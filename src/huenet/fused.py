"""The full-resolution color path in one pass per row (optional: ``pip install 'huenet[fast]'``).

Without it, ``Colorizer`` runs the per-pixel work as tensor passes over bands of rows: L from the
8-bit pixels, L resized to the working size, then bilinear ab upsampling, Lab -> XYZ -> linear RGB,
the gamut test, the hue- and L-keeping bisection for the pixels outside the gamut and the 8-bit
sRGB encoding, some twenty passes over memory. Here numba kernels (``_fused_kernels.py``) do it
from the photo's 8-bit pixels to the 8-bit output while a row is in cache, rows in parallel, and
the full-resolution L is never stored:

- ``working_lightness_u8``: 8-bit gray or RGB pixels -> L at the working size (the network's
  input), resized with the same antialiased bilinear weights as ``F.interpolate``;
- ``srgb_u8_from_pixels``: the same pixels and the network's ab -> the 8-bit sRGB photo;
- ``fused_srgb_u8``: the same from a float L (16-bit and float photos, hints, video frames).

The tensor path stays: it is the fallback without numba, the path on GPUs, and the reference the
tests hold this one to (within one 8-bit code on >= 99.9% of pixels, never more than 2).

The kernels are compiled once per machine and cached beside this file (numba's ``cache=True``); the
first call in a fresh install spends seconds compiling, so the colorizer uses them only for photos
large enough to repay that (``colorize.FUSED_MIN_PIXELS``), where the passes over memory dominate.
"""

from __future__ import annotations

import functools
import threading

import numpy as np
import torch
import torch.nn.functional as F
from .color import _u8_tables
from .errors import MissingExtraError

_LOCK = threading.Lock()


def available() -> bool:
    """Whether numba is installed (found without importing it: importing costs ~0.3 s)."""
    import importlib.util

    return importlib.util.find_spec("numba") is not None


def _kernels():
    try:
        from . import _fused_kernels
    except ImportError as e:
        raise MissingExtraError(f"the fused color path needs numba: pip install 'huenet[fast]' ({e})") from None
    return _fused_kernels


@functools.lru_cache(maxsize=None)
def _tables() -> tuple[np.ndarray, np.ndarray]:
    """(fy of each 8-bit gray code, the XYZ/white -> linear RGB matrix), float32: the tensor
    path's own tables (``color._u8_tables``)."""
    _, l_gray, m = _u8_tables(torch.device("cpu"))
    return ((l_gray + 16.0) / 116.0).numpy(), m.float().numpy().copy()


@functools.lru_cache(maxsize=64)
def _aa_weights(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    """``(first input index, K weights)`` of each output sample of a 1-D resize from ``n_in`` to
    ``n_out`` samples, as ``F.interpolate(mode="bilinear", align_corners=False, antialias=True)``
    computes them (ATen's ``_compute_weights_aa``: a triangle as wide as the scale when shrinking,
    plain bilinear when enlarging, each window cut at the edges and normalised). Every row has K
    entries: windows are shifted to stay inside the input, with zeros where they were cut."""
    scale = n_in / n_out
    support = scale if scale >= 1.0 else 1.0
    invscale = 1.0 / scale if scale >= 1.0 else 1.0
    spans = []
    for i in range(n_out):
        center = scale * (i + 0.5)
        lo = max(int(center - support + 0.5), 0)
        hi = min(int(center + support + 0.5), n_in)
        j = np.arange(lo, hi, dtype=np.float64)
        w = np.maximum(0.0, 1.0 - np.abs((j - center + 0.5) * invscale))
        spans.append((lo, w / w.sum() if w.sum() > 0 else w))
    k = max(len(w) for _, w in spans)
    first = np.empty(n_out, np.int64)
    weights = np.zeros((n_out, k), np.float32)
    for i, (lo, w) in enumerate(spans):
        start = min(lo, n_in - k)
        first[i] = start
        weights[i, lo - start:lo - start + len(w)] = w
    return first, weights


def _pixel_rows(px: torch.Tensor | np.ndarray) -> tuple[int, np.ndarray]:
    """8-bit pixels, ``N x C x H x W`` tensor (C = 1 or 3, as ``colorize_photos`` views ``N x H x W x
    C`` images) or ``N x H x W x C`` array (C = 1, 3, or 4: RGBX, as Pillow stores RGB; see
    ``images.pixels_view``) -> (row source kind, ``N x H x (W * C)`` array on the same memory where it
    is laid out so)."""
    k = _kernels()
    hwc = px.permute(0, 2, 3, 1) if isinstance(px, torch.Tensor) else px
    n, h, w, c = hwc.shape
    if c not in (1, 3, 4) or hwc.dtype not in (torch.uint8, np.uint8):
        raise ValueError(f"the fused path takes 8-bit gray, RGB or RGBX pixels, not {c} channels of {hwc.dtype}")
    a = hwc.numpy() if isinstance(hwc, torch.Tensor) else hwc
    kind = {1: k.SRC_GRAY, 3: k.SRC_RGB, 4: k.SRC_RGBX}[c]
    return kind, np.ascontiguousarray(a).reshape(n, h, w * c)


def working_lightness_u8(px: torch.Tensor | np.ndarray, size: tuple[int, int]) -> torch.Tensor:
    """8-bit gray or RGB pixels (CPU; as ``_pixel_rows`` takes them) -> ``N x 1 x h x w`` float32 L at ``size``, the
    same as ``F.interpolate(lightness(px), size, mode="bilinear", antialias=True)`` up to float
    rounding, without a full-resolution L."""
    k = _kernels()
    src, rows = _pixel_rows(px)
    n = rows.shape[0]
    h, w = pixel_size(px)
    hs, ws = size
    x_min, x_w = _aa_weights(w, ws)
    y_min, y_w = _aa_weights(h, hs)
    fy_gray, _ = _tables()
    out = np.empty((n, 1, hs, ws), np.float32)
    tmp = np.empty((hs, w), np.float32)
    with _LOCK:
        for i in range(n):
            k.working_l_kernel(src, rows[i], fy_gray, x_min, x_w, y_min, y_w, tmp, out[i, 0])
    return torch.from_numpy(out)


def pixel_size(px: torch.Tensor | np.ndarray) -> tuple[int, int]:
    """(H, W) of pixels in either layout ``_pixel_rows`` takes."""
    return tuple(px.shape[2:4]) if isinstance(px, torch.Tensor) else tuple(px.shape[1:3])


def _srgb(src: int, rows8: np.ndarray | None, Lf: np.ndarray | None, ab_small: torch.Tensor, h: int, w: int,
          steps: int, tol: float, channels: int = 3) -> np.ndarray:
    """-> ``N x H x W x channels`` uint8 (3: RGB; 4: RGBX, Pillow's layout, X = 255)."""
    k = _kernels()
    n = ab_small.shape[0]
    # ab resized along the width here (2 x h_small x W, small); along the height in the kernel
    ab = ab_small.detach().float().cpu()
    abw = F.interpolate(ab, size=(ab.shape[-2], w), mode="bilinear", align_corners=False).contiguous().numpy()
    out = np.empty((n, h, w, channels), np.uint8)
    on = out.reshape(n, h, w * channels)
    fy_gray, m = _tables()
    dummy8, dummyf = np.zeros((1, 1), np.uint8), np.zeros((1, 1), np.float32)
    with _LOCK:  # numba's thread pool must not be entered from two threads at once (a server's workers)
        for i in range(n):
            k.srgb_u8_kernel(src, rows8[i] if rows8 is not None else dummy8, Lf[i] if Lf is not None else dummyf,
                             abw[i], on[i], fy_gray, m, steps, tol)
    return out


def srgb_u8_from_pixels(px: torch.Tensor, ab_small: torch.Tensor, steps: int = 10, tol: float = 1e-4) -> torch.Tensor:
    """``N x C x H x W`` 8-bit gray or RGB pixels (CPU) and ``N x 2 x h x w`` ab at the working size ->
    ``N x 3 x H x W`` uint8 sRGB stored channels last, with the pixels' own L, as
    ``Colorizer.to_srgb_u8(lightness(px), ab_small)`` returns it."""
    src, rows = _pixel_rows(px)
    return torch.from_numpy(_srgb(src, rows, None, ab_small, *pixel_size(px), steps, tol)).permute(0, 3, 1, 2)


def rgbx_from_pixels(px: np.ndarray, ab_small: torch.Tensor, steps: int = 10, tol: float = 1e-4) -> np.ndarray:
    """``N x H x W x C`` 8-bit pixels (C = 1, 3 or 4: RGBX) and the working-size ab -> ``N x H x W x 4``
    uint8 RGBX (X = 255), the layout Pillow keeps RGB images in (``images.image_from_rgbx`` wraps it
    without a copy); the same codes as ``srgb_u8_from_pixels``."""
    src, rows = _pixel_rows(px)
    return _srgb(src, rows, None, ab_small, *pixel_size(px), steps, tol, channels=4)


def fused_srgb_u8(L: torch.Tensor, ab_small: torch.Tensor, steps: int = 10, tol: float = 1e-4) -> torch.Tensor:
    """``N x 1 x H x W`` L (CPU, float32) and ``N x 2 x h x w`` ab at the working size -> ``N x 3 x H
    x W`` uint8 sRGB stored channels last, as ``Colorizer.to_srgb_u8`` returns it."""
    Ln = L.detach().float().contiguous().numpy()[:, 0]
    return torch.from_numpy(_srgb(_kernels().SRC_L, None, Ln, ab_small, L.shape[-2], L.shape[-1], steps, tol)).permute(0, 3, 1, 2)
