"""Hostile inputs, faults and untrusted files, through every entry point."""

import io
import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from huenet.checkpoints import load_model
from huenet.data import prepare_pack
from huenet.settings import OutputSettings
from huenet.data import FolderSource

from conftest import DATA, run_cli
from corpus import make_corpus

PHOTO = sorted((DATA / "flowers" / "val" / "tulips").glob("*.jpg"))[2]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus") / "in"
    ok, bad = make_corpus(folder, PHOTO)
    for p in sorted((DATA / "bsds500" / "val").glob("*.jpg"))[:2]:
        shutil.copy(p, folder / p.name)
        ok[p.name] = Image.open(p).size
    yield folder, ok, bad
    os.chmod(folder / "no_permission.jpg", 0o644)


def _snapshot(folder: Path) -> dict:
    out = {}
    for root, dirs, files in os.walk(folder):
        for f in files:
            p = Path(root) / f
            try:
                out[p] = p.read_bytes()
            except PermissionError:
                out[p] = None
    return out


def test_colorize_corpus(corpus, small_checkpoint, tmp_path):
    folder, ok, bad = corpus
    before = _snapshot(folder)
    out = tmp_path / "out"
    r = run_cli("colorize", folder, "-o", out, "--model", small_checkpoint)
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("skipped")]
    assert len(lines) == len(bad), r.stderr
    for name, word in bad.items():
        assert any(name in ln and word in ln.lower() for ln in lines), (name, word, lines)
    for name, size in ok.items():
        stem = Path(name).stem
        written = [p for p in out.iterdir() if p.stem == stem]
        assert len(written) == 1, (name, list(out.iterdir()))
        assert Image.open(written[0]).size == size, name
    assert f"{len(ok)} written, {len(bad)} skipped" in r.stderr
    assert _snapshot(folder) == before  # nothing overwritten
    assert Image.open(out / "rgba.png").mode == "RGBA"


def test_batch_codec_thread_and_chunking_change_nothing_but_time(corpus, small_checkpoint, tmp_path):
    """Decoding/encoding in a thread beside the model, and chunks cut by pixel count, write the same
    files and report the same problems in the same order as doing it all in one thread."""
    import huenet.archive.local as batch
    from huenet.colorize import Colorizer

    folder, ok, bad = corpus
    c = Colorizer.load(small_checkpoint, device="cpu")
    runs = {}
    for io_thread in (False, True):
        out = tmp_path / f"out-{io_thread}"
        # a few photos a chunk: several chunks in this folder
        report = batch.colorize_files(c, [folder], out, OutputSettings(batch_size=3), progress=False, io_thread=io_thread,
                                      chunk_pixels=300_000, log=io.StringIO())
        runs[io_thread] = (report, {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()})
    (r0, files0), (r1, files1) = runs[False], runs[True]
    assert r0.failed == r1.failed and len(r0.failed) == len(bad)
    assert [p.name for p in r0.written] == [p.name for p in r1.written] and len(r0.written) == len(ok)
    assert files0 == files1 and len(files0) == len(ok)


def test_prepare_and_training_data_path_skip_bad_files(corpus, tmp_path):
    folder, ok, bad = corpus
    report = prepare_pack([folder], tmp_path / "pack", size=32, workers=2, progress=False)
    skipped = {Path(p).name for p, _ in report.skipped}
    assert set(bad) <= skipped
    assert report.counts["train"] >= len(ok) - 4  # near-gray ones (1x1, bilevel, gray) are skipped too
    source = FolderSource(sorted(p for p in folder.rglob("*") if p.is_file()), 32, workers=2)
    lists = [list(range(i, min(i + 4, len(source)))) for i in range(0, len(source), 4)]
    kept = sum(len(k) for k, u8 in source.batches(lists))
    assert source.skipped == len(bad) and kept == len(source) - len(bad)


def test_evaluate_skips_bad_files(corpus, small_checkpoint, tmp_path):
    folder, ok, bad = corpus
    r = run_cli("evaluate", folder, "--model", small_checkpoint, "--out", tmp_path / "ev")
    assert r.returncode == 0, r.stderr
    assert f"{len(bad)} skipped" in r.stdout and "Traceback" not in r.stderr


def test_api_answers_each_bad_file_with_a_4xx(corpus, small_checkpoint):
    from fastapi.testclient import TestClient

    from huenet.colorize import Colorizer
    from huenet.web.app import create_app

    folder, ok, bad = corpus
    client = TestClient(create_app(Colorizer.load(small_checkpoint, device="cpu")), raise_server_exceptions=False)
    expected = {"zero.jpg": 415, "truncated.jpg": 422, "truncated.png": 422, "random.jpg": 415, "page.png": 415,
                "bomb.png": 413}
    for name, code in expected.items():
        r = client.post("/api/colorize", files={"file": (name, (folder / name).read_bytes())})
        assert r.status_code == code, (name, r.status_code, r.text)
    for name in ["gray16.png", "cmyk.jpg", "palette_transparent.png", "rotated.jpg", "animated.gif", "strip.png"]:
        r = client.post("/api/colorize", files={"file": (name, (folder / name).read_bytes())})
        assert r.status_code == 200 and Image.open(io.BytesIO(r.content)).size == ok[name], name
    assert client.get("/api/health").status_code == 200


def test_pixel_limit_is_a_setting(small_checkpoint, tmp_path):
    out = tmp_path / "o.png"
    r = run_cli("colorize", PHOTO, "-o", out, "--model", small_checkpoint, "--max-pixels", "1000")
    assert r.returncode == 1 and "exceeds the limit of 1,000 pixels" in r.stderr
    r = run_cli("colorize", PHOTO, "-o", out, "--model", small_checkpoint, "--max-pixels", "10000000")
    assert r.returncode == 0


def test_unwritable_output_is_a_clear_error(small_checkpoint, tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("I am a file, not a folder")
    r = run_cli("colorize", PHOTO, "-o", blocker / "out", "--model", small_checkpoint)
    assert r.returncode != 0 and "Traceback" not in r.stderr and "file.txt" in r.stderr


def _limit_file_size(limit: int):
    def apply():
        import signal

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_disk_full_keeps_the_last_good_checkpoint(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for p in sorted((DATA / "flowers" / "train" / "daisy").glob("*.jpg"))[:16]:
        shutil.copy(p, photos / p.name)
    recipe = tmp_path / "r.toml"
    recipe.write_text('[model]\nencoder = "vgg16"\nwidth = 0.125\n[train]\nsamples = 0\nprogress = false\n'
                      'batch_size = 8\nsize = 32\nworkers = 0\nval_fraction = 0.0\n')
    run = tmp_path / "run"
    r = run_cli("train", "--config", recipe, "--data", photos, "--out", run, "--epochs", "1", "--device", "cpu")
    assert r.returncode == 0, r.stderr
    last = run / "checkpoints" / "last.safetensors"
    good = last.read_bytes()
    proc = subprocess.run([sys.executable, "-m", "huenet.cli", "train", "--resume", str(run), "--epochs", "2"],
                          capture_output=True, text=True, preexec_fn=_limit_file_size(200_000))
    assert proc.returncode != 0
    assert "cannot write checkpoint" in proc.stderr and "last good checkpoint" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert last.read_bytes() == good
    load_model(last)


def test_crafted_pickle_checkpoint_is_refused(tmp_path, small_checkpoint):
    marker = tmp_path / "ran"
    payload = (b"\x80\x04\x95" + b"\x00" * 8 + b"cos\nsystem\n(V" + f"touch {marker}".encode() + b"\ntR.")
    bad = tmp_path / "model.safetensors"
    bad.write_bytes(payload)
    r = run_cli("colorize", PHOTO, "-o", tmp_path / "o.png", "--model", bad)
    assert r.returncode == 2 and "pickle" in r.stderr and not marker.exists()
    pth = tmp_path / "weights.pth"
    pth.write_bytes(payload)
    r = run_cli("info", "--model", pth)
    assert r.returncode == 2 and not marker.exists()
