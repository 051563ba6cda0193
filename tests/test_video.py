"""Video: clips colorized from the CLI and the API with frame count, rate, size, rotation and audio
kept; temporal stability measured with the warping error; every kind of bad input one clear line.

The clips are short cuts (stream copies, no re-encode) of the real clips in ../shared/data/video.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from conftest import DATA, run_cli

av = pytest.importorskip("av")
pytest.importorskip("cv2")

from huenet.video import (  # noqa: E402
    ColorCarrier, Stability, VideoError, clip_info, consistent, dis_flow, read_frames,
)
from huenet.video_eval import score_clip, warping_errors  # noqa: E402

CLIPS = DATA / "video"


def cut(src: Path, dst: Path, seconds: float) -> Path:
    """The first ``seconds`` of ``src`` by stream copy: video packets (decode order) and audio
    packets whose time stamps fall before the cut; data and other streams left out."""
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        streams = [s for s in inp.streams if s.type in ("video", "audio")]
        omap = {s: out.add_stream_from_template(s) for s in streams}
        for pkt in inp.demux(streams):
            if pkt.dts is None:
                continue
            if float(pkt.dts * pkt.time_base) >= seconds:
                continue
            pkt.stream = omap[pkt.stream]
            out.mux(pkt)
    return dst


def audio_packets(path: Path) -> list[tuple[int, bytes]]:
    with av.open(str(path)) as c:
        if not c.streams.audio:
            return []
        a = c.streams.audio[0]
        return [(int(p.pts * p.time_base * a.rate), bytes(p)) for p in c.demux(a) if p.size]


def frame_count(path: Path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("clips")
    return {
        "dog": cut(CLIPS / "dog_walk.mp4", d / "dog.mp4", 1.0),  # AAC (the data track is not copied by cut)
        "bunny": cut(CLIPS / "animation_bigbuckbunny.mp4", d / "bunny.mp4", 1.0),  # AAC 5.1, real sound
        "flower": cut(CLIPS / "flower_timelapse.webm", d / "flower.webm", 1.0),  # VP8 + Vorbis
        "bikes": cut(CLIPS / "street_bikes.mp4", d / "bikes.mp4", 1.5),  # no audio
    }


@pytest.fixture(scope="module")
def shipped():
    from huenet.colorize import Colorizer

    return Colorizer.load()


def test_cli_colorizes_a_clip_keeping_frames_rate_size_and_audio(clips, small_checkpoint, tmp_path):
    src = clips["bunny"]
    out = tmp_path / "out.mp4"
    r = run_cli("colorize", src, "-o", out, "--model", small_checkpoint)
    assert r.returncode == 0, r.stderr
    a, b = clip_info(src), clip_info(out)
    assert (b.width, b.height, b.rate) == (a.width, a.height, a.rate)
    assert frame_count(out) == frame_count(src) > 10
    assert b.codec == "h264" and b.audio == a.audio == ["aac"]
    assert audio_packets(out) == audio_packets(src)  # copied packet for packet, not re-encoded
    with av.open(str(out)) as c:
        assert c.streams.video[0].codec_context.pix_fmt == "yuv420p"
        assert c.streams.audio[0].channels == 6
    assert "copied unchanged" in r.stderr
    assert not [p for p in tmp_path.iterdir() if p.name != "out.mp4"]  # no temporary file left


@pytest.mark.parametrize("name", sorted(p.name for p in CLIPS.iterdir() if p.suffix in (".mp4", ".webm")))
def test_every_shared_clip_keeps_its_frames_rate_size_and_audio(name, small_checkpoint, tmp_path):
    """The first 0.6 s of each shared clip through the Python API, into the same container."""
    from huenet.colorize import Colorizer

    src = cut(CLIPS / name, tmp_path / f"in{Path(name).suffix}", 0.6)
    out = tmp_path / f"out{Path(name).suffix}"
    r = Colorizer.load(small_checkpoint, size=64).colorize_video(src, out, progress=False)
    a, b = clip_info(src), clip_info(out)
    assert (b.width, b.height, b.rate) == (a.width, a.height, a.rate)
    assert r.frames == frame_count(out) == frame_count(src) > 3
    assert b.audio == a.audio and audio_packets(out) == audio_packets(src)


def test_full_clip_with_a_data_track_keeps_audio_and_every_frame(small_checkpoint, tmp_path):
    """The whole dog_walk.mp4: AAC plus a QuickTime timecode data track; time stamps kept."""
    from huenet.colorize import Colorizer

    src = CLIPS / "dog_walk.mp4"
    c = Colorizer.load(small_checkpoint, size=64)
    r = c.colorize_video(src, tmp_path / "dog.mp4", progress=False)
    assert r.frames == 289 == frame_count(tmp_path / "dog.mp4")
    assert any("data" in n for n in r.notes)
    a, b = clip_info(src), clip_info(tmp_path / "dog.mp4")
    assert b.rate == a.rate == Fraction(30000, 1001) and (b.width, b.height) == (1280, 720)
    assert abs(b.duration_s - a.duration_s) <= 1 / float(a.rate)
    assert audio_packets(tmp_path / "dog.mp4") == audio_packets(src)
    with av.open(str(src)) as i, av.open(str(tmp_path / "dog.mp4")) as o:
        pts_in = sorted(f.pts for f in i.decode(video=0))
        pts_out = sorted(f.pts * f.time_base for f in o.decode(video=0))
        assert [p * i.streams.video[0].time_base for p in pts_in] == pts_out


def test_webm_keeps_vorbis_and_mp4_reencodes_it_with_a_message(clips, small_checkpoint, tmp_path):
    r = run_cli("colorize", clips["flower"], "-o", tmp_path / "f.webm", "--model", small_checkpoint, "--size", "64")
    assert r.returncode == 0, r.stderr
    info = clip_info(tmp_path / "f.webm")
    assert info.codec == "vp9" and info.audio == ["vorbis"]
    assert audio_packets(tmp_path / "f.webm") == audio_packets(clips["flower"])
    r = run_cli("colorize", clips["flower"], "-o", tmp_path / "f.mp4", "--model", small_checkpoint, "--size", "64")
    assert r.returncode == 0, r.stderr
    assert "cannot hold vorbis" in r.stderr and "re-encoded to aac" in r.stderr
    info = clip_info(tmp_path / "f.mp4")
    assert info.codec == "h264" and info.audio == ["aac"]
    assert abs(info.duration_s - clip_info(clips["flower"]).duration_s) < 0.1
    assert frame_count(tmp_path / "f.mp4") == frame_count(clips["flower"])


def test_rotation_is_kept_and_the_network_sees_the_clip_upright(clips, small_checkpoint, tmp_path):
    from huenet.colorize import Colorizer

    src = tmp_path / "rot.mp4"
    frames = list(read_frames(clips["bikes"], limit=6))
    with av.open(str(src), "w") as out:
        s = out.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        s.set_display_rotation(90)
        for f in frames:
            for p in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    assert clip_info(src).rotation == 90
    c = Colorizer.load(small_checkpoint, size=64)
    c.colorize_video(src, tmp_path / "out.mp4", progress=False)
    info = clip_info(tmp_path / "out.mp4")
    assert info.rotation == 90 and (info.width, info.height) == (frames[0].shape[1], frames[0].shape[0])
    # the network's input is upright: the same ab as colorizing the turned frames, turned back
    from huenet.video import network_batches

    b_rot = next(network_batches(c, frames[:2], rotation=90))
    b_up = next(network_batches(c, [np.ascontiguousarray(np.rot90(f)) for f in frames[:2]]))
    np.testing.assert_allclose(b_rot.ab_small, np.rot90(b_up.ab_small, -1, axes=(1, 2)), atol=1e-4)


def test_stability_halves_the_ab_warping_error_on_a_real_clip(clips, shipped):
    """Squirrel (static camera, shaky network colors) and the bikes street scene: stabilized
    against per-frame with the same network output, 24 frames each."""
    for name in ("dog", "bikes"):
        s = score_clip(shipped, clips[name], Stability(0.8), limit=24, progress=False).summary()
        per, stab = s["per-frame"], s["stabilized"]
        assert stab["warp_ab"] < 0.7 * per["warp_ab"], (name, per["warp_ab"], stab["warp_ab"])
        assert stab["auc"] >= per["auc"] - 0.003
        assert s["gray"]["warp_ab"] < 0.05  # ab = 0 does not flicker
        assert s["original"]["warp_ab"] > 0  # measured on the truth too
    off = score_clip(shipped, clips["dog"], Stability(0.0), limit=8, progress=False).summary()
    assert off["stabilized"]["warp_ab"] == pytest.approx(off["per-frame"]["warp_ab"])


def test_warping_error_of_a_shifted_image_is_zero_for_carried_color():
    """A clip of one photo moved 3 px right a frame: color that moves with it has (near) zero
    warping error; color that jumps every frame does not."""
    from PIL import Image

    from huenet.video_eval import _lab

    photo = np.asarray(Image.open(sorted((DATA / "bsds500" / "test").rglob("*.jpg"))[0]).convert("RGB"))
    frames = [np.ascontiguousarray(photo[40:240, 40 - 3 * t:280 - 3 * t]) for t in range(4)]
    rng = np.random.default_rng(0)
    errs, jumpy = [], []
    for t in range(1, 4):
        g0, g1 = (np.asarray(Image.fromarray(f).convert("L")) for f in frames[t - 1:t + 1])
        back, fwd = dis_flow(g1, g0), dis_flow(g0, g1)
        assert np.median(back[..., 0]) == pytest.approx(-3.0, abs=0.1)  # back to where it was: 3 px left
        mask = consistent(back, fwd)
        assert mask.mean() > 0.8
        prev, cur = (frames[t - 1], _lab(frames[t - 1])), (frames[t], _lab(frames[t]))
        errs.append(warping_errors(prev, cur, back, mask))
        tint = np.clip(frames[t].astype(int) + rng.integers(-20, 20, 3), 0, 255).astype(np.uint8)
        jumpy.append(warping_errors(prev, (tint, _lab(tint)), back, mask))
    rgb, ab = np.mean(errs, axis=0)
    assert ab < 0.6 and rgb < 2e-3  # interpolation of a textured photo, not zero to the last digit
    assert np.mean(jumpy, axis=0)[1] > 8 * ab


def test_carrier_follows_motion_and_resets_at_a_cut():
    """Color painted on a moving square goes with it; a different scene starts afresh."""
    h, w = 64, 96
    car = ColorCarrier(Stability(strength=1.0))
    rng = np.random.default_rng(1)
    tex = rng.uniform(20, 80, (h, w)).astype(np.float32)
    L0 = tex.copy()
    ab0 = np.zeros((h, w, 2), np.float32)
    ab0[20:40, 20:40] = (40.0, -30.0)
    car.step(L0, ab0)
    L1 = np.roll(tex, 4, axis=1)  # everything moved 4 px right
    out = car.step(L1, np.zeros_like(ab0))  # the network now says gray: strength 1 keeps the color
    assert out[30, 30 + 4, 0] == pytest.approx(40.0, abs=2) and out[30, 30 + 4, 1] == pytest.approx(-30.0, abs=2)
    assert abs(out[30, 21, 0]) < 5  # where the square was and no longer is: gray
    other = rng.uniform(20, 80, (h, w)).astype(np.float32)  # a cut: nothing tracks
    out = car.step(other, np.zeros_like(ab0))
    assert car.cuts == 1 and np.abs(out).max() == 0


def test_bad_clips_each_get_one_clear_line_and_the_batch_goes_on(clips, small_checkpoint, tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    good = shutil.copy(clips["bikes"], d / "good.mp4")
    data = Path(clips["dog"]).read_bytes()
    (d / "truncated.mp4").write_bytes(data[: len(data) // 2])
    (d / "empty.mp4").write_bytes(b"")
    shutil.copy(sorted((DATA / "bsds500" / "test").rglob("*.jpg"))[0], d / "still.mp4")
    with av.open(str(d / "audio_only.mp4"), "w") as out:  # a file with no video stream
        with av.open(str(clips["dog"])) as inp:
            a = out.add_stream_from_template(inp.streams.audio[0])
            for pkt in inp.demux(inp.streams.audio[0]):
                if pkt.dts is not None:
                    pkt.stream = a
                    out.mux(pkt)
    # an unknown codec: a Matroska file whose codec ID no FFmpeg knows
    mkv = tmp_path / "mpeg4.mkv"
    with av.open(str(mkv), "w") as out:
        s = out.add_stream("mpeg4", rate=25)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        for _ in range(3):
            for p in s.encode(av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="rgb24")):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    raw = mkv.read_bytes()
    assert b"V_MPEG4/ISO/ASP" in raw
    (d / "unknown.mkv").write_bytes(raw.replace(b"V_MPEG4/ISO/ASP", b"V_XXXXX/ISO/ASP"))
    out = tmp_path / "out"
    r = run_cli("colorize", d, "-o", out, "--model", small_checkpoint, "--size", "64")
    assert r.returncode == 1, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("skipped")]
    expect = {"truncated.mp4": "truncated", "empty.mp4": "empty file", "still.mp4": "still image",
              "audio_only.mp4": "no video stream", "unknown.mkv": "codec"}
    for name, words in expect.items():
        mine = [ln for ln in lines if name in ln]
        assert len(mine) == 1 and words in mine[0], (name, lines)
    assert "Traceback" not in r.stderr
    written = sorted(p.name for p in out.rglob("*"))
    assert written == ["good.mp4"], written  # nothing half-written under any name
    assert frame_count(out / "good.mp4") == frame_count(Path(good))


def test_output_that_is_a_folder_or_not_a_video_is_refused(clips, small_checkpoint, tmp_path):
    from huenet.colorize import Colorizer

    c = Colorizer.load(small_checkpoint, size=64)
    (tmp_path / "x.mp4").mkdir()
    with pytest.raises(VideoError, match="is a folder"):
        c.colorize_video(clips["bikes"], tmp_path / "x.mp4")
    with pytest.raises(VideoError, match="cannot write video"):
        c.colorize_video(clips["bikes"], tmp_path / "x.gif")
    with pytest.raises(ValueError, match="WebM holds"):
        c.colorize_video(clips["bikes"], tmp_path / "y.webm", codec="h264")
    r = run_cli("colorize", clips["bikes"], "-o", tmp_path / "x.mp4" / "", "--model", small_checkpoint)
    assert r.returncode == 0, r.stderr  # a folder given as -o: the clip goes inside it, named as the input
    assert (tmp_path / "x.mp4" / "bikes.mp4").is_file()


def test_interrupted_run_leaves_no_file_under_the_final_name(small_checkpoint, tmp_path):
    out = tmp_path / "out.mp4"
    proc = subprocess.Popen([sys.executable, "-m", "huenet.cli", "colorize", str(CLIPS / "squirrel.mp4"), "-o",
                             str(out), "--model", str(small_checkpoint)], stderr=subprocess.PIPE,
                            # a shell that runs the tests in the background hands its children SIGINT
                            # ignored, and Python then installs no KeyboardInterrupt: Ctrl-C as a user has it
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    while time.time() < deadline and not list(tmp_path.glob(".out.part-*.mp4")):
        time.sleep(0.05)
    time.sleep(1.0)
    assert proc.poll() is None, proc.stderr.read().decode()
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=60)
    assert proc.returncode != 0
    assert not out.exists()
    assert not list(tmp_path.iterdir())  # the temporary file is removed too on Ctrl-C


def test_evaluate_reports_rows_for_a_clip(clips, small_checkpoint, tmp_path):
    r = run_cli("evaluate", clips["bikes"], "--model", small_checkpoint, "--out", tmp_path, "--video-frames", "10")
    assert r.returncode == 0, r.stderr
    s = json.loads((tmp_path / "video_summary.json").read_text())
    (clip,) = s["clips"].values()
    assert clip["frames"] == 10
    assert set(clip["rows"]) == {"gray", "per-frame", "stabilized", "original"}
    for row in ("gray", "per-frame", "stabilized"):
        assert 0.5 < clip["rows"][row]["auc"] <= 1 and np.isfinite(clip["rows"][row]["warp_ab"])
    assert "warp" in (tmp_path / "video_report.md").read_text()
