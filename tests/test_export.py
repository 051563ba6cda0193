"""ONNX export and the onnxruntime backend, checked against PyTorch on real photos."""

import numpy as np
import pytest

from huenet.checkpoints import load_model
from huenet.colorize import Colorizer
from huenet.export import export_onnx
from huenet.onnx_backend import compare_backends, onnx_metadata

from conftest import DATA, run_cli

# fp32 convolutions summed in another order differ by ~1e-6 relative; ab predictions are at most
# ~|110|, so 1e-2 Lab units is generous for that and still 40x below what one 8-bit RGB level
# can show (~0.4 Lab units).
AB_BOUND = 1e-2


@pytest.fixture(scope="module")
def onnx_file(small_checkpoint, tmp_path_factory):
    model, meta = load_model(small_checkpoint)
    return export_onnx(model, tmp_path_factory.mktemp("onnx") / "model.onnx", meta)


def test_onnxruntime_matches_pytorch_on_real_photos(small_checkpoint, onnx_file, real_photos):
    model, _ = load_model(small_checkpoint)
    diffs = compare_backends(model, onnx_file, real_photos[:4])
    assert len(diffs) == 4
    assert max(d for _, d in diffs) < AB_BOUND, diffs
    assert onnx_metadata(onnx_file)["model"] == "vgg_fusion"


def test_onnx_backend_colorizes_like_torch(small_checkpoint, onnx_file, real_photos):
    torch_c = Colorizer.load(small_checkpoint, device="cpu", precision="fp32")  # as exported
    for c in (Colorizer.load(onnx_file), Colorizer.load(small_checkpoint, backend="onnxruntime")):
        assert c.backend == "onnxruntime"
        from PIL import Image

        for p in real_photos[:2] + [DATA / "flowers" / "val" / "roses" / sorted((DATA / "flowers" / "val" / "roses").iterdir())[0].name]:
            img = Image.open(p)
            a, b = np.asarray(torch_c.colorize(img), np.int16), np.asarray(c.colorize(img), np.int16)
            assert a.shape == b.shape and np.abs(a - b).max() <= 1


def test_export_cli_prints_the_check(small_checkpoint, tmp_path):
    out = tmp_path / "m.onnx"
    r = run_cli("export", "--model", small_checkpoint, "-o", out, "--check", DATA / "bsds500" / "val", "--check-limit", "2")
    assert r.returncode == 0, r.stderr
    assert out.is_file() and "max abs ab difference over 2 photos" in r.stdout
    worst = float(r.stdout.split("photos: ")[1].split()[0])
    assert worst < AB_BOUND
    photos = sorted((DATA / "bsds500" / "val").glob("*.jpg"))[:3]
    r = run_cli("colorize", *photos, "-o", tmp_path / "o", "--model", out)
    assert r.returncode == 0 and len(list((tmp_path / "o").glob("*.jpg"))) == 3


def test_classification_model_exports_with_its_temperature_built_in(bins_checkpoint, tmp_path, real_photos):
    """The smooth head, the 261-bin annealed mean and the restraint all go into the ONNX graph; a
    temperature given at export replaces the model's, and the onnxruntime colorizer refuses another."""

    out = tmp_path / "cls.onnx"
    r = run_cli("export", "--model", bins_checkpoint, "-o", out, "--temperature", "0.3", "--check", *real_photos[:2])
    assert r.returncode == 0, r.stderr
    assert float(r.stdout.split("photos: ")[1].split()[0]) < AB_BOUND
    assert onnx_metadata(out)["config"]["temperature"] == 0.3
    model, _ = load_model(bins_checkpoint)
    model.temperature = 0.3
    diffs = compare_backends(model, out, real_photos[2:4])
    assert max(d for _, d in diffs) < AB_BOUND, diffs
    with pytest.raises(ValueError, match="built in"):
        Colorizer.load(out, temperature=0.5)


def test_a_colorizer_on_an_onnx_runner_refuses_several_scales(onnx_file):
    """The settings refuse scales with backend onnxruntime; a Colorizer built on a runner directly
    (settings that do not say onnx) is held to the same rule."""
    from huenet.errors import SettingsError
    from huenet.onnx_backend import onnx_runner

    meta = onnx_metadata(onnx_file)
    with pytest.raises(SettingsError, match="several scales need the PyTorch backend"):
        Colorizer(None, meta=meta, runner=onnx_runner(onnx_file), scales=(1.0, 2.0))
    assert Colorizer(None, meta=meta, runner=onnx_runner(onnx_file), scales=(1.0,)).scales == (1.0,)
