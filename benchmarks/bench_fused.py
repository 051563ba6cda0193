"""The fused full-resolution color path (fused.py, numba) against the tensor path, in one run
(issue 14, item 1): the color stage alone (ab upsampling, Lab -> 8-bit sRGB, gamut mapping) on a
12 MP photo, and `Colorizer.colorize` end to end on a 256x256 and a 12 MP photo (gray and color),
repeats interleaved, medians; then `huenet colorize` with a 12 MP JPEG in and out (fresh process).

    python benchmarks/bench_fused.py [--repeats 7]

Run it when nothing else (no training) is running on the machine.
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
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from common import header, table  # noqa: E402

from huenet.colorize import Colorizer  # noqa: E402
from huenet.fused import fused_srgb_u8  # noqa: E402

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--tune-malloc", action="store_true", help="apply huenet.runtime.tune_allocator() as the CLI does")
    args = ap.parse_args()
    if args.tune_malloc:
        from huenet.runtime import tune_allocator

        tune_allocator()
    src = sorted((SHARED / "bsds500" / "test").glob("*.jpg"))[0]
    color12 = Image.open(src).convert("RGB").resize((4000, 3000), Image.BICUBIC)
    photos = {"256x256 gray": Image.open(src).convert("L").resize((256, 256), Image.BICUBIC),
              "12 MP gray": color12.convert("L"), "12 MP color": color12}
    setups = {"tensor path": Colorizer.load(device="cpu", fused=False), "fused": Colorizer.load(device="cpu", fused=True)}
    print(header("Fused color path (bench_fused.py)"))
    print(f"no training or other benchmark was running; allocator tuned as the CLI does: {args.tune_malloc}")
    # the color stage alone
    c = setups["tensor path"]
    px = torch.from_numpy(np.asarray(color12).copy()).permute(2, 0, 1)[None]
    L = c.lightness(px)
    ab = c.predict_ab_small(L)
    fused_srgb_u8(L, ab)  # compile or load the kernel
    stage = {"tensor path": [], "fused": []}
    for _ in range(args.repeats):
        for name, fn in (("tensor path", lambda: c.to_srgb_u8(L, ab)), ("fused", lambda: fused_srgb_u8(L, ab))):
            t0 = time.perf_counter()
            fn()
            stage[name].append(time.perf_counter() - t0)
    rows = [{"what": "color stage, 12 MP", "setup": k, "median ms": f"{statistics.median(v) * 1e3:.1f}"} for k, v in stage.items()]
    med = {}
    for pname, img in photos.items():
        times = {k: [] for k in setups}
        for s in setups.values():
            s.colorize(img)
        for _ in range(args.repeats):
            for k, s in setups.items():
                t0 = time.perf_counter()
                s.colorize(img)
                times[k].append(time.perf_counter() - t0)
        for k, v in times.items():
            med[(pname, k)] = statistics.median(v)
            rows.append({"what": f"colorize {pname}", "setup": k, "median ms": f"{med[(pname, k)] * 1e3:.1f}"})
    for k in setups:
        for p in ("12 MP gray", "12 MP color"):
            rows.append({"what": f"{p} / 256x256", "setup": k, "median ms": f"{med[(p, k)] / med[('256x256 gray', k)]:.1f}x"})
    print(table(rows, ["what", "setup", "median ms"]))
    with tempfile.TemporaryDirectory() as d:
        jpg = Path(d) / "in.jpg"
        color12.save(jpg, quality=92)
        ts = []
        for _ in range(3):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "huenet.cli", "colorize", str(jpg), "-o", str(Path(d) / "out.jpg")],
                           check=True, capture_output=True)
            ts.append(time.perf_counter() - t0)
    print(f"\nhuenet colorize, 12 MP JPEG in and out, fresh process (fused where numba is installed): "
          f"median {statistics.median(ts):.2f} s of 3")


if __name__ == "__main__":
    main()
