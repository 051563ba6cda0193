"""Issue 16 experiment: other measures of the model's doubt than the shipped restraint R, scored on
the selection sets only (the 500 photos held out of diverse/train, BSDS500 val), never on the gate
sets. The network runs once a photo (fp32); each variant only decodes its logits differently.

    python scripts/restraint_measures.py [--limit N]

Variants: R^k (the shipped measure: |E[ab]| / E[|ab|] under the T=1 distribution), R pooled over a
neighbourhood before use (region-level doubt), an entropy measure (1 - H / log Q)^k, and R^k with a
chroma gain. Prints one row per variant per set with issue 16's gate numbers against gray.
"""

import argparse
import random
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).parent))
from gates import describe  # noqa: E402

from huenet.colorize import Colorizer, working_size  # noqa: E402
from huenet.evaluate import Evaluation, _lab, baseline_predictions, score_photo  # noqa: E402
from huenet.images import load_photo  # noqa: E402

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def selection_sets(limit):
    diverse = sorted((SHARED / "diverse" / "train").glob("*.jpg"))
    held = set(random.Random(16).sample(range(len(diverse)), 500))  # as scripts/stage_gpu_photos.py
    held_out = [p for i, p in enumerate(diverse) if i in held]
    bsds_val = sorted((SHARED / "bsds500" / "val").glob("*.jpg"))
    return {"held-out diverse": held_out[:limit], "bsds500/val": bsds_val[:limit]}


def decode(logits, bins, T, measure, k, gain=1.0, pool=1):
    x = logits.float()
    ab = torch.einsum("nqhw,qc->nchw", torch.softmax(x / T, 1), bins)
    p1 = torch.softmax(x, 1)
    if measure == "R":
        mean = torch.einsum("nqhw,qc->nchw", p1, bins)
        spread = torch.einsum("nqhw,q->nhw", p1, bins.norm(dim=1)).unsqueeze(1)
        if pool > 1:  # doubt of the region: mean vector and mean length pooled before the ratio
            mean = F.avg_pool2d(mean, pool, 1, pool // 2, count_include_pad=False)
            spread = F.avg_pool2d(spread, pool, 1, pool // 2, count_include_pad=False)
        f = (mean.norm(dim=1, keepdim=True) / spread.clamp(min=1e-6)).clamp(0, 1) ** k
    elif measure == "H":
        H = -(p1 * p1.clamp(min=1e-12).log()).sum(1, keepdim=True)
        f = (1 - H / np.log(len(bins))).clamp(0, 1) ** k
    else:
        f = torch.ones_like(ab[:, :1])
    return ab * f * gain


VARIANTS = [("shipped R^0.5", "R", 0.5, 1.0, 1), ("R^0", "none", 0, 1.0, 1), ("R^0.25", "R", 0.25, 1.0, 1),
            ("R^0.5 pooled 5", "R", 0.5, 1.0, 5), ("R^1 pooled 5, gain 1.15", "R", 1.0, 1.15, 5),
            ("R^0.5 gain 1.1", "R", 0.5, 1.1, 1), ("entropy^0.5", "H", 0.5, 1.0, 1), ("entropy^1 gain 1.2", "H", 1.0, 1.2, 1)]


@torch.inference_mode()
def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=None)
    args = ap.parse_args()
    c = Colorizer.load(precision="fp32")
    model, bins, T = c.model, c.model.ab_bins.float(), c.temperature
    for set_name, paths in selection_sets(args.limit).items():
        evs = {v[0]: Evaluation("full", c.size) for v in VARIANTS}
        for p in paths:
            photo = load_photo(p)
            gt = photo.u8
            px = torch.from_numpy(gt).permute(2, 0, 1)[None].float() / 255
            L = c.lightness(px)
            wh, ww = working_size(*L.shape[-2:], c.size)
            small = F.interpolate(L, size=(wh, ww), mode="bilinear", align_corners=False, antialias=True)
            raw = model.raw(small)
            gt_lab = _lab(gt)
            base = baseline_predictions(gt_lab[:1], None)
            name = p.name if set_name != "bsds500/val" else f"bsds/{p.name}"
            for vname, measure, k, gain, pool in VARIANTS:
                ab = decode(raw, bins, T, measure, k, gain, pool)
                ab = F.interpolate(ab, size=(wh, ww), mode="bilinear", align_corners=False)
                rgb = c.to_rgb(L, ab)[0]
                pred = (rgb.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
                score_photo(evs[vname], name, gt, {"model": pred, **base}, gt_lab)
        print(f"\n## {set_name} ({len(paths)} photos)")
        for vname, ev in evs.items():
            s = ev.summary()
            m = s["methods"]["model"]
            line = "; ".join(describe(s))
            print(f"{vname:<26} AuC {m['auc']:.4f} CF {m['cf']:.1f} | {line}", flush=True)


if __name__ == "__main__":
    main()
