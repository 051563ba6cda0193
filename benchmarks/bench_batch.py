"""Batch folders: ``colorize_files`` over a folder of 12-megapixel JPEGs (half of them gray), for
JPEG and PNG outputs: as first written (chunks of batch_size photos, one thread), with chunks cut
at about 8 megapixels, and with decoding/encoding overlapped with the network in a thread (the
default). Prints seconds per photo (median of repeats) and the speed-up.

    python benchmarks/bench_batch.py [--photos 12] [--repeats 3] [--tune-malloc]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from common import header, median_time, table  # noqa: E402

from huenet.archive import colorize_files  # noqa: E402
from huenet.settings import OutputSettings  # noqa: E402
from huenet.colorize import Colorizer  # noqa: E402

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def main() -> None:
    global SHARED
    ap = argparse.ArgumentParser()
    ap.add_argument("--photos", type=int, default=12)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--tune-malloc", action="store_true", help="apply huenet.process.tune_allocator() as the CLI does")
    ap.add_argument("--data", type=Path, default=SHARED, help="the shared photo folder (default ../shared/data)")
    args = ap.parse_args()
    SHARED = args.data
    if args.tune_malloc:
        from huenet.process import tune_allocator

        tune_allocator()
    work = Path(tempfile.mkdtemp())
    folder = work / "in"
    folder.mkdir()
    for i, src in enumerate(sorted((SHARED / "bsds500" / "test").glob("*.jpg"))[: args.photos]):
        img = Image.open(src).convert("L" if i % 2 else "RGB").resize((4000, 3000), Image.BICUBIC)
        img.save(folder / f"p{i}.jpg", quality=92)
    c = Colorizer.load(device="cpu")
    print(header(f"batch folder: {args.photos} photos of 12 MP (half gray), batch size 8, precision {c.precision}"))
    rows = []
    # before: chunks of batch_size photos whatever their size, all in one thread (the first version)
    setups = {"before": dict(io_thread=False, chunk_pixels=1 << 62), "one thread": dict(io_thread=False),
              "codec thread": dict(io_thread=True)}
    for fmt in ("jpg", "png"):
        t = {}
        for name, kw in setups.items():
            def run():
                report = colorize_files(c, [folder], work / f"out-{fmt}", OutputSettings(format=fmt), progress=False, **kw)
                assert report.ok and len(report.written) == args.photos

            t[name] = median_time(run, args.repeats, warmup=1) / args.photos
        rows.append({"output": fmt.upper(), **{f"s/photo, {k}": f"{v:.3f}" for k, v in t.items()},
                     "speed-up": f"{t['before'] / t['codec thread']:.2f}x"})
    print()
    print(table(rows, ["output", *(f"s/photo, {k}" for k in setups), "speed-up"]))


if __name__ == "__main__":
    main()
