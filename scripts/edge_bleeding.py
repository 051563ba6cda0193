"""Color bleeding at edges and SSIM, for models side by side (issue 16: the seed's transposed-conv
head against the smooth head), protocol full, with gray's row for reference.

    python scripts/edge_bleeding.py ../shared/data/bsds500/val --model old=weights/old.safetensors new=weights/...

Bleeding: ab RMSE within 2 px of the truth's strongest color edges (top 5% of the ab gradient)
against ab RMSE elsewhere; their ratio says how much worse a model is at edges than in flat areas.
"""

import argparse

import numpy as np
import torch

from huenet.colorize import Colorizer
from huenet.evaluate import _lab, _u8, baseline_predictions
from huenet.images import find_images, load_photo
from huenet.metrics import edge_bleeding, ssim


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data", nargs="+")
    ap.add_argument("--model", nargs="+", required=True, help="NAME=CHECKPOINT[@SIZE]")
    ap.add_argument("--limit", type=int, default=100)
    args = ap.parse_args()
    found, _ = find_images(args.data)
    found = found[: args.limit]
    models = {}
    for spec in args.model:
        name, path = spec.split("=", 1)
        path, _, size = path.partition("@")
        models[name] = Colorizer.load(path, size=int(size) if size else None, device="cpu", precision="fp32")
    rows = {name: [] for name in ["gray", *models]}
    for f in found:
        gt = load_photo(f.path).u8
        lab = _lab(gt)
        gt_ab = lab[1:].permute(1, 2, 0).numpy()
        preds = {"gray": baseline_predictions(lab[:1], None)["gray"]}
        for name, c in models.items():
            preds[name] = _u8(c.colorize_rgb(torch.from_numpy(gt).permute(2, 0, 1)[None].float() / 255)[0])
        for name, pred in preds.items():
            edge, flat = edge_bleeding(_lab(pred)[1:].permute(1, 2, 0).numpy(), gt_ab)
            rows[name].append((edge, flat, ssim(pred, gt)))
    print(f"{len(found)} photos, protocol full")
    print("| model | ab RMSE at color edges | ab RMSE elsewhere | edges / elsewhere | SSIM |")
    print("|---|---:|---:|---:|---:|")
    for name, r in rows.items():
        a = np.array(r)
        print(f"| {name} | {a[:, 0].mean():.2f} | {a[:, 1].mean():.2f} | {a[:, 0].mean() / a[:, 1].mean():.3f} | "
              f"{np.nanmean(a[:, 2]):.4f} |")


if __name__ == "__main__":
    main()
