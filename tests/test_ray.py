"""Archive scale on Ray: a local cluster of two worker nodes, one killed partway; every photo
written exactly once, a manifest row for each, a rerun that does nothing; bad files as rows."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import DATA, run_cli

ray = pytest.importorskip("ray")
pytest.importorskip("ray.data")

from huenet.archive.ray import colorize_with_ray, read_manifest  # noqa: E402
from huenet.settings import ColorizerSettings, OutputSettings  # noqa: E402


@pytest.fixture
def photos_200(tmp_path) -> Path:
    src = sorted((DATA / "diverse" / "val").glob("*.jpg"))[::3][:200]
    assert len(src) == 200
    d = tmp_path / "in"
    for i, p in enumerate(src):  # two folders, so the outputs' mirroring is checked too
        (d / f"part{i % 2}").mkdir(parents=True, exist_ok=True)
        shutil.copy(p, d / f"part{i % 2}" / p.name)
    return d


@pytest.mark.slow
def test_two_worker_nodes_one_killed_every_photo_once(photos_200, small_checkpoint, tmp_path):
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    cluster.add_node(num_cpus=1)
    victim = cluster.add_node(num_cpus=1)
    out = tmp_path / "out"
    killed = {}

    def kill_partway():  # once a quarter of the photos are written, the second node goes away
        while len(list(out.rglob("*.jpg"))) < 50:
            time.sleep(0.1)
        cluster.remove_node(victim, allow_graceful=False)
        # what was in place when the node died: a retry that wrote any of these again would
        # rename a new file over it (a new inode)
        killed["inodes"] = {p: p.stat().st_ino for p in out.rglob("*.jpg")}
        killed["at"] = len(killed["inodes"])

    try:
        ray.init(address=cluster.address, logging_level="ERROR", log_to_driver=False)
        spec = ColorizerSettings(model=str(small_checkpoint), size=64, device="cpu")
        t = threading.Thread(target=kill_partway, daemon=True)
        t.start()
        report = colorize_with_ray(spec, [str(photos_200)], str(out), OutputSettings(batch_size=4), actors=2)
        t.join(timeout=60)
        assert 50 <= killed["at"] < 200, killed  # the node really died partway
        assert report.ok and len(report.written) == 200, report.summary()
        written = sorted(p.relative_to(out) for p in out.rglob("*.jpg"))
        assert written == sorted(p.relative_to(photos_200) for p in photos_200.rglob("*.jpg"))
        assert not [p for p in out.rglob("*") if p.name.startswith(".")]  # no temporary file left
        assert {p: p.stat().st_ino for p in killed["inodes"]} == killed["inodes"]  # none written twice
        rows = read_manifest(str(out))
        assert len(rows) == 200 and {r["status"] for r in rows.values()} == {"ok"}
        again = colorize_with_ray(spec, [str(photos_200)], str(out), OutputSettings(batch_size=4))
        assert not again.written and again.done_before == 200
    finally:
        ray.shutdown()
        cluster.shutdown()


@pytest.mark.slow
def test_ray_matches_the_plain_batch_and_reports_bad_files(small_checkpoint, tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    good = sorted((DATA / "bsds500" / "test").glob("*.jpg"))[:4]
    for p in good:
        shutil.copy(p, d / p.name)
    (d / "empty.jpg").write_bytes(b"")
    (d / "random.png").write_bytes(np.random.default_rng(0).bytes(5000))
    (d / "cut.jpg").write_bytes(good[0].read_bytes()[:3000])
    (d / "notes.txt").write_text("not a photo, not looked at in a folder")
    plain = run_cli("colorize", d, "-o", tmp_path / "plain", "--model", small_checkpoint, "--size", "64")
    r = run_cli("colorize", d, "-o", tmp_path / "ray", "--model", small_checkpoint, "--size", "64",
                "--engine", "ray", "--actors", "1")
    assert r.returncode == plain.returncode == 1, r.stderr  # as for the plain batch path: something failed
    for p in good:
        a = np.asarray(Image.open(tmp_path / "plain" / p.name), np.int16)
        b = np.asarray(Image.open(tmp_path / "ray" / p.name), np.int16)
        assert np.abs(a - b).max() <= 1
    rows = read_manifest(str(tmp_path / "ray"))
    assert len(rows) == 7
    bad = {Path(k).name: v["error"] for k, v in rows.items() if v["status"] == "error"}
    assert set(bad) == {"empty.jpg", "random.png", "cut.jpg"}
    assert "empty file" in bad["empty.jpg"] and "truncated" in bad["cut.jpg"]
    # a rerun does nothing new; --retry-failed tries the failures again (and they fail again)
    r2 = run_cli("colorize", d, "-o", tmp_path / "ray", "--model", small_checkpoint, "--engine", "ray")
    assert "0 written" in r2.stderr and "4 already done" in r2.stderr
    r3 = run_cli("colorize", d, "-o", tmp_path / "ray", "--model", small_checkpoint, "--engine", "ray",
                 "--retry-failed")
    assert "0 written, 3 skipped, 4 already done" in r3.stderr


@pytest.mark.slow
def test_fsspec_uris_in_and_out(small_checkpoint, tmp_path):
    """Inputs and outputs given as URIs go through fsspec (file:// here; s3:// and others alike)."""
    d = tmp_path / "in" / "sub"
    d.mkdir(parents=True)
    for p in sorted((DATA / "bsds500" / "test").glob("*.jpg"))[:3]:
        shutil.copy(p, d / p.name)
    out = tmp_path / "out"
    spec = ColorizerSettings(model=str(small_checkpoint), size=64, device="cpu")
    report = colorize_with_ray(spec, [f"file://{tmp_path / 'in'}"], f"file://{out}", actors=1)
    assert report.ok and len(report.written) == 3, report.summary()
    names = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.jpg"))
    assert names == sorted(f"sub/{p.name}" for p in d.iterdir())
    assert all(Image.open(p).size == Image.open(d / p.name).size for p in (out / "sub").iterdir())
    assert not [p for p in out.rglob(".*")]
    rows = read_manifest(f"file://{out}")
    assert len(rows) == 3 and all(r["input"].startswith("file://") for r in rows.values())


@pytest.mark.slow
def test_local_and_ray_engines_write_the_same_files(small_checkpoint, tmp_path):
    """Both engines run the same stages: the same names, formats and transparency (a photo with
    alpha asked for as JPEG becomes PNG, keeping it), the same compare sheets, and the same
    refusal of an output that would replace an input."""
    d = tmp_path / "in"
    d.mkdir()
    srcs = sorted((DATA / "bsds500" / "test").glob("*.jpg"))[:2]
    shutil.copy(srcs[0], d / "plain.jpg")
    rgba = Image.open(srcs[1]).convert("RGBA")
    alpha = np.full(rgba.size[::-1], 255, np.uint8)
    alpha[:40] = 0  # a transparent band at the top
    rgba.putalpha(Image.fromarray(alpha))
    rgba.save(d / "cutout.png")
    for fmt in ("jpg", "png"):
        files = {}
        for engine in ("local", "ray"):
            out = tmp_path / f"{engine}-{fmt}"
            r = run_cli("colorize", d, "-o", out, "--model", small_checkpoint, "--size", "64", "--format", fmt,
                        "--compare", "--engine", engine, *(["--actors", "1"] if engine == "ray" else []))
            assert r.returncode == 0, r.stderr
            files[engine] = {p.relative_to(out).as_posix(): p for p in out.rglob("*")
                             if p.is_file() and not p.name.startswith("huenet-manifest")}
        assert sorted(files["local"]) == sorted(files["ray"]), files
        want = {f"plain.{fmt}", "plain_compare.png", "cutout.png", "cutout_compare.png"}
        assert set(files["local"]) == want
        for name in want:
            a, b = Image.open(files["local"][name]), Image.open(files["ray"][name])
            assert (a.mode, a.size, a.format) == (b.mode, b.size, b.format), name
            assert np.abs(np.asarray(a, np.int16) - np.asarray(b, np.int16)).max() <= 1, name
        kept = np.asarray(Image.open(files["ray"]["cutout.png"]))
        assert kept.shape[-1] == 4 and (kept[:40, :, 3] == 0).all() and (kept[40:, :, 3] == 255).all()
    # an output that would replace an input: the same one-line refusal on both, and the input kept
    before = (d / "plain.jpg").read_bytes()
    lines = {}
    for engine in ("local", "ray"):
        r = run_cli("colorize", d / "plain.jpg", d / "cutout.png", "-o", d, "--model", small_checkpoint, "--size", "64",
                    "--engine", engine, *(["--actors", "1"] if engine == "ray" else []))
        assert r.returncode == 1, r.stderr
        lines[engine] = sorted(ln for ln in r.stderr.splitlines() if "would overwrite an input" in ln)
    assert lines["local"] == lines["ray"] and len(lines["local"]) == 2, lines
    assert (d / "plain.jpg").read_bytes() == before
