import numpy as np
import pytest
import torch
from PIL import Image
from skimage import color as skcolor

from huenet.color import LabScaling, l_from_gray, lab_to_rgb, rgb_to_lab


def _rgb(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.float64) / 255.0


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))[None]


def test_rgb_to_lab_matches_skimage_on_real_photos(real_photos):
    for path in real_photos:
        rgb = _rgb(path)
        ref = skcolor.rgb2lab(rgb)
        ours = rgb_to_lab(_t(rgb).float())[0].permute(1, 2, 0).numpy()
        assert np.abs(ours[..., 0] - ref[..., 0]).max() < 0.01, path
        assert np.abs(ours[..., 1:] - ref[..., 1:]).max() < 0.05, path


def test_lab_to_rgb_matches_skimage_on_real_photos(real_photos):
    for path in real_photos[:4]:
        lab = skcolor.rgb2lab(_rgb(path))
        # Predictions are not always in gamut: push ab around to exercise clipping too.
        lab[..., 1:] *= 1.3
        ref = skcolor.lab2rgb(lab)
        ours = lab_to_rgb(_t(lab).float())[0].permute(1, 2, 0).numpy()
        assert np.abs(ours - ref).max() < 1e-3, path


def test_round_trip_within_one_level(real_photos):
    rgb = torch.cat([_t(_rgb(p)[:160, :160]).float() for p in real_photos])
    back = lab_to_rgb(rgb_to_lab(rgb))
    assert (back - rgb).abs().max().item() < 1 / 255


def test_batched_and_differentiable():
    torch.manual_seed(0)
    rgb = torch.rand(4, 3, 16, 16, dtype=torch.float64, requires_grad=True)
    # include exact zeros and ones, where powers have infinite slopes
    with torch.no_grad():
        rgb[0, :, 0, 0] = 0.0
        rgb[0, :, 0, 1] = 1.0
    lab = rgb_to_lab(rgb)
    assert lab.shape == rgb.shape
    lab.sum().backward()
    assert torch.isfinite(rgb.grad).all()
    lab2 = lab.detach().clone().requires_grad_(True)
    lab_to_rgb(lab2).sum().backward()
    assert torch.isfinite(lab2.grad).all()
    assert torch.autograd.gradcheck(rgb_to_lab, ((torch.rand(1, 3, 3, 3, dtype=torch.float64) * 0.9 + 0.05).requires_grad_(),))


def test_gray_lightness_and_neutral_ab():
    gray = torch.linspace(0, 1, 256, dtype=torch.float64).view(1, 1, 1, 256)
    lab = rgb_to_lab(gray.expand(1, 3, 1, 256))
    assert torch.allclose(l_from_gray(gray), lab[:, :1], atol=1e-6)
    assert lab[:, 1:].abs().max() < 0.01  # D65 white point: gray has no color
    assert lab[0, 0, 0, 0] == pytest.approx(0.0, abs=1e-6) and lab[0, 0, 0, -1] == pytest.approx(100.0, abs=1e-3)


def test_scaling_round_trip():
    s = LabScaling()
    L = torch.tensor([0.0, 50.0, 100.0])
    assert torch.allclose(s.normalize_l(L), torch.tensor([-0.5, 0.0, 0.5]))
    assert torch.allclose(s.denormalize_l(s.normalize_l(L)), L)
    ab = torch.tensor([-110.0, 0.0, 55.0])
    assert torch.allclose(s.normalize_ab(ab), torch.tensor([-1.0, 0.0, 0.5]))


def test_out_of_gamut_colors_keep_lightness_and_hue(real_photos):
    from huenet.color import lab_to_rgb_keep_lightness

    lab = rgb_to_lab(_t(_rgb(real_photos[1])[:64, :64]))
    inside = lab_to_rgb_keep_lightness(lab)
    assert torch.allclose(inside, lab_to_rgb(lab), atol=1e-6)  # in-gamut colors are untouched
    wild = lab.clone()
    wild[:, 1:] = wild[:, 1:] * 3 + 40  # far out of the sRGB gamut
    clipped, kept = lab_to_rgb(wild), lab_to_rgb_keep_lightness(wild)
    back = rgb_to_lab(kept)
    assert (back[:, 0] - wild[:, 0]).abs().max() < 0.05  # L kept
    assert (rgb_to_lab(clipped)[:, 0] - wild[:, 0]).abs().max() > 3  # plain clipping moves L
    hue = lambda x: torch.atan2(x[:, 2], x[:, 1])
    chroma = back[:, 1:].norm(dim=1)
    d = torch.remainder(hue(back) - hue(wild) + torch.pi, 2 * torch.pi) - torch.pi
    assert d[chroma > 5].abs().max() < 0.05  # hue kept where there is chroma to have a hue
    assert (chroma <= wild[:, 1:].norm(dim=1) + 1e-3).all()  # only ever less chroma


def test_fast_output_path_matches_the_reference(real_photos):
    """``lab_to_srgb_u8`` (the colorizer's 8-bit output) is the reference keep-lightness map with
    fewer passes: same codes except float ties, also with many pixels out of gamut."""
    from huenet.color import lab_to_rgb_keep_lightness, lab_to_srgb_u8

    for path in real_photos[:4]:
        lab = rgb_to_lab(_t(_rgb(path)).float())
        # 2.5x: a large share of the pixels out of the sRGB gamut; 3x + 40: far out, and past the
        # clip of Z at zero in dark pixels
        for gain, shift in ((1.0, 0.0), (2.5, 0.0), (3.0, 40.0)):
            wild = torch.cat([lab[:, :1], lab[:, 1:] * gain + shift], dim=1)
            ref = lab_to_rgb_keep_lightness(wild, as_uint8=True)
            fast = lab_to_srgb_u8(wild[:, :1], wild[:, 1:])
            assert fast.dtype == torch.uint8 and fast.shape == ref.shape
            diff = (fast.int() - ref.int()).abs()
            assert diff.max() <= 1 and (diff > 0).float().mean() < 1e-4, (path, gain, shift)
            if gain == 1.0:  # a real photo's own colors come back within one level
                assert (fast.int() - (_t(_rgb(path)) * 255).round().int()).abs().max() <= 1
            # stored as images are (H x W x 3): handing it to numpy/Pillow needs no copy
            assert fast.permute(0, 2, 3, 1).is_contiguous()
    # a batch of two (different content) equals each on its own
    a, b = (rgb_to_lab(_t(_rgb(p)[:96, :128]).float()) * torch.tensor([1, 2, 2]).view(1, 3, 1, 1) for p in real_photos[:2])
    both = lab_to_srgb_u8(torch.cat([a, b])[:, :1], torch.cat([a, b])[:, 1:])
    assert torch.equal(both[1:], lab_to_srgb_u8(b[:, :1], b[:, 1:]))


def test_8bit_fast_paths_match_the_formulas():
    from huenet.color import l_from_rgb, l_from_rgb_u8, linear_to_srgb, linear_to_srgb_u8

    every = torch.stack(torch.meshgrid(*[torch.arange(0, 256, 5, dtype=torch.uint8)] * 3, indexing="ij")).view(1, 3, -1, 1)
    every = torch.cat([every, torch.arange(256, dtype=torch.uint8).expand(1, 3, 256)[..., None]], dim=2)  # + all grays
    assert (l_from_rgb_u8(every) - l_from_rgb(every.double() / 255)).abs().max() < 1e-4
    lin = torch.linspace(-0.1, 1.1, 200001)  # through the toe, the curve and past both ends
    ref = (linear_to_srgb(lin.double().clamp(min=0)).clamp(0, 1) * 255).round()
    diff = (linear_to_srgb_u8(lin).double() - ref).abs()
    assert diff.max() <= 1 and (diff > 0).sum() <= 20


def test_color_matrix_as_convolution_or_matmul_agree(real_photos):
    """The CPU path multiplies by the XYZ -> RGB matrix as a 1x1 convolution, the GPU path as a
    matmul (cuDNN may use TF32 for convolutions): both give the same linear RGB, channels last."""
    from huenet.color import _xyzn_to_linear

    xyz = rgb_to_lab(_t(_rgb(real_photos[0])).float()).abs() / 100  # any positive planes will do
    conv, mm = _xyzn_to_linear(xyz, as_conv=True), _xyzn_to_linear(xyz, as_conv=False)
    assert (conv - mm).abs().max() < 1e-5
    assert conv.is_contiguous(memory_format=torch.channels_last) and mm.is_contiguous(memory_format=torch.channels_last)
