"""Color hints measured as Zhang et al. (2017) measure them (issue 18): PSNR and AuC against the
number of hint points, each the mean color of a 5x5 ground-truth patch at a random place (radius 2),
on bsds500/test and diverse/val; rows for the network alone (0 points), propagation alone (no
network prior) and both; and the time of a hinted colorize at 256 px and 12 MP.

    python benchmarks/bench_hints.py [--photos 20] [--counts 0 1 2 5 10 20 50 100] [--plot docs/hints.png]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from common import header, table  # noqa: E402

from huenet.colorize import Colorizer  # noqa: E402
from huenet.evaluate import _lab  # noqa: E402
from huenet.hints import Point  # noqa: E402
from huenet.images import load_photo, photo_from_pil  # noqa: E402
from huenet.metrics import ab_errors, auc, psnr  # noqa: E402

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def gt_points(gt: np.ndarray, n: int, rng) -> list[Point]:
    h, w = gt.shape[:2]
    pts = []
    for _ in range(n):
        y, x = int(rng.integers(2, h - 2)), int(rng.integers(2, w - 2))
        col = gt[y - 2:y + 3, x - 2:x + 3].reshape(-1, 3).mean(0).round().astype(int)
        pts.append(Point(float(x), float(y), tuple(int(v) for v in col), 2.0))
    return pts


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--photos", type=int, default=20, help="per set (evenly spaced)")
    ap.add_argument("--counts", type=int, nargs="+", default=[0, 1, 2, 5, 10, 20, 50, 100])
    ap.add_argument("--plot", default=None)
    args = ap.parse_args()
    c = Colorizer.load(device="cpu")
    print(header("Color hints (bench_hints.py)"))
    print(f"shipped model ({c.precision}), working size {c.size}; no training running")
    rows, curves = [], {}
    for set_name in ("bsds500/test", "diverse/val"):
        files = sorted((SHARED / set_name).glob("*.jpg"))
        files = files[:: max(1, len(files) // args.photos)][: args.photos]
        for method in ("network + hints", "hints alone (no network)"):
            for n in args.counts:
                if n == 0 and method != "network + hints":
                    continue
                rng = np.random.default_rng(18)
                ps, aucs = [], []
                for f in files:
                    photo = load_photo(f)
                    gt = photo.u8
                    pts = gt_points(gt, n, rng)
                    if n == 0:
                        out = np.asarray(c.colorize_photos([photo])[0])
                    else:
                        out = np.asarray(c.colorize_hinted(photo, pts, prior=0 if "alone" in method else None))
                    ps.append(psnr(out, gt))
                    aucs.append(auc(ab_errors(_lab(out)[1:].permute(1, 2, 0).numpy(), _lab(gt)[1:].permute(1, 2, 0).numpy())))
                name = "network alone" if n == 0 else method
                rows.append({"set": set_name, "method": name, "points": n, "PSNR": f"{np.mean(ps):.2f}",
                             "AuC": f"{np.mean(aucs):.4f}"})
                curves.setdefault((set_name, method), []).append((n, float(np.mean(ps))))
                print(rows[-1], flush=True)
    print(table(rows, ["set", "method", "points", "PSNR", "AuC"]))
    # time: the same photo with and without 20 hints
    src = sorted((SHARED / "bsds500" / "test").glob("*.jpg"))[0]
    trows = []
    for name, img in (("256x256", Image.open(src).convert("RGB").resize((256, 256))),
                      ("12 MP", Image.open(src).convert("RGB").resize((4000, 3000), Image.BICUBIC))):
        photo = photo_from_pil(img)
        pts = gt_points(photo.u8, 20, np.random.default_rng(0))
        plain, hinted = [], []
        for _ in range(3):
            t0 = time.perf_counter()
            c.colorize_photos([photo])
            plain.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            c.colorize_hinted(photo, pts)
            hinted.append(time.perf_counter() - t0)
        trows.append({"photo": name, "no hints ms": f"{statistics.median(plain) * 1e3:.0f}",
                      "20 hints ms": f"{statistics.median(hinted) * 1e3:.0f}",
                      "ratio": f"{statistics.median(hinted) / statistics.median(plain):.2f}x"})
    print(table(trows, ["photo", "no hints ms", "20 hints ms", "ratio"]))
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 4))
        for (set_name, method), pts in curves.items():
            xs, ys = zip(*pts)
            ax.plot([max(x, 0.5) for x in xs], ys, marker="o", label=f"{set_name}: {method}")
        ax.set_xscale("log")
        ax.set_xlabel("hint points (0 plotted at 0.5)")
        ax.set_ylabel("PSNR (dB)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(args.plot, dpi=120)
        print(f"wrote {args.plot}")


if __name__ == "__main__":
    main()
