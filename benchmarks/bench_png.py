"""PNG write time and size by zlib level (issue 14: a 12 MP PNG took 2.1 s at Pillow's default
level 6, against 0.56 s for the whole JPEG pipeline). The images are colorized outputs, as
`huenet colorize` writes them: a BSDS500 photo at its own size (481x321) and resized to 12 MP
(4000x3000; resizing smooths it, so real 12 MP photos compress somewhat less), plus a 12 MP
out-of-focus-free stand-in: 16 BSDS500 photos tiled 4x4 at 1000x750 each.

    python benchmarks/bench_png.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from common import header, table  # noqa: E402

from huenet.colorize import Colorizer  # noqa: E402

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--levels", type=int, nargs="+", default=[0, 1, 2, 3, 4, 6, 9])
    args = ap.parse_args()
    c = Colorizer.load(device="cpu")
    srcs = sorted((SHARED / "bsds500" / "test").glob("*.jpg"))
    photo = Image.open(srcs[0]).convert("RGB")
    tiled = Image.new("RGB", (4000, 3000))
    for i, p in enumerate(srcs[:16]):
        tiled.paste(Image.open(p).convert("RGB").resize((1000, 750), Image.BICUBIC), ((i % 4) * 1000, (i // 4) * 750))
    images = {"481x321": c.colorize(photo), "4000x3000 resized": c.colorize(photo.resize((4000, 3000), Image.BICUBIC)),
              "4000x3000 tiled": c.colorize(tiled)}
    print(header("PNG encoding by zlib level (bench_png.py)"))
    rows = []
    for name, img in images.items():
        base = None
        for level in args.levels:
            times, size = [], 0
            for _ in range(args.repeats):
                buf = io.BytesIO()
                t0 = time.perf_counter()
                img.save(buf, "PNG", compress_level=level)
                times.append(time.perf_counter() - t0)
                size = buf.tell()
            med = statistics.median(times)
            if level == 6:
                base = (med, size)
            rows.append({"image": name, "level": level, "ms": med * 1000, "MB": size / 1e6})
        for r in rows:
            if r["image"] == name and base:
                r["time vs 6"] = f"{r['ms'] / 1000 / base[0]:.2f}x"
                r["size vs 6"] = f"{r['MB'] * 1e6 / base[1]:.2f}x"
    for r in rows:
        r["ms"], r["MB"] = f"{r['ms']:.0f}", f"{r['MB']:.2f}"
    print(table(rows, ["image", "level", "ms", "MB", "time vs 6", "size vs 6"]))


if __name__ == "__main__":
    main()
