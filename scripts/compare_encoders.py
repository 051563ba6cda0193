"""Issue 25's encoder comparison at equal budget: the same photos, the same crops and objective,
constant lr, the same wall-clock of training for each encoder on the same machine; each run's
best checkpoint scored on the held-out photos (``evaluate_arrays``, the rows of ``huenet
evaluate``) at T 0.8, restraint 0.5, working size 128.

    python scripts/compare_encoders.py --zip gpu/photos_half.zip --out eval/compare \
        --runs lite0=imagenet lite2=imagenet vgg16=hed:$(python scripts/pretrained.py hed) --device cpu --train-s 600

``liteN`` trains ``configs/default-weights.toml`` (the shipped recipe) with that encoder; ``vgg16`` the previous default's network
(``configs/vgg16-cls.toml``: HED VGG16, smooth head at 1/4) with the same crops. Results go to
``OUT/compare.json`` after each run (a run cut short keeps what finished).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import time
import zipfile
from pathlib import Path

import numpy as np
import torch

from huenet.checkpoints import load_model
from huenet.colorize import Colorizer
from huenet.config import load_recipe
from huenet.data import PackedPhotos, prepare_pack
from huenet.evaluate import evaluate_arrays
from huenet.training import Trainer

REPO = Path(__file__).resolve().parents[1]
T0 = time.time()


def log(*a):
    print(f"[{time.time() - T0:6.0f}s]", *a, flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--zip", type=Path, default=None)
    ap.add_argument("--runs", nargs="+", required=True, help="encoder=weights ...")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--work", type=Path, default=Path("/tmp/huenet_cmp"))
    ap.add_argument("--pack", type=Path, default=None, help="an existing pack (skips unpacking the zip)")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--train-s", type=float, default=90)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--lr", type=float, default=4e-4)
    ap.add_argument("--workers", type=int, default=16)
    ap.add_argument("--smoke", action="store_true")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    pack = args.pack or args.work / "pack"
    if args.pack is None:
        shutil.rmtree(args.work, ignore_errors=True)
        with zipfile.ZipFile(args.zip) as z:
            names = z.namelist()
            if args.smoke:
                names = [n for n in names if n.startswith("val/")][:48] + [n for n in names if n.startswith("train/")][:160]
            z.extractall(args.work / "photos", names)
        log("packed:", prepare_pack([str(args.work / "photos")], str(pack), size=128, workers=args.workers,
                                    progress=False).summary())
    val = PackedPhotos(pack, "val")
    arrays, val_names = np.asarray(val.array), [Path(p).stem for p in val.paths]
    results = {"gray": evaluate_arrays(None, arrays, val_names).summary()["methods"]["gray"], "runs": {}}
    lite = load_recipe(REPO / "configs" / "default-weights.toml")
    for spec in args.runs:
        variant, path = spec.split("=", 1)
        if variant.startswith("lite"):
            model, model_config = "lite_unet", {**lite.model_config, "encoder": variant}
        else:
            vgg = load_recipe(REPO / "configs" / "vgg16-cls.toml")
            model, model_config = vgg.model, {**vgg.model_config, "encoder": variant}
        cfg = dataclasses.replace(
            lite, model=model, model_config=model_config, data=str(pack), device=args.device, preload=True,
            encoder_weights=path, batch_size=args.batch if not args.smoke else 16, lr=args.lr, lr_halving_epochs=0,
            epochs=10_000, time_limit_min=args.train_s / 60, out=str(args.work / variant), progress=False,
            samples=0, val_max=64 if args.smoke else 500, log_every=10)
        t = time.time()
        trainer = Trainer(cfg)
        torch.backends.cudnn.benchmark = False  # four crop sizes: autotuning each would eat a GPU budget
        trainer.fit()
        rows = [json.loads(x) for x in (Path(cfg.out) / "metrics.jsonl").read_text().splitlines() if x.strip()]
        model, meta = load_model(Path(cfg.out) / "checkpoints" / "best.safetensors", device=args.device)
        c = Colorizer(model, size=128, device=args.device, temperature=0.8, restraint=0.5, meta=meta)
        score = evaluate_arrays(c, arrays, val_names, baselines=False).summary()["methods"]["model"]
        results["runs"][variant] = {
            "wall_s": time.time() - t, "steps": trainer.step, "epochs": trainer.epoch + trainer.step_in_epoch / trainer.steps_per_epoch,
            "images_per_s_median": float(np.median([r["images_per_s"] for r in rows if "images_per_s" in r])),
            "val_loss": [(r["epoch"], r["val_loss"]) for r in rows if "val_loss" in r], "parameters": model.num_parameters(),
            "score_T0.8_R0.5": score}
        log(variant, json.dumps({k: v for k, v in results["runs"][variant].items() if k != "val_loss"}))
        (args.out / "compare.json").write_text(json.dumps(results, indent=1))
    log("done")


if __name__ == "__main__":
    main()
