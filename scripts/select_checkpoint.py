"""Score checkpoints and decode settings on a selection set in one pass (issue 25's gates, read on
``bsds500/val``): each photo is decoded once; for every checkpoint x temperature x restraint x chroma gain it is
colorized at two working sizes (each with the checkpoint's scales) and the first size's output is
scored as ``huenet evaluate --protocol full`` scores it (AuC, rebalanced AuC, PSNR, CF, dCF), with
the mean Delta ab between the two sizes' outputs and the colorfulness at the second size
(``scale_consistency.py``'s numbers).

    python scripts/select_checkpoint.py ../shared/data/bsds500/val --models runs/long-snap/step*.safetensors \
        --temperatures 0.7 0.8 --restraints 0 0.25 [--saturations 1 1.1] [--precision auto] [--jsonl out.jsonl]

Prints one row per combination (the gray baseline first) and appends them to ``--jsonl``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from huenet.color import rgb_to_lab
from huenet.colorize import Colorizer
from huenet.data import _walk_images
from huenet.evaluate import Evaluation, _u8, baseline_predictions, mean_delta_ab, score_photo
from huenet.images import load_photo
from huenet.metrics import colorfulness


def _row(ev: Evaluation, method: str) -> dict:
    s = ev.summary()["methods"][method]
    return {k: s[k] for k in ("auc", "auc_rebalanced", "psnr", "cf", "dcf")}


def _score(model, t, r, g, args, photos, tensors) -> dict:
    """One checkpoint at temperature ``t``, restraint ``r``, chroma gain ``g``: its row."""
    t0 = time.perf_counter()
    cs = [Colorizer.load(model, size=s, precision=args.precision, temperature=t, restraint=r, saturation=g,
                         scales=tuple(args.scales) if args.scales else None)
          for s in args.sizes]
    ev, dab, cf2 = Evaluation("full", args.sizes[0]), [], []
    for (name, gt), x in zip(photos, tensors):
        first, second = (_u8(c.colorize_rgb(x)[0]) for c in cs)  # 8-bit, as written and scored
        dab.append(mean_delta_ab(first, second))
        cf2.append(colorfulness(second))
        score_photo(ev, name, gt, {"model": first})
    row = {"model": str(model), "temperature": cs[0].temperature, "restraint": cs[0].restraint,
           "saturation": cs[0].saturation, "scales": list(cs[0].scales),
           **_row(ev, "model"), "delta_ab": float(np.mean(dab)), "cf_second": float(np.mean(cf2)),
           "seconds": round(time.perf_counter() - t0, 1)}
    print(f"{Path(model).stem:<24} T {row['temperature']} R {row['restraint']} gain {row['saturation']:g} scales {row['scales']}: "
          f"AuC {row['auc']:.4f} rb {row['auc_rebalanced']:.4f} PSNR {row['psnr']:.2f} "
          f"CF {row['cf']:.1f}/{row['cf_second']:.1f} dCF {row['dcf']:.2f} Delta ab {row['delta_ab']:.2f} "
          f"({row['seconds']} s)", flush=True)
    return row


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("--models", nargs="+", required=True)
    ap.add_argument("--temperatures", type=float, nargs="+", default=[None])
    ap.add_argument("--restraints", type=float, nargs="+", default=[None])
    ap.add_argument("--saturations", type=float, nargs="+", default=[None],
                    help="chroma gains on the output (huenet colorize --saturation; default: the model's)")
    ap.add_argument("--sizes", type=int, nargs=2, default=[128, 256])
    ap.add_argument("--scales", type=float, nargs="+", default=None, help="the colorizer's scales (default: the model's)")
    ap.add_argument("--precision", default="auto")
    ap.add_argument("--jsonl", default=None)
    args = ap.parse_args()
    photos = [(p.name, load_photo(p).u8) for p in _walk_images(args.data)]
    tensors = [torch.from_numpy(gt).permute(2, 0, 1)[None].float() / 255 for _, gt in photos]
    gray = Evaluation("full", args.sizes[0])
    for (name, gt), x in zip(photos, tensors):
        score_photo(gray, name, gt, baseline_predictions(rgb_to_lab(x)[0, :1], None))
    rows = [{"model": "gray", **_row(gray, "gray")}]
    print(f"{len(photos)} photos from {args.data}; gray: AuC {rows[0]['auc']:.4f} PSNR {rows[0]['psnr']:.2f} "
          f"(truth CF {rows[0]['cf'] + rows[0]['dcf']:.1f})", flush=True)
    for model in args.models:
        for t in args.temperatures:
            for r in args.restraints:
                for g in args.saturations:
                    rows.append(_score(model, t, r, g, args, photos, tensors))
    if args.jsonl:
        with open(args.jsonl, "a") as f:
            for row in rows:
                f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
