"""Video throughput and memory (issue 17), in one run:

1. frames/s at 640x480 through ``colorize_video`` (decode + network + color + H.264 encode), with
   and without temporal stability, repeats interleaved, medians; the same frames as photos through
   ``Colorizer.colorize_photos`` (no codec) at the same working size; and the carrier's own cost
   (network + carrier against network alone, no codec), so the 25% budget is seen both ways;
2. peak RSS of ``huenet colorize`` on a generated 3,000-frame clip against a 100-frame clip.

The test clip is the shared squirrel.mp4 (1280x720), centre-cropped to 4:3 and resized to 640x480.

    python benchmarks/bench_video.py [--repeats 3] [--frames 100] [--skip-memory]

Run it when nothing else (no training) is running on the machine: it says what else it saw.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import header, other_load, table  # noqa: E402

import av  # noqa: E402
import cv2  # noqa: E402

from huenet.colorize import Colorizer  # noqa: E402
from huenet.images import Photo  # noqa: E402
from huenet.video import ColorCarrier, Stability, colorize_video, network_batches, read_frames  # noqa: E402

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def make_clip(path: Path, frames: int, size: tuple[int, int], preset: str = "veryfast") -> Path:
    """``frames`` frames of squirrel.mp4 (looped), 4:3 centre crop resized to ``size`` (w, h), H.264."""
    src = [f for f in read_frames(SHARED / "video" / "squirrel.mp4")]
    h, w = src[0].shape[:2]
    cw = h * 4 // 3
    src = [cv2.resize(f[:, (w - cw) // 2:(w + cw) // 2], size, interpolation=cv2.INTER_AREA) for f in src]
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = size[0], size[1], "yuv420p"
        s.options = {"crf": "18", "preset": preset}
        for i in range(frames):
            k = i % (2 * len(src) - 2)  # back and forth: no jump at the loop point
            f = src[k if k < len(src) else 2 * len(src) - 2 - k]
            for p in s.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    return path


def peak_rss_mb(args: list[str]) -> tuple[float, float]:
    """(peak RSS in MB, seconds) of a command, measured in a wrapper process that runs only it."""
    code = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
            "r = subprocess.run(sys.argv[1:]); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, time.perf_counter() - t, r.returncode)")
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    kb, secs, rc = out.stdout.split()[-3:]
    if rc != "0":
        raise RuntimeError(out.stderr[-2000:])
    return int(kb) / 1024, float(secs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--frames", type=int, default=100)
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--model", default=None)
    args = ap.parse_args()
    from huenet.process import tune_allocator

    tune_allocator()  # as the CLI does
    c = Colorizer.load(args.model)
    print(header(f"Video throughput at 640x480 (working size {c.size}, {c.precision})"))
    print(f"other load seen at the start: {other_load()}")
    tmp = Path(tempfile.mkdtemp(prefix="bench_video_"))
    clip = make_clip(tmp / "clip640x480.mp4", args.frames, (640, 480))
    frames = list(read_frames(clip))
    n = len(frames)

    def video(strength: float) -> float:
        t0 = time.perf_counter()
        colorize_video(c, clip, tmp / "out.mp4", stability=Stability(strength), progress=False)
        return time.perf_counter() - t0

    def photos() -> float:
        ps = [Photo(f, None, "frame", "RGB") for f in frames]
        t0 = time.perf_counter()
        for i in range(0, n, 8):
            c.colorize_photos(ps[i:i + 8])
        return time.perf_counter() - t0

    def network(strength: float | None) -> float:
        carrier = ColorCarrier(Stability(strength or 0.0))
        t0 = time.perf_counter()
        for b in network_batches(c, frames):
            if strength:
                for i in range(len(b.frames)):
                    carrier.step(b.L_small[i], b.ab_small[i])
        return time.perf_counter() - t0

    runs = {"video, stability off": lambda: video(0.0), "video, stability 0.9 (default)": lambda: video(0.9),
            "photos (same frames, no codec)": photos, "network only (no codec)": lambda: network(None),
            "network + carrier (no codec)": lambda: network(0.9)}
    video(0.9)  # warm-up: first calls, encoder start
    times = {k: [] for k in runs}
    for _ in range(args.repeats):  # interleaved, so drift in machine speed hits every row alike
        for k, fn in runs.items():
            times[k].append(fn())
    med = {k: statistics.median(v) for k, v in times.items()}
    rows = [{"what": k, "frames/s": f"{n / v:.2f}", "ms/frame": f"{1000 * v / n:.1f}",
             "runs (s)": " ".join(f"{t:.2f}" for t in times[k])} for k, v in med.items()]
    print(f"\n{n} frames, {args.repeats} runs each, interleaved; medians\n")
    print(table(rows, ["what", "frames/s", "ms/frame", "runs (s)"]))
    cost_video = med["video, stability 0.9 (default)"] / med["video, stability off"] - 1
    cost_net = med["network + carrier (no codec)"] / med["network only (no codec)"] - 1
    print(f"\nstability costs {100 * cost_video:+.1f}% end to end, {100 * cost_net:+.1f}% of network-only time; "
          f"video without stability runs at {med['photos (same frames, no codec)'] / med['video, stability off']:.2f}x "
          "the photos' frames/s (decode + encode are the difference)")

    if not args.skip_memory:
        print("\n## Peak memory of `huenet colorize` on a long clip (320x240, stability on)\n")
        mrows = []
        for frames_n in (100, 3000):
            path = make_clip(tmp / f"long{frames_n}.mp4", frames_n, (320, 240), preset="ultrafast")
            rss, secs = peak_rss_mb([sys.executable, "-m", "huenet.cli", "colorize", str(path), "-o",
                                     str(tmp / f"out{frames_n}.mp4")] + (["--model", args.model] if args.model else []))
            mrows.append({"frames": frames_n, "peak RSS (MB)": f"{rss:.0f}", "seconds": f"{secs:.1f}",
                          "frames/s": f"{frames_n / secs:.1f}"})
        print(table(mrows, ["frames", "peak RSS (MB)", "seconds", "frames/s"]))
        print(f"\n3,000 / 100 frames peak RSS: {float(mrows[1]['peak RSS (MB)']) / float(mrows[0]['peak RSS (MB)']):.2f}x")
    print(f"\nother load seen at the end: {other_load()}")


if __name__ == "__main__":
    main()
