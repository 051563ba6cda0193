"""The equal-budget comparison of issue 16 as a Markdown table, from the GPU call's results
(docs/issue16/compare.json, written by scripts/gpu_issue16.py --phase compare).

    python scripts/comparison_table.py docs/issue16/compare.json
"""

import json
import sys

DESCRIPTION = {
    "mse_convt": "MSE, the seed's head (convT 16x16 /8)",
    "mse_smooth4": "MSE, smooth head (1/4, bilinear)",
    "cls_l1.0_smooth4": "classification, no rebalancing (lambda 1), smooth head",
    "cls_l0.75_smooth4": "classification, lambda 0.75, smooth head",
    "cls_l0.5_smooth4": "classification, lambda 0.5 (paper), smooth head",
    "cls_l0.75_smooth8": "classification, lambda 0.75, smooth head at 1/8",
    "resnet_mse": "residual net (Johnson et al.), from scratch, MSE",
}


def main(path: str) -> None:
    r = json.load(open(path))
    comp = r["compare"]
    gray = next(v["scores"]["gray"] for v in comp.values() if "scores" in v)
    print(f"Held-out: {len(next(iter(comp.values()))['scores']['gray_by_source_auc'])} sources; device {r['device']}.")
    print()
    print("| candidate | photos | steps | epochs | img/s | T | AuC | AuC (rebal.) | PSNR | SSIM | CF | dCF | worst gate margin |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| gray (ab = 0) | | | | | | {gray['auc']:.4f} | {gray['auc_rebalanced']:.4f} | {gray['psnr']:.2f} | "
          f"{gray['ssim']:.4f} | {gray['cf']:.1f} | {gray['dcf']:.1f} | |")
    for name, v in comp.items():
        if "scores" not in v:
            print(f"| {DESCRIPTION.get(name, name)} | failed: {v.get('error')} |")
            continue
        for t, s in v["scores"].items():
            if not t.startswith("T="):
                continue
            print(f"| {DESCRIPTION.get(name, name)} | {v['train_photos']:,} | {v['steps']} | {v['epochs']:.1f} | "
                  f"{v['images_per_s_median']:,.0f} | {t[2:]} | {s['auc']:.4f} | {s['auc_rebalanced']:.4f} | "
                  f"{s['psnr']:.2f} | {s['ssim']:.4f} | {s['cf']:.1f} | {s['dcf']:.1f} | {s['worst_margin']:+.2f} |")
    print()
    print(f"Winner by the worst gate margin: {r['winner']['candidate']} at {r['winner']['temperature']}.")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "docs/issue16/compare.json")
