"""The fused full-resolution path (fused.py, numba) against the tensor path, in one run (issue 14,
item 1 and its first gate): `Colorizer.colorize` end to end on 256 px and 12 MP photos, gray and
color, repeats interleaved, medians; the stages of a 12 MP photo on each path; the per-photo work
of `huenet colorize` with a 12 MP JPEG in and out (decode, colorize, encode) in one process and
as a fresh command.

    python benchmarks/bench_fused.py [--repeats 9] [--tune]

"A 256 px photo" is given two ways: 256x256, and 341x256, the 12 MP photo's 4:3 aspect at 256 px,
whose working size (128x171) and so network work are the 12 MP photo's. Run it when nothing
else (no training) is running on the machine; the script says what else was busy.
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
from common import header, other_load, table  # noqa: E402

from huenet import fused  # noqa: E402
from huenet.colorize import Colorizer, working_size  # noqa: E402
from huenet.images import image_from_rgbx, load_photo, photo_from_pil, pil_from_u8, save_image  # noqa: E402

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def interleaved(fns: dict, repeats: int) -> dict:
    """Median seconds of each function, called in turn ``repeats`` times after one untimed call each."""
    times = {k: [] for k in fns}
    for fn in fns.values():
        fn()
    for _ in range(repeats):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def stages(c: Colorizer, img: Image.Image, use_fused: bool, repeats: int) -> dict:
    """Median ms of each stage of ``c.colorize(img)`` on one path."""
    photo = photo_from_pil(img)
    px = torch.from_numpy(np.ascontiguousarray(photo.pixels)).permute(2, 0, 1)[None]
    size = working_size(*px.shape[-2:], c.size)
    if use_fused:  # as Colorizer._colorize_u8_photo: pixels read in place where Pillow allows it, RGBX out
        hwc = (photo.storage if photo.storage is not None else photo.pixels)[None]
        small = fused.working_lightness_u8(hwc, size)
        ab = c.predict_ab_small(small)
        fns = {"pixels from Pillow": lambda: photo_from_pil(img),
               "L at working size": lambda: fused.working_lightness_u8(hwc, size),
               "network": lambda: c.predict_ab_small(small),
               "ab up + Lab -> 8-bit sRGB": lambda: fused.rgbx_from_pixels(hwc, ab)}
        rgbx = fused.rgbx_from_pixels(hwc, ab)[0]
        fns["Pillow image out"] = lambda: image_from_rgbx(rgbx)
    else:
        L = c.lightness(px)
        small = c.working_lightness(L)
        ab = c.predict_ab_small(small)
        fns = {"pixels from Pillow": lambda: photo_from_pil(img),
               "L at working size": lambda: c.working_lightness(c.lightness(px)),
               "network": lambda: c.predict_ab_small(small),
               "ab up + Lab -> 8-bit sRGB": lambda: c.to_srgb_u8(L, ab)}
        out = c.to_srgb_u8(L, ab).permute(0, 2, 3, 1).numpy()[0]
        fns["Pillow image out"] = lambda: pil_from_u8(out)
    return {k: v * 1e3 for k, v in interleaved(fns, repeats).items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--tune", "--tune-malloc", dest="tune", action="store_true",
                    help="apply huenet.process's tuning as the CLI does (allocator; Pillow's block size)")
    args = ap.parse_args()
    if args.tune:
        from huenet.process import tune_allocator, tune_pillow

        tune_allocator()
        tune_pillow()
    print(header("Fused full-resolution path (bench_fused.py)"))
    print(f"other load at the start: {other_load()}; allocator and Pillow tuned as the CLI does: {args.tune}")
    src = sorted((SHARED / "bsds500" / "test").glob("*.jpg"))[0]
    base = Image.open(src).convert("RGB")
    color12 = base.resize((4000, 3000), Image.BICUBIC)
    photos = {}
    for name, (w, h) in {"256x256": (256, 256), "341x256": (341, 256), "12 MP": (4000, 3000)}.items():
        rgb = color12 if name == "12 MP" else base.resize((w, h), Image.BICUBIC)
        photos[f"{name} gray"], photos[f"{name} color"] = rgb.convert("L"), rgb
    setups = {"tensor path": Colorizer.load(device="cpu", fused=False), "fused": Colorizer.load(device="cpu", fused=True)}
    c = setups["fused"]
    print(f"model: shipped, working size {c.size}, precision {c.precision}; numba kernels compiled or loaded first")
    c.colorize(photos["12 MP color"])
    c.colorize(photos["12 MP gray"])

    med = {}
    for pname, img in photos.items():
        for k, v in interleaved({k: (lambda s=s, img=img: s.colorize(img)) for k, s in setups.items()}, args.repeats).items():
            med[(pname, k)] = v * 1e3
    rows = []
    for pname in photos:
        t, f = med[(pname, "tensor path")], med[(pname, "fused")]
        rows.append({"photo": pname, "tensor path ms": f"{t:.1f}", "fused ms": f"{f:.1f}", "fused vs tensor": f"{t / f:.2f}x"})
    print("\n`Colorizer.colorize` (the fused path set on for every size here; by default it starts at 1 MP)\n")
    print(table(rows, ["photo", "tensor path ms", "fused ms", "fused vs tensor"]))
    ratio_rows = []
    for kind in ("gray", "color"):
        for base_name in ("256x256", "341x256"):
            r = {"12 MP / 256 px photo": f"{kind}: 12 MP / {base_name}"}
            for k in setups:
                r[k] = f"{med[(f'12 MP {kind}', k)] / med[(f'{base_name} {kind}', k)]:.2f}x"
            # what Colorizer.load() does: the tensor path below 1 MP, the fused one above
            r["default"] = f"{med[(f'12 MP {kind}', 'fused')] / med[(f'{base_name} {kind}', 'tensor path')]:.2f}x"
            ratio_rows.append(r)
    print()
    print(table(ratio_rows, ["12 MP / 256 px photo", "tensor path", "fused", "default"]))

    for kind in ("gray", "color"):
        st = {k: stages(s, photos[f"12 MP {kind}"], k == "fused", args.repeats) for k, s in setups.items()}
        srows = [{"stage": n, "tensor path ms": f"{st['tensor path'][n]:.1f}", "fused ms": f"{st['fused'][n]:.1f}"}
                 for n in st["fused"]]
        print(f"\nstages of a 12 MP {kind} photo (each timed alone)\n")
        print(table(srows, ["stage", "tensor path ms", "fused ms"]))

    with tempfile.TemporaryDirectory() as d:
        rows = []
        for kind in ("gray", "color"):
            jpg = Path(d) / f"in_{kind}.jpg"
            photos[f"12 MP {kind}"].save(jpg, quality=92)
            out = Path(d) / "out.jpg"

            def per_photo(s, jpg=jpg, out=out):
                save_image(s.colorize_photos([load_photo(jpg)])[0], out)

            t = interleaved({k: (lambda s=s: per_photo(s)) for k, s in setups.items()}, max(3, args.repeats // 2))
            ts = []
            for _ in range(3):
                t0 = time.perf_counter()
                subprocess.run([sys.executable, "-m", "huenet.cli", "colorize", str(jpg), "-o", str(out)],
                               check=True, capture_output=True)
                ts.append(time.perf_counter() - t0)
            rows.append({"12 MP JPEG in and out": kind, "tensor path, in process ms": f"{t['tensor path'] * 1e3:.0f}",
                         "fused, in process ms": f"{t['fused'] * 1e3:.0f}",
                         "huenet colorize (fresh process, default path) s": f"{statistics.median(ts):.2f}"})
        print("\nthe CLI's per-photo work (JPEG decode, colorize, JPEG encode at quality 95)\n")
        print(table(rows, list(rows[0])))
    print(f"\nother load at the end: {other_load()}")


if __name__ == "__main__":
    main()
