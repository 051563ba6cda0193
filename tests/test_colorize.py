"""Colorizing real photos: size and lightness kept, every kind of input handled."""

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import color as skcolor

from huenet.colorize import Colorizer, working_size
from huenet.images import load_photo

from conftest import DATA


@pytest.fixture(scope="module")
def colorizer(small_checkpoint):
    return Colorizer.load(small_checkpoint, device="cpu")


def lightness(img: Image.Image) -> np.ndarray:
    return skcolor.rgb2lab(np.asarray(img.convert("RGB"), dtype=np.float64) / 255.0)[..., 0]


def assert_same_lightness(out: Image.Image, ref_rgb: np.ndarray):
    d = np.abs(lightness(out) - skcolor.rgb2lab(ref_rgb)[..., 0])
    assert d.mean() < 0.3 and np.percentile(d, 99) < 1.0, (d.mean(), np.percentile(d, 99))


def test_colorize_keeps_size_and_lightness_of_real_photos(colorizer, real_photos):
    for path in real_photos:
        img = Image.open(path)
        out = colorizer.colorize(img)
        assert out.size == img.size and out.mode == "RGB"
        assert_same_lightness(out, np.asarray(img.convert("RGB")) / 255.0)
        ab = skcolor.rgb2lab(np.asarray(out) / 255.0)[..., 1:]
        assert np.abs(ab).mean() > 0.2  # the network's colors, not a gray copy (that has ~0.05)


def test_network_runs_at_working_size(colorizer):
    seen = []
    colorizer.network.register_forward_hook(lambda m, i, o: seen.append(tuple(i[0].shape[-2:])))
    colorizer.colorize(Image.open(sorted((DATA / "bsds500" / "test").glob("*.jpg"))[0]))  # 384 x 256 or 256 x 384
    assert seen[-1] in [(256, 384), (384, 256)]
    assert working_size(1000, 500, 256) == (512, 256)
    assert working_size(4, 20000, 256) == (256, 1024)  # extreme strips are squashed to 1:4


@pytest.fixture(scope="module")
def photo_rgb_u8():
    return np.asarray(Image.open(sorted((DATA / "flowers" / "val").rglob("*.jpg"))[5]).convert("RGB"))


def test_modes_gray_16bit_alpha_palette_cmyk(colorizer, photo_rgb_u8, tmp_path):
    rgb = photo_rgb_u8
    gray8 = Image.fromarray(rgb).convert("L")
    cases = {
        "L": gray8,
        "LA": Image.merge("LA", [gray8, Image.new("L", gray8.size, 128)]),
        "I;16": Image.fromarray((np.asarray(gray8).astype(np.uint16) * 257)).convert("I;16"),
        "RGBA": Image.fromarray(np.dstack([rgb, np.full(rgb.shape[:2], 77, np.uint8)]), "RGBA"),
        "P": Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=64),
        "CMYK": Image.fromarray(rgb).convert("CMYK"),
        "1": gray8.convert("1"),
    }
    for mode, img in cases.items():
        path = tmp_path / f"{mode.replace(';', '_')}.{'jpg' if mode == 'CMYK' else 'png'}"
        img.save(path)
        photo = load_photo(path)
        out = colorizer.colorize_photos([photo])[0]
        assert out.size == img.size, mode
        assert_same_lightness(out, photo.rgb.astype(np.float64))
        if mode in ("LA", "RGBA"):
            assert out.mode == "RGBA" and np.asarray(out)[..., 3].min() in (77, 128)
    # 16-bit gray keeps more than 8 bits of lightness on the way in
    assert load_photo(tmp_path / "I_16.png").rgb.dtype == np.float32


def test_exif_rotation_is_honoured(colorizer, photo_rgb_u8, tmp_path):
    img = Image.fromarray(photo_rgb_u8)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW to display
    path = tmp_path / "rotated.jpg"
    img.save(path, exif=exif.tobytes())
    out = colorizer.colorize_file(path)
    assert out.size == (img.height, img.width)


def test_batches_of_mixed_sizes_match_one_by_one(colorizer, real_photos):
    photos = [load_photo(p) for p in real_photos[:5]]
    together = colorizer.colorize_photos(photos, batch_size=4)
    for p, t in zip(photos, together):
        alone = colorizer.colorize_photos([p])[0]
        assert t.size == alone.size
        assert np.abs(np.asarray(t, np.int16) - np.asarray(alone, np.int16)).max() <= 1


def test_numpy_and_tensor_apis(colorizer, photo_rgb_u8):
    out = colorizer.colorize_array(photo_rgb_u8)
    assert out.shape == photo_rgb_u8.shape and out.dtype == np.uint8
    assert np.array_equal(out, np.asarray(colorizer.colorize(Image.fromarray(photo_rgb_u8))))
    gray = photo_rgb_u8.mean(axis=2).astype(np.uint8)
    assert colorizer.colorize_array(gray).shape == gray.shape + (3,)
    # float input: the same photo as the 8-bit one, so the same colors to within a level
    assert np.abs(colorizer.colorize_array(photo_rgb_u8 / 255.0).astype(int) - out).max() <= 1
    batch = np.stack([photo_rgb_u8, photo_rgb_u8[::-1]])
    assert colorizer.colorize_array(batch).shape == batch.shape
    rgb = torch.from_numpy(photo_rgb_u8.copy()).permute(2, 0, 1)[None].float() / 255
    assert colorizer.colorize_rgb(rgb).shape == rgb.shape


def test_banded_full_resolution_path_matches_whole_photo_math(small_checkpoint, real_photos):
    """The 8-bit path works in bands of rows (bounded, reused memory); whatever the band height,
    the result is the whole-photo computation (L, ab resized in one go, the reference color map) to
    within float ties."""
    from huenet.color import l_from_rgb_u8, lab_to_rgb_keep_lightness

    rgb = torch.from_numpy(np.asarray(Image.open(real_photos[0]).convert("RGB")).copy()).permute(2, 0, 1)[None]
    c = Colorizer.load(small_checkpoint, device="cpu", precision="fp32", saturation=3.0)  # some out of gamut
    L = l_from_rgb_u8(rgb)
    lab = torch.cat([L, c.predict_ab(L)], dim=1)
    whole, whole_f = lab_to_rgb_keep_lightness(lab, as_uint8=True), lab_to_rgb_keep_lightness(lab)
    for band_pixels in (1, 7 * rgb.shape[-1] + 5, 1 << 30):  # one row a band, 7 rows, all at once
        c.band_pixels = band_pixels
        diff = (c.colorize_rgb(rgb, as_uint8=True).int() - whole.int()).abs()
        # float ties only (the 1x1 matrix product may sum in another order for another band width)
        assert diff.max() <= 1 and (diff > 0).float().mean() < 1e-3, band_pixels
        # the float path (evaluation, the tensor API) is banded the same way
        assert (c.colorize_rgb(rgb.float() / 255) - whole_f).abs().max() < 1e-4, band_pixels


def test_gray_photos_stay_one_channel_and_match_their_rgb_copies(colorizer, photo_rgb_u8, tmp_path):
    """Old photos are gray: they are kept as one channel (L by one table lookup, a third of the
    memory) and colorize exactly as the same picture stored as RGB with three equal channels."""
    gray = Image.fromarray(photo_rgb_u8).convert("L")
    gray.save(tmp_path / "gray.png")
    gray.convert("RGB").save(tmp_path / "gray-as-rgb.png")
    one, three = load_photo(tmp_path / "gray.png"), load_photo(tmp_path / "gray-as-rgb.png")
    assert one.pixels.shape[2] == 1 and one.gray and three.pixels.shape[2] == 3
    assert np.array_equal(one.u8, three.u8) and one.u8.shape[2] == 3 and np.array_equal(one.rgb, three.rgb)
    a, b = (np.asarray(im).astype(int) for im in colorizer.colorize_photos([one, three]))
    assert np.abs(a - b).max() <= 1 and (a != b).mean() < 1e-3  # L from a table of L vs of Y: float ties
    assert np.abs(a - np.asarray(colorizer.colorize(gray))).max() == 0
    assert_same_lightness(Image.fromarray(a.astype(np.uint8)), one.rgb.astype(np.float64))
    # 16-bit gray and gray with alpha stay one channel too
    Image.fromarray(np.asarray(gray).astype(np.uint16) * 257).convert("I;16").save(tmp_path / "g16.png")
    Image.merge("LA", [gray, Image.new("L", gray.size, 200)]).save(tmp_path / "la.png")
    g16, la = load_photo(tmp_path / "g16.png"), load_photo(tmp_path / "la.png")
    assert g16.pixels.shape[2] == 1 and g16.pixels.dtype == np.float32
    assert la.pixels.shape[2] == 1 and la.alpha is not None and la.alpha.min() == 200


def test_saturation_gain_adds_chroma_and_keeps_lightness(small_checkpoint, photo_rgb_u8, tmp_path):
    img = Image.fromarray(photo_rgb_u8)
    plain = Colorizer.load(small_checkpoint, device="cpu").colorize(img)
    lively = Colorizer.load(small_checkpoint, device="cpu", saturation=2.0).colorize(img)
    chroma = lambda im: np.hypot(*skcolor.rgb2lab(np.asarray(im) / 255.0)[..., 1:].transpose(2, 0, 1)).mean()
    assert chroma(lively) > 1.5 * chroma(plain)
    assert_same_lightness(lively, photo_rgb_u8 / 255.0)
    # a checkpoint may carry its measured gain (its inference table): the default, an option overrides it
    from huenet.checkpoints import load_model, save_checkpoint

    model, _ = load_model(small_checkpoint)
    gained = save_checkpoint(tmp_path / "gained.safetensors", model, meta={"inference": {"saturation": 2.0}})
    assert np.array_equal(np.asarray(Colorizer.load(gained, device="cpu").colorize(img)), np.asarray(lively))
    assert np.array_equal(np.asarray(Colorizer.load(gained, device="cpu", saturation=1.0).colorize(img)), np.asarray(plain))


@pytest.mark.slow
def test_compiled_network_colorizes_like_eager(small_checkpoint, photo_rgb_u8):
    """``compile=True`` (``--compile``) runs the network through torch.compile: same colors."""
    eager = Colorizer.load(small_checkpoint, device="cpu", precision="fp32")
    compiled = Colorizer.load(small_checkpoint, device="cpu", precision="fp32", compile=True)
    assert compiled._net is not compiled.model
    a, b = eager.colorize_array(photo_rgb_u8), compiled.colorize_array(photo_rgb_u8)
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1
    # another size reuses the dynamic-shape graph or compiles again; either way, the same colors
    small = photo_rgb_u8[: photo_rgb_u8.shape[0] // 2]
    assert np.abs(eager.colorize_array(small).astype(int) - compiled.colorize_array(small).astype(int)).max() <= 1


def test_flip_averaging_is_the_mean_of_the_photo_and_its_mirror(small_checkpoint, photo_rgb_u8):
    from huenet.color import l_from_rgb_u8

    plain = Colorizer.load(small_checkpoint, device="cpu", precision="fp32")
    both = Colorizer.load(small_checkpoint, device="cpu", precision="fp32", flip=True)
    assert not plain.flip and both.flip
    L = l_from_rgb_u8(torch.from_numpy(photo_rgb_u8).permute(2, 0, 1)[None])
    expect = (plain.predict_ab_small(L) + plain.predict_ab_small(L.flip(-1)).flip(-1)) / 2
    assert torch.allclose(both.predict_ab_small(L), expect, atol=1e-4)


def test_working_size_and_temperature_come_from_the_checkpoint(bins_checkpoint, small_checkpoint, photo_rgb_u8):
    c = Colorizer.load(bins_checkpoint, device="cpu")
    assert c.size == 256 and c.temperature == 0.5  # no recorded size: 256; T from the config
    c = Colorizer(c.model, device="cpu", meta={**c.meta, "inference": {"size": 160}})
    assert c.size == 160
    img = Image.fromarray(photo_rgb_u8)
    vivid, muted = (np.asarray(c.colorize(img, temperature=t), np.float64) for t in (0.1, 1.0))
    assert np.abs(vivid - muted).mean() > 0.5 and c.temperature == 0.5  # per call, not sticky
    assert_same_lightness(Image.fromarray(vivid.astype(np.uint8)), photo_rgb_u8 / 255.0)
    with pytest.raises(ValueError, match="classification model"):
        Colorizer.load(small_checkpoint, device="cpu", temperature=0.5)
    with pytest.raises(ValueError, match="between"):
        c.colorize(img, temperature=0.0)


def test_bf16_runs_a_copy_with_bf16_parameters_and_the_same_numbers(small_checkpoint):
    """Under bf16 the colorizer runs a copy of the network whose parameters are stored in bf16, so
    autocast has no weights to cast per call; the numbers are autocast's own, and the model the
    caller handed over keeps its fp32 parameters."""
    from huenet.checkpoints import load_model

    model, meta = load_model(small_checkpoint)
    model = model.eval().to(memory_format=torch.channels_last)
    c = Colorizer(model, device="cpu", precision="bf16", meta=meta, size=96)
    assert c.network is not model and all(p.dtype == torch.float32 for p in model.parameters())
    assert all(p.dtype == torch.bfloat16 for p in c.network.parameters())
    img = Image.open(sorted((DATA / "bsds500" / "test").glob("*.jpg"))[4]).convert("L").resize((144, 96))
    L = c.lightness(torch.from_numpy(np.array(img))[None, None])
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        want = model(L.contiguous(memory_format=torch.channels_last)).float()
    got = c.predict_ab_small(L)
    assert got.shape == want.shape == (1, 2, 96, 144) and torch.equal(got, want)


@pytest.mark.parametrize("arch", ["resnet_johnson"])
def test_bf16_copy_keeps_normalisation_layers_as_autocast_wants_them(arch):
    """Networks with normalisation layers (here the residual net's instance norms, as batch norm in
    other colorizers) run under bf16 with the same numbers as plain autocast."""
    from huenet.models import create_model

    torch.manual_seed(0)
    model = create_model(arch, width=8, blocks=1).eval()
    torch.nn.init.normal_(model.head.weight, std=0.05)
    bn = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.Conv2d(4, 2, 1)).eval()
    L = torch.rand(1, 1, 32, 48) * 100
    for net in (model, bn):
        c = Colorizer(net, device="cpu", precision="bf16", size=32)
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
            want = net(L.contiguous(memory_format=torch.channels_last)).float()
        assert torch.equal(c._run_network(L), want)
