"""Turn a training run's best checkpoint into the shipped weights (fp16 safetensors + JSON).

    python scripts/ship_weights.py runs/default [--out weights/huenet-vgg16-fusion.safetensors]
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import torch

from huenet.checkpoints import load_model, save_checkpoint
from huenet.weights import DEFAULT_WEIGHTS_NAME

LICENSES = {
    "flowers": "TensorFlow flower_photos, CC-BY 2.0 (per-image attributions in LICENSE_flower_photos_attributions.txt)",
    "imagenet-samples": "ImageNet samples, ImageNet terms of access (non-commercial research)",
    "bsds500": "BSDS500, non-commercial research",
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run", type=Path)
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "weights" / DEFAULT_WEIGHTS_NAME)
    ap.add_argument("--hardware", default=f"{platform.machine()} CPU, {torch.get_num_threads()} threads")
    args = ap.parse_args()
    best = args.run / "checkpoints" / "best.safetensors"
    model, meta = load_model(best)
    rows = [json.loads(line) for line in (args.run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    train_rows = [r for r in rows if "train_loss" in r]
    sources = json.dumps(meta.get("data", {}))
    data = dict(meta.get("data", {}))
    if "mean_ab" not in data and data.get("pack") and Path(data["pack"]).is_dir():
        from huenet.evaluate import mean_ab_of_pack

        data["mean_ab"] = mean_ab_of_pack(data["pack"], max_photos=1000)
    shipped = {
        "training": meta.get("training"),
        "data": {**data, "licenses": [v for k, v in LICENSES.items() if k in sources]},
        "shipped_from": {"run": args.run.name, "checkpoint": "best (lowest validation loss)",
                         "hardware": args.hardware,
                         "mean_images_per_s": sum(r["images_per_s"] for r in train_rows) / max(1, len(train_rows))},
    }
    path = save_checkpoint(args.out, model, meta=shipped, dtype=torch.float16)
    print(f"wrote {path} ({path.stat().st_size / 2**20:.1f} MiB) and {path.with_suffix('.json')}")


if __name__ == "__main__":
    main()
