"""Inference options of issue 25: logits averaged over working sizes, and uniform frames kept gray."""

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

from huenet.borders import frame_box
from huenet.checkpoints import load_model
from huenet.color import rgb_to_lab
from huenet.colorize import Colorizer

from conftest import DATA, run_cli


def lab(img: Image.Image) -> torch.Tensor:
    return rgb_to_lab(torch.from_numpy(np.asarray(img.convert("RGB"))).permute(2, 0, 1)[None].float() / 255)[0]


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    return Image.open(sorted((DATA / "bsds500" / "test").glob("*.jpg"))[5]).convert("RGB")


def test_multi_scale_is_the_mean_of_the_logits(bins_checkpoint):
    model, _ = load_model(bins_checkpoint)
    L = torch.rand(1, 1, 96, 128) * 100
    with torch.no_grad():
        same = model(L, others=[L])  # the same size twice: the mean of equal logits is those logits
        single = model(L)
        big = torch.nn.functional.interpolate(L, scale_factor=2.0, mode="bilinear", align_corners=False)
        raw = (model.raw(L) + torch.nn.functional.interpolate(model.raw(big), size=(24, 32), mode="bilinear",
                                                             align_corners=False)) / 2
        by_hand = torch.nn.functional.interpolate(model.decode(raw), size=(96, 128), mode="bilinear",
                                                  align_corners=False)
        two = model(L, others=[big])
    assert torch.allclose(same, single, atol=1e-4)
    assert torch.allclose(two, by_hand, atol=1e-4) and not torch.allclose(two, single, atol=1e-2)


def test_colorizer_scales_see_the_photo_at_each_size(bins_checkpoint, photo):
    one = Colorizer.load(bins_checkpoint, size=64, precision="fp32", device="cpu")
    two = Colorizer.load(bins_checkpoint, size=64, precision="fp32", device="cpu", scales=(1, 2), flip=True)
    assert two.scale_sizes() == [128] and one.scale_sizes() == []
    seen = []
    hook = two.network.encoder.features[0].register_forward_pre_hook(lambda m, args: seen.append(tuple(args[0].shape)))
    gray = photo.convert("L")
    out = two.colorize(gray)
    hook.remove()
    h, w = photo.height, photo.width
    # the network ran on the photo and its mirror image at both working sizes (padded to 1/32)
    short = [min(s[-2:]) for s in seen]
    assert [s[0] for s in seen] == [2, 2] and short == [64, 128], seen
    a = lab(out)
    assert a.shape[-2:] == (h, w) and (a[0] - lab(gray)[0]).abs().max() < 0.5  # the photo's own L
    with pytest.raises(ValueError, match="scales start with 1"):
        Colorizer.load(bins_checkpoint, scales=(2, 1))


def test_onnx_refuses_several_scales(bins_checkpoint, tmp_path):
    pytest.importorskip("onnxruntime")
    out = tmp_path / "m.onnx"
    r = run_cli("export", "--model", bins_checkpoint, "-o", out)
    assert r.returncode == 0, r.stderr
    assert Colorizer.load(out).scales == (1.0,)
    with pytest.raises(ValueError, match="PyTorch backend"):
        Colorizer.load(out, scales=(1, 2))


def test_frame_box_finds_a_white_scan_frame_and_nothing_on_plain_photos(photo):
    framed = ImageOps.expand(photo, border=(40, 30), fill=(247, 246, 244))
    small = framed.convert("L").resize((framed.width * 128 // framed.height, 128), Image.BILINEAR)
    L = torch.from_numpy(np.asarray(small, dtype=np.float32)) / 2.55
    box = frame_box(L)
    assert box is not None
    t, b, left, r = box
    sy, sx = 128 / framed.height, small.width / framed.width
    assert abs(t - 30 * sy) <= 2 and abs(b - (30 + photo.height) * sy) <= 2
    assert abs(left - 40 * sx) <= 2 and abs(r - (40 + photo.width) * sx) <= 2
    for p in sorted((DATA / "bsds500" / "test").glob("*.jpg"))[:12]:  # landscapes, animals, people: no frames
        im = Image.open(p).convert("L")
        im = im.resize((round(im.width * 128 / min(im.size)), round(im.height * 128 / min(im.size))), Image.BILINEAR)
        assert frame_box(torch.from_numpy(np.asarray(im, dtype=np.float32)) / 2.55) is None, p.name


def test_framed_photo_keeps_a_gray_frame_and_the_pictures_colors(photo):
    """A scan frame neither gets a color nor changes the picture's: the inside comes out as the
    unframed photo does (the network sees it at the same scale), the frame stays neutral."""
    c = Colorizer.load(precision="fp32", device="cpu")  # the shipped weights
    framed = ImageOps.expand(photo.convert("L"), border=(90, 60), fill=250)
    plain = lab(c.colorize(photo.convert("L")))
    out = lab(c.colorize(framed))
    inside = out[:, 60:60 + photo.height, 90:90 + photo.width]
    frame = torch.cat([out[1:, :50].flatten(1), out[1:, -50:].flatten(1)], 1)
    assert frame.norm(dim=0).max() < 1.0  # gray: a, b ~ 0
    moved = (inside[1:] - plain[1:]).norm(dim=0)[8:-8, 8:-8].mean()
    off = lab(Colorizer.load(precision="fp32", device="cpu", crop_borders=False).colorize(framed))
    moved_off = (off[1:, 60:60 + photo.height, 90:90 + photo.width] - plain[1:]).norm(dim=0)[8:-8, 8:-8].mean()
    assert moved < 2.0 and moved < moved_off / 2, (moved, moved_off)
