"""The shipped default against the previous one, in one run (issue 16: "no more than 15% slower end
to end at 256"). End to end = ``Colorizer.colorize`` on a decoded photo (L, network, ab upsampling,
Lab -> sRGB), each model with its own defaults (working size, temperature, flip averaging) and
both at working size 256; plus the network alone. Repeats are interleaved (old, new, old, new...)
so that machine noise hits both alike; medians and the new/old ratio of the same run.

    python benchmarks/bench_default.py --old runs/old/model.safetensors [--new weights/...] [--repeats 15]

Run it when nothing else (no training) is running on the machine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from common import header, table  # noqa: E402

from huenet.colorize import Colorizer  # noqa: E402

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--old", required=True, help="the previous default checkpoint")
    ap.add_argument("--new", default=None, help="default: the shipped weights")
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--precision", default="auto")
    args = ap.parse_args()
    src = sorted((SHARED / "bsds500" / "test").glob("*.jpg"))[0]
    photos = {"256x256": Image.open(src).convert("L").resize((256, 256), Image.BICUBIC),
              "481x321 (BSDS)": Image.open(src).convert("L"),
              "4000x3000 (12 MP)": Image.open(src).convert("L").resize((4000, 3000), Image.BICUBIC)}
    setups = {
        "old, its defaults": Colorizer.load(args.old, device="cpu", precision=args.precision),
        "new, its defaults": Colorizer.load(args.new, device="cpu", precision=args.precision),
        "new at working size 256": Colorizer.load(args.new, size=256, device="cpu", precision=args.precision),
        "new at 256, one scale": Colorizer.load(args.new, size=256, device="cpu", precision=args.precision, scales=(1,)),
    }
    print(header("Shipped default vs previous default (bench_default.py)"))
    print("no training or other benchmark was running during this run")
    for name, c in setups.items():
        print(f"- {name}: working size {c.size}, scales {c.scales}, temperature {c.temperature}, flip {c.flip}, "
              f"precision {c.precision}")
    rows = []
    for pname, img in photos.items():
        times = {k: [] for k in setups}
        for c in setups.values():  # warm-up
            c.colorize(img)
        reps = max(3, args.repeats // 3) if "12 MP" in pname else args.repeats
        for _ in range(reps):
            for k, c in setups.items():
                t0 = time.perf_counter()
                c.colorize(img)
                times[k].append(time.perf_counter() - t0)
        old = statistics.median(times["old, its defaults"])
        for k, ts in times.items():
            med = statistics.median(ts)
            rows.append({"photo": pname, "setup": k, "median ms": f"{med * 1000:.1f}",
                         "min ms": f"{min(ts) * 1000:.1f}", "vs old": f"{med / old:.2f}x", "repeats": len(ts)})
    print()
    print(table(rows, ["photo", "setup", "median ms", "min ms", "vs old", "repeats"]))
    # the network alone at 256 x 256, batch 1
    L = torch.rand(1, 1, 256, 256) * 100
    net_rows = []
    for k, c in setups.items():
        c._run_torch(L)
        ts = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            c._run_torch(L)
            ts.append(time.perf_counter() - t0)
        net_rows.append({"network at 256x256 (as the colorizer runs it)": k,
                         "median ms": f"{statistics.median(ts) * 1000:.1f}"})
    print()
    print(table(net_rows, ["network at 256x256 (as the colorizer runs it)", "median ms"]))


if __name__ == "__main__":
    main()
