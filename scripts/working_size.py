"""Measure the working size (and temperature) of a model on photos of real size, protocol full.

    python scripts/working_size.py --model runs/gpu16/model.safetensors ../shared/data/bsds500/val \
        --sizes 128 160 192 256 --temperatures 0.38 0.55 0.7

Prints one row per (size, temperature): AuC, rebalanced AuC, PSNR, SSIM and colorfulness beside
gray's, and the worst margin to issue 16's gates (AuC +0.01, rebalanced AuC +0.05, PSNR +0.3 dB,
dCF <= 10; > 0 means all four are met).
"""

import argparse
import json

from huenet.colorize import Colorizer
from huenet.evaluate import evaluate

from gates import worst_margin  # scripts/gates.py

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data", nargs="+")
    ap.add_argument("--model", default=None)
    ap.add_argument("--sizes", type=int, nargs="+", default=[128, 160, 192, 256])
    ap.add_argument("--temperatures", type=float, nargs="*", default=[])
    ap.add_argument("--restraint", type=float, default=None, help="default: the model's")
    ap.add_argument("--scale-sets", nargs="*", default=["1"],
                    help="scales to average, comma-separated, one set per row group (e.g. 1 1,2 1,1.5,2)")
    ap.add_argument("--json", default=None, help="also write the rows here")
    args = ap.parse_args()
    rows = []
    print(f"{'size':>5} {'T':>5} {'AuC':>7} {'rAuC':>7} {'PSNR':>6} {'SSIM':>7} {'CF':>5} | {'gray AuC':>8} "
          f"{'rAuC':>7} {'PSNR':>6} {'SSIM':>7} {'CF*':>5} | worst margin")
    for size, scales in [(s, tuple(float(x) for x in ss.split(","))) for ss in args.scale_sets for s in args.sizes]:
        for t in args.temperatures or [None]:
            c = Colorizer.load(args.model, size=size, precision="fp32", temperature=t, restraint=args.restraint,
                               scales=scales)
            ev, _ = evaluate(c, args.data, protocol="full", progress=False, keep_images=0)
            summ = ev.summary()["methods"]
            s, g = summ["model"], summ["gray"]
            wm = worst_margin(s, g)
            rows.append({"size": size, "scales": scales, "temperature": t, "model": s, "gray": g, "worst_margin": wm})
            print(f"{size:5d}{'+' if len(scales) > 1 else ' '} {t if t is not None else c.temperature or 0:5.2f} {s['auc']:7.4f} {s['auc_rebalanced']:7.4f} "
                  f"{s['psnr']:6.2f} {s['ssim']:7.4f} {s['cf']:5.1f} | {g['auc']:8.4f} {g['auc_rebalanced']:7.4f} "
                  f"{g['psnr']:6.2f} {g['ssim']:7.4f} {s['cf_gt']:5.1f} | {wm:+.2f}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
