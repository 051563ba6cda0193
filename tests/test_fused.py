"""The fused full-resolution color path (numba) against the tensor path it replaces on CPUs."""

import numpy as np
import pytest
import torch
from PIL import Image

from huenet import fused
from huenet.colorize import FUSED_MIN_PIXELS, Colorizer
from huenet.images import load_photo, photo_from_pil

from conftest import DATA

pytestmark = pytest.mark.skipif(not fused.available(), reason="numba is not installed (pip install 'huenet[fast]')")


def _photos(tmp_path):
    """Real photos as users bring them: color JPEGs, an 8-bit gray one and a 16-bit gray PNG."""
    srcs = sorted((DATA / "bsds500" / "test").glob("*.jpg"))
    out = [load_photo(srcs[0]), load_photo(srcs[50])]
    gray = Image.open(srcs[100]).convert("L")
    out.append(photo_from_pil(gray))
    g16 = tmp_path / "g16.png"
    Image.fromarray((np.asarray(gray).astype(np.uint16) * 257)).save(g16)
    out.append(load_photo(g16))
    return out


@pytest.mark.parametrize("saturation", [1.0, 2.5])  # 2.5: many colors outside sRGB, the bisection at work
def test_fused_path_matches_the_tensor_path_on_real_photos(small_checkpoint, tmp_path, saturation):
    ref = Colorizer.load(small_checkpoint, device="cpu", precision="fp32", saturation=saturation, fused=False)
    fast = Colorizer.load(small_checkpoint, device="cpu", precision="fp32", saturation=saturation, fused=True)
    for photo in _photos(tmp_path):
        a = np.asarray(ref.colorize_photos([photo])[0], np.int16)
        b = np.asarray(fast.colorize_photos([photo])[0], np.int16)
        d = np.abs(a - b)
        assert a.shape == b.shape and d.max() <= 2, d.max()
        assert (d <= 1).mean() >= 0.999 and (d == 0).mean() > 0.99, ((d <= 1).mean(), (d == 0).mean())


def test_large_photos_take_the_fused_path_and_small_ones_do_not(small_checkpoint):
    c = Colorizer.load(small_checkpoint, device="cpu")
    assert c.fused is None
    big = torch.zeros(1, 1, 1024, FUSED_MIN_PIXELS // 1024)
    small = torch.zeros(1, 1, 256, 256)
    assert c._use_fused(big) and not c._use_fused(small)
    assert not Colorizer.load(small_checkpoint, device="cpu", fused=False)._use_fused(big)
    assert Colorizer.load(small_checkpoint, device="cpu", fused=True)._use_fused(small)
    # the route each kind of input takes, decided in one place
    big_u8 = torch.zeros(1, 3, 1024, FUSED_MIN_PIXELS // 1024, dtype=torch.uint8)
    assert c._color_path(big_u8) == "pixels" and c._color_path(big) == "lightness"
    assert c._color_path(big_u8, as_uint8=False) == "tensor" and c._color_path(small) == "tensor"


def test_threads_may_call_the_fused_path_at_once(small_checkpoint):
    """A server with several workers colorizes from several threads: the kernel calls take turns."""
    from concurrent.futures import ThreadPoolExecutor

    c = Colorizer.load(small_checkpoint, device="cpu", precision="fp32", fused=True)
    img = Image.open(sorted((DATA / "bsds500" / "test").glob("*.jpg"))[3])
    want = np.asarray(c.colorize(img))
    with ThreadPoolExecutor(3) as ex:
        outs = list(ex.map(lambda _: np.asarray(c.colorize(img)), range(6)))
    assert all(np.array_equal(o, want) for o in outs)


def _real_pixels(kind: str, size: tuple[int, int]) -> torch.Tensor:
    """A real photo resized to ``size`` (W, H) as the colorizer views it: ``1 x C x H x W`` uint8."""
    img = Image.open(sorted((DATA / "bsds500" / "test").glob("*.jpg"))[7]).convert("RGB").resize(size, Image.BICUBIC)
    a = np.asarray(img.convert("L"))[..., None] if kind == "gray" else np.asarray(img)
    return torch.from_numpy(np.array(a)).permute(2, 0, 1)[None]


@pytest.mark.parametrize("kind", ["gray", "rgb"])
@pytest.mark.parametrize("size,working", [((1203, 901), (128, 171)), ((1500, 100), (128, 1920)), ((333, 517), (200, 129))])
def test_working_lightness_from_pixels_is_the_antialiased_resize_of_l(small_checkpoint, kind, size, working):
    """The network's input straight from 8-bit pixels equals the tensor path's: L at full resolution,
    then ``F.interpolate(bilinear, antialias=True)``; shrinking, enlarging (a 100-row strip to 128)
    and odd sizes."""
    c = Colorizer.load(small_checkpoint, device="cpu", fused=False)
    px = _real_pixels(kind, size)
    want = torch.nn.functional.interpolate(c.lightness(px), size=working, mode="bilinear", align_corners=False,
                                           antialias=True)
    got = fused.working_lightness_u8(px, working)
    assert got.shape == want.shape == (1, 1, *working)
    assert (got - want).abs().max() < 0.01, (got - want).abs().max()  # L is 0..100


@pytest.mark.parametrize("kind", ["gray", "rgb"])
def test_srgb_from_pixels_matches_the_tensor_path_with_colors_outside_srgb(small_checkpoint, kind):
    """8-bit pixels + ab -> the same 8-bit photo as the tensor path from the full-resolution L, two
    photos in one batch. The network's ab is stretched to chroma up to 110 so that many pixels
    (checked) go through the gamut bisection."""
    from huenet.color import _lab_to_linear

    c = Colorizer.load(small_checkpoint, device="cpu", precision="fp32", fused=False)
    px = torch.cat([_real_pixels(kind, (1203, 901)), _real_pixels(kind, (1203, 901)).flip(-1)])
    L = c.lightness(px)
    ab = c.predict_ab_small(L)
    ab = ab * (110.0 / ab.norm(dim=1).max())
    want = c.to_srgb_u8(L, ab).numpy().astype(np.int16)
    got = fused.srgb_u8_from_pixels(px, ab).numpy().astype(np.int16)
    d = np.abs(got - want)
    assert got.shape == want.shape == (2, 3, 901, 1203)
    assert d.max() <= 2 and (d <= 1).mean() >= 0.999, (d.max(), (d <= 1).mean())
    full_ab = torch.nn.functional.interpolate(ab, size=L.shape[-2:], mode="bilinear", align_corners=False)
    raw = _lab_to_linear(torch.cat([L, full_ab], 1))
    assert ((raw < -1e-4) | (raw > 1 + 1e-4)).any(1).float().mean() > 0.05  # the bisection had work


def test_fitted_curves_are_far_inside_one_code():
    """The kernels' polynomials for the sRGB curve, its inverse and Lab's cube root, against the exact
    functions on a fine grid (a lower degree or a wrong range would fail here first)."""
    from huenet._fused_kernels import _POLY_ERRORS

    assert _POLY_ERRORS["srgb encode (codes)"] < 0.005
    assert _POLY_ERRORS["L from Y (L units)"] < 0.001
    assert 903.3 * _POLY_ERRORS["srgb decode"] < 0.01  # L's slope in Y is at most 903.3 (its line near black)


def test_colorize_array_takes_read_only_and_batched_pixels(small_checkpoint):
    """``colorize_array`` on a read-only batch of two photos goes through the kernels (its output is
    theirs exactly) and agrees with the tensor path."""
    from huenet.colorize import working_size

    c = Colorizer.load(small_checkpoint, device="cpu", precision="fp32", fused=True)
    ref = Colorizer.load(small_checkpoint, device="cpu", precision="fp32", fused=False)
    a = np.asarray(Image.open(sorted((DATA / "bsds500" / "test").glob("*.jpg"))[9]).convert("RGB"))
    a.setflags(write=False)
    batch = np.stack([a, a[::-1].copy()])
    batch.setflags(write=False)
    got, want = c.colorize_array(batch).astype(np.int16), ref.colorize_array(batch).astype(np.int16)
    px = torch.from_numpy(batch.copy()).permute(0, 3, 1, 2)
    small = fused.working_lightness_u8(px, working_size(*px.shape[-2:], c.size))
    direct = fused.srgb_u8_from_pixels(px, c.predict_ab_small(small)).permute(0, 2, 3, 1).numpy()
    assert np.array_equal(got, direct)
    d = np.abs(got - want)
    assert got.shape == batch.shape and d.max() <= 2 and (d <= 1).mean() >= 0.999
    assert (d > 0).any()  # the two paths are told apart here, so the equality above says which ran


def test_a_gpu_colorizer_keeps_its_color_math_off_the_fused_cpu_kernels(small_checkpoint):
    """Photos arrive in CPU memory whatever the colorizer's device, so the choice must follow the
    colorizer's device, not the pixels'. No GPU here: the colorizer is moved to ``meta``, which
    stands for any device that is not the CPU."""
    c = Colorizer.load(small_checkpoint, device="cpu", fused=True)
    big = torch.zeros(1, 3, 1024, FUSED_MIN_PIXELS // 1024, dtype=torch.uint8)
    assert c._use_fused(big)
    c.device = torch.device("meta")  # what a CUDA colorizer's pixels look like before .to(device)
    assert not c._use_fused(big)


def test_kernel_constants_are_the_color_modules():
    """The kernels carry their own copies of the color constants (numba's cache cannot see a change
    elsewhere): they must be color.py's, and the kernels' matrix and gray table its tables."""
    from huenet import _fused_kernels as K
    from huenet import color

    assert (K._LAB_EPS, K._LAB_KAPPA, K._SRGB_TOE, K._CODE_TOE) == (color._EPS, color._KAPPA, 0.0031308, 0.04045)
    assert torch.equal(torch.tensor([K.WR, K.WG, K.WB]), color._RGB_TO_XYZ[1].float())
    gray = torch.arange(256, dtype=torch.float64) / 255.0
    assert np.allclose(fused._tables()[0], ((color.l_from_gray(gray) + 16) / 116).numpy(), atol=1e-6)
    # the sRGB breakpoints are color.py's (its functions switch there)
    for toe, f in ((K._SRGB_TOE, color.linear_to_srgb), (K._CODE_TOE, color.srgb_to_linear)):
        x = torch.tensor([toe * 0.999, toe * 1.001], dtype=torch.float64)
        lin = (x * 12.92) if f is color.linear_to_srgb else (x / 12.92)
        assert torch.isclose(f(x)[0], lin[0]) and not torch.isclose(f(x)[1], lin[1], rtol=1e-6)


@pytest.fixture
def pillow_blocks():
    """Pillow's block size as the command line sets it (``runtime.tune_pillow``), restored after."""
    from huenet.process import tune_pillow

    before = Image.core.get_block_size()
    assert tune_pillow()
    yield
    Image.core.set_block_size(before)


def _big_photo(tmp_path, size=(1600, 1200), mode="RGB"):
    img = Image.open(sorted((DATA / "bsds500" / "test").glob("*.jpg"))[7]).convert(mode).resize(size, Image.BICUBIC)
    path = tmp_path / f"big_{mode}.jpg"
    img.save(path, quality=92)
    return path


@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_large_photos_are_read_in_place_and_kept_alive(tmp_path, pillow_blocks, mode):
    pytest.importorskip("nanoarrow")
    import gc

    from huenet.images import pixels_view

    img = Image.open(_big_photo(tmp_path, mode=mode))
    img.load()
    want = np.asarray(img).reshape(img.height, img.width, -1).copy()
    view = pixels_view(img)
    assert view.shape == (img.height, img.width, 4 if mode == "RGB" else 1) and not view.flags.writeable
    assert np.array_equal(view[..., : want.shape[2]], want)
    img.paste(0 if mode == "L" else (0, 0, 0), (0, 0, 8, 8))  # the view is Pillow's memory, not a copy
    assert not view[:8, :8, :want.shape[2]].any() and want[:8, :8].any()
    want[:8, :8] = 0
    del img
    gc.collect()
    junk = [np.full(len(want.ravel()), 7, np.uint8) for _ in range(4)]  # reuse freed memory, if it was freed
    assert np.array_equal(view[..., : want.shape[2]], want), "the view outlived the memory it reads"
    del junk
    photo = load_photo(_big_photo(tmp_path, mode=mode))
    assert photo.storage is not None and photo.pixels.shape == (photo.storage.shape[0], photo.storage.shape[1],
                                                                 3 if mode == "RGB" else 1)


def test_photos_pillow_keeps_in_several_blocks_are_copied_as_before(tmp_path):
    pytest.importorskip("nanoarrow")
    from huenet.images import pixels_view

    before = Image.core.get_block_size()
    Image.core.set_block_size(16 << 20)  # Pillow's default, whatever ran before
    try:
        img = Image.open(_big_photo(tmp_path, size=(2400, 1800)))  # 17 MB of RGBX: over one 16 MB block
        img.load()
    finally:
        Image.core.set_block_size(before)
    assert pixels_view(img) is None
    photo = photo_from_pil(img)
    assert photo.storage is None
    assert np.array_equal(photo.pixels, np.asarray(img)) and photo.pixels.flags.c_contiguous


def test_in_place_path_writes_the_same_codes_as_the_copying_one(small_checkpoint, tmp_path, pillow_blocks):
    pytest.importorskip("nanoarrow")
    from huenet.images import Photo

    c = Colorizer.load(small_checkpoint, device="cpu", precision="fp32")
    for mode in ("RGB", "L"):
        photo = load_photo(_big_photo(tmp_path, mode=mode))
        assert photo.storage is not None
        copied = Photo(pixels=np.array(photo.pixels), alpha=None, source="copy", mode=mode)
        px = torch.from_numpy(copied.pixels).permute(2, 0, 1)[None]
        want = c.colorize_rgb(px, as_uint8=True).permute(0, 2, 3, 1)[0].numpy().astype(np.int16)  # tensor in and out
        for p in (photo, copied):
            out = c.colorize_photos([p])[0]
            d = np.abs(np.asarray(out, np.int16) - want)
            # the RGBX rows' L loop is vectorised differently (float sums in another order: 1e-5 L)
            assert out.mode == "RGB" and out.size == photo.size and d.max() <= 1 and (d == 0).mean() > 0.9999


def test_rgbx_images_are_wrapped_without_a_copy_and_save_as_rgb(tmp_path):
    pytest.importorskip("nanoarrow")
    from huenet.images import image_from_rgbx

    rgb = np.asarray(Image.open(sorted((DATA / "bsds500" / "test").glob("*.jpg"))[2]).convert("RGB"))
    rgbx = np.concatenate([rgb, np.full(rgb.shape[:2] + (1,), 255, np.uint8)], axis=2)
    img = image_from_rgbx(rgbx)
    assert img.mode == "RGB" and img.size == (rgb.shape[1], rgb.shape[0]) and np.array_equal(np.asarray(img), rgb)
    img.save(tmp_path / "a.png")
    assert np.array_equal(np.asarray(Image.open(tmp_path / "a.png")), rgb)
    rgbx[0, 0, :3] = (1, 2, 3)  # shared memory
    assert img.getpixel((0, 0)) == (1, 2, 3)
    del rgbx
    import gc

    gc.collect()
    assert img.getpixel((0, 0)) == (1, 2, 3) and np.array_equal(np.asarray(img)[1:], rgb[1:])


def test_pillow_tuning_can_be_turned_off(monkeypatch):
    from huenet.process import tune_pillow

    monkeypatch.setenv("HUENET_PILLOW_TUNING", "0")
    before = Image.core.get_block_size()
    assert not tune_pillow() and Image.core.get_block_size() == before


def test_large_photos_with_alpha_keep_it_on_the_in_place_path(small_checkpoint, tmp_path, pillow_blocks):
    pytest.importorskip("nanoarrow")
    c = Colorizer.load(small_checkpoint, device="cpu", precision="fp32")
    rgb = Image.open(_big_photo(tmp_path))
    alpha = Image.linear_gradient("L").resize(rgb.size)
    rgba = rgb.copy()
    rgba.putalpha(alpha)
    out = c.colorize(rgba)
    assert out.mode == "RGBA" and np.array_equal(np.asarray(out)[..., 3], np.asarray(alpha))
    # the same color as without alpha (that photo is read as RGBX in place: its L sums in another order)
    d = np.abs(np.asarray(out, np.int16)[..., :3] - np.asarray(c.colorize(rgb), np.int16))
    assert d.max() <= 1 and (d == 0).mean() > 0.9999
