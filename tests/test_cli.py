"""The command line as a user runs it: a fresh process per command."""

import shutil

import pytest

import numpy as np
from PIL import Image
from skimage import color as skcolor

from conftest import DATA, run_cli


def test_colorize_one_photo_keeps_size_and_lightness(small_checkpoint, tmp_path):
    src = sorted((DATA / "bsds500" / "test").glob("*.jpg"))[3]
    out = tmp_path / "out.png"
    r = run_cli("colorize", src, "-o", out, "--model", small_checkpoint)
    assert r.returncode == 0, r.stderr
    a, b = Image.open(src).convert("RGB"), Image.open(out)
    assert a.size == b.size
    La = skcolor.rgb2lab(np.asarray(a) / 255.0)[..., 0]
    Lb = skcolor.rgb2lab(np.asarray(b) / 255.0)[..., 0]
    assert np.abs(La - Lb).mean() < 0.3


def test_folder_is_mirrored_bad_files_skipped_and_reported(small_checkpoint, tmp_path):
    src = tmp_path / "scans"
    good = sorted((DATA / "flowers" / "val").rglob("*.jpg"))[:3]
    (src / "a" / "b").mkdir(parents=True)
    shutil.copy(good[0], src / "one.jpg")
    shutil.copy(good[1], src / "a" / "two.jpg")
    shutil.copy(good[2], src / "a" / "b" / "three.jpg")
    (src / "empty.jpg").write_bytes(b"")
    (src / "noise.jpg").write_bytes(np.random.default_rng(0).bytes(2000))
    (src / "a" / "truncated.jpg").write_bytes(good[0].read_bytes()[:3000])
    (src / "photo.jpg").mkdir()  # a folder with an image's name
    out = tmp_path / "out"
    r = run_cli("colorize", src, "-o", out, "--model", small_checkpoint, "--compare")
    assert r.returncode == 1
    for rel in ["one.jpg", "a/two.jpg", "a/b/three.jpg"]:
        assert Image.open(out / rel).size == Image.open(src / rel).size
        assert (out / rel).with_name((out / rel).stem + "_compare.png").is_file()
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("skipped")]
    assert len(lines) == 3, r.stderr  # empty, noise, truncated (the folder 'photo.jpg' is no file)
    assert any("empty.jpg" in ln and "empty" in ln for ln in lines)
    assert any("noise.jpg" in ln and "not an image" in ln for ln in lines)
    assert any("truncated.jpg" in ln for ln in lines)
    assert "3 written, 3 skipped" in r.stderr and "Traceback" not in r.stderr
    triptych = Image.open(out / "one_compare.png")
    assert triptych.width > 3 * Image.open(src / "one.jpg").width


def test_glob_input_and_never_overwrite(small_checkpoint, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for p in sorted((DATA / "bsds500" / "val").glob("*.jpg"))[:2]:
        shutil.copy(p, src / p.name)
    before = {p.name: p.read_bytes() for p in src.iterdir()}
    r = run_cli("colorize", f"{src}/*.jpg", "-o", src, "--model", small_checkpoint)
    assert r.returncode == 1 and "would overwrite an input" in r.stderr
    assert {p.name: p.read_bytes() for p in src.iterdir()} == before
    r = run_cli("colorize", f"{src}/*.jpg", "-o", tmp_path / "out", "--format", "png", "--model", small_checkpoint)
    assert r.returncode == 0 and len(list((tmp_path / "out").glob("*.png"))) == 2


def test_missing_model_and_missing_input_are_one_line_errors(tmp_path, small_checkpoint):
    r = run_cli("colorize", DATA / "bsds500" / "test", "-o", tmp_path, "--model", tmp_path / "nope.safetensors")
    assert r.returncode == 2 and "nope.safetensors" in r.stderr and "Traceback" not in r.stderr
    r = run_cli("colorize", tmp_path / "nothing.jpg", "-o", tmp_path / "o", "--model", small_checkpoint)
    assert r.returncode == 1 and "nothing.jpg: no such file" in r.stderr


def test_info_prints_the_design_parameter_count():
    r = run_cli("info", "--arch", "vgg_fusion", "--encoder", "vgg19")
    assert r.returncode == 0 and "23,694,018" in r.stdout and "23.69 M" in r.stdout


def test_checkpoints_of_each_kind_colorize_from_the_command_line(tmp_path):
    """The seed's head, the smooth head, the classification head and the residual net, as
    `huenet colorize --model` meets them; --temperature only where there is a distribution."""
    import torch

    from huenet.checkpoints import save_checkpoint
    from huenet.models import create_model

    kinds = {
        "convt": ("vgg_fusion", {"encoder": "vgg16", "width": 0.125}),
        "smooth": ("vgg_fusion", {"encoder": "vgg16", "width": 0.125, "head": "smooth", "head_stride": 8}),
        "bins": ("vgg_fusion", {"encoder": "vgg16", "width": 0.125, "head": "smooth", "head_stride": 4,
                                "output": "bins", "temperature": 0.5}),
        "resnet": ("resnet_johnson", {"width": 8, "blocks": 2}),
    }
    src = sorted((DATA / "bsds500" / "test").glob("*.jpg"))[5]
    size = Image.open(src).size
    for kind, (name, cfg) in kinds.items():
        torch.manual_seed(0)
        model = create_model(name, cfg)
        last = model.head if isinstance(model.head, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)) else model.head[-1]
        torch.nn.init.normal_(last.weight, std=0.05)
        ckpt = save_checkpoint(tmp_path / f"{kind}.safetensors", model)
        extra = ["--temperature", "0.3"] if kind == "bins" else []
        r = run_cli("colorize", src, "-o", tmp_path / f"{kind}.png", "--model", ckpt, *extra)
        assert r.returncode == 0, (kind, r.stderr)
        assert Image.open(tmp_path / f"{kind}.png").size == size
    r = run_cli("colorize", src, "-o", tmp_path / "x.png", "--model", tmp_path / "convt.safetensors", "--temperature", "0.3")
    assert r.returncode == 2 and "classification model" in r.stderr and "Traceback" not in r.stderr
    r = run_cli("info", "--model", tmp_path / "bins.safetensors")
    assert r.returncode == 0 and "temperature" in r.stdout


def test_png_level_trades_time_for_bytes_and_keeps_pixels(small_checkpoint, tmp_path):
    src = sorted((DATA / "bsds500" / "test").glob("*.jpg"))[2]
    sizes, pixels = {}, {}
    for level in ("1", "9"):
        out = tmp_path / f"l{level}.png"
        r = run_cli("colorize", src, "-o", out, "--model", small_checkpoint, "--png-level", level)
        assert r.returncode == 0, r.stderr
        sizes[level], pixels[level] = out.stat().st_size, np.asarray(Image.open(out))
    assert np.array_equal(pixels["1"], pixels["9"])  # lossless either way
    assert sizes["9"] <= sizes["1"]
    r = run_cli("colorize", src, "-o", tmp_path / "x.png", "--model", small_checkpoint, "--png-level", "12")
    assert r.returncode == 2 and "png-level" in r.stderr


# -- options that go together, and those that cannot (issue 27: refused in one line, never ignored) --


def _photo(tmp_path, name="p.jpg"):
    src = sorted((DATA / "bsds500" / "test").glob("*.jpg"))[3]
    shutil.copy(src, tmp_path / name)
    return tmp_path / name


def test_hints_with_onnxruntime_and_compare_are_honored(small_checkpoint, tmp_path):
    """A hint runs on the backend asked for (the network exported to ONNX in memory) and --compare
    writes its sheet: the hinted pixel takes the hint's color on both backends alike."""
    pytest.importorskip("onnxruntime")
    photo = _photo(tmp_path)
    outs = {}
    for backend in ("torch", "onnxruntime"):
        out = tmp_path / f"{backend}.png"
        r = run_cli("colorize", photo, "-o", out, "--model", small_checkpoint, "--size", "64", "--backend", backend,
                    "--hint", "100,80,#d02020,6", "--compare")
        assert r.returncode == 0, r.stderr
        outs[backend] = np.asarray(Image.open(out).convert("RGB"), np.int16)
        sheet = Image.open(tmp_path / f"{backend}_compare.png")
        assert sheet.width > 2 * Image.open(photo).width  # Input | Predicted | Original
    assert np.abs(outs["torch"] - outs["onnxruntime"]).mean() < 1.0
    a_star = skcolor.rgb2lab(outs["onnxruntime"][78:83, 98:103] / 255.0)[..., 1].mean()
    assert a_star > 20, a_star  # the red hint (a* ~ +65) holds where it was put


def test_combinations_that_cannot_be_honored_are_refused(small_checkpoint, tmp_path):
    photo = _photo(tmp_path)
    clip = sorted((DATA / "video").glob("*.mp4"))[0]
    refused = {
        ("--hint", "10,10,#ff0000", "--engine", "ray"): "--engine ray",
        ("--hint", "10,10,#ff0000", "--format", "jpg"): "--format",
        ("--scales", "1", "2", "--backend", "onnxruntime"): "several scales need the PyTorch backend",
        ("--temperature", "20"): "temperature must be between 0.01 and 10",
    }
    for extra, words in refused.items():
        r = run_cli("colorize", photo, "-o", tmp_path / "o.png", "--model", small_checkpoint, *extra)
        assert r.returncode == 2 and words in r.stderr and len(r.stderr.strip().splitlines()) == 1, (extra, r.stderr)
        assert not (tmp_path / "o.png").exists()
    r = run_cli("colorize", clip, "-o", tmp_path / "o", "--model", small_checkpoint, "--engine", "ray")
    assert r.returncode == 2 and "video" in r.stderr, r.stderr


def test_compare_on_a_gray_photo_leaves_out_the_original(small_checkpoint, tmp_path):
    """A black-and-white photo has no 'Original' to show: the sheet is Input | Predicted."""
    gray, scan = tmp_path / "gray.png", tmp_path / "scan.png"  # one channel; a gray scan saved as RGB
    Image.open(_photo(tmp_path)).convert("L").save(gray)
    Image.open(gray).convert("RGB").save(scan)
    color = _photo(tmp_path, "color.jpg")
    r = run_cli("colorize", gray, scan, color, "-o", tmp_path / "out", "--model", small_checkpoint, "--compare")
    assert r.returncode == 0, r.stderr
    w = Image.open(gray).width
    sheets = {n: Image.open(tmp_path / "out" / f"{n}_compare.png").width for n in ("gray", "scan", "color")}
    assert 2 * w <= sheets["gray"] == sheets["scan"] < 3 * w <= sheets["color"], sheets


def test_an_internal_error_is_named_and_shows_its_traceback_under_huenet_debug(tmp_path):
    """A bug (here: a metrics row without a step) is not passed off as the user's mistake: exit 1,
    'internal error', and HUENET_DEBUG=1 shows where it happened."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text('{"train_loss": 0.5}\n')
    r = run_cli("plot", run)
    assert r.returncode == 1 and "internal error (KeyError: 'step')" in r.stderr and "HUENET_DEBUG=1" in r.stderr
    assert "Traceback" not in r.stderr
    r = run_cli("plot", run, env={"HUENET_DEBUG": "1"})
    assert r.returncode == 1 and "Traceback" in r.stderr and "figures.py" in r.stderr


def test_help_answers_without_importing_torch():
    import subprocess
    import sys

    code = "import sys; from huenet.cli import build_parser; build_parser(); print('torch' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.stdout.strip() == "False", r.stderr
    r = run_cli("colorize", "--help")
    assert r.returncode == 0 and "(default 8)" in r.stdout and "default auto" in r.stdout
