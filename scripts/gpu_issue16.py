"""Issue 16 on a lent GPU, in two calls (scripts/gpu_issue16.sh): the comparison at equal budget,
then the long run of the winner.

    python scripts/gpu_issue16.py --phase compare --pack PACK --encoder gpu/hed_vgg16.safetensors --out $OUT
    python scripts/gpu_issue16.py --phase long --pack PACK --encoder gpu/hed_vgg16.safetensors --out $OUT

1. Every candidate (objective x head x net) trains for the same wall-clock (``--compare-min``) on
   the same pack, batch, lr and frozen layers, then is scored on the pack's held-out ``val`` split
   (``evaluate_arrays``: the rows of ``huenet evaluate``), classification at several temperatures.
2. The winner is the (candidate, temperature) whose worst margin to issue 16's gates against gray
   on the held-out photos is largest (AuC +0.01, rebalanced AuC +0.05, PSNR +0.3 dB, dCF <= 10).
3. (``--phase long``, the next call) It trains again from the encoder weights for what is left of
   ``--deadline-s``, with epochs and the lr halvings sized from the throughput measured in step 1;
   each new best checkpoint (at most every ``--export-every-s``) is written to ``--out`` as fp16 in
   files under 16 MiB, so a call cut short still returns weights; at the end the best is scored at
   a finer temperature grid, with ``results.json``. Without the comparison's ``compare.json``
   (a fresh machine), ``--default-candidate`` trains.

Everything prints as it goes (the call's log is the record); ``--smoke`` shrinks it all for a CPU check.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch

from huenet.checkpoints import load_model, save_checkpoint
from huenet.colorize import Colorizer
from huenet.config import TrainConfig
from huenet.data import PackedPhotos
from huenet.evaluate import evaluate_arrays
from huenet.training import Trainer

from gates import margins  # scripts/gates.py

T0 = time.time()

# name -> (model name, model config, train overrides)
VGG = {"encoder": "vgg16", "stem_init": "gray"}
CANDIDATES = {
    "mse_convt": ("vgg_fusion", {**VGG, "head": "convt"}, {"objective": "mse"}),
    "mse_smooth4": ("vgg_fusion", {**VGG, "head": "smooth", "head_stride": 4}, {"objective": "mse"}),
    "cls_l1.0_smooth4": ("vgg_fusion", {**VGG, "head": "smooth", "head_stride": 4},
                         {"objective": "classification", "rebalance_lambda": 1.0}),
    "cls_l0.75_smooth4": ("vgg_fusion", {**VGG, "head": "smooth", "head_stride": 4},
                          {"objective": "classification", "rebalance_lambda": 0.75}),
    "cls_l0.5_smooth4": ("vgg_fusion", {**VGG, "head": "smooth", "head_stride": 4},
                         {"objective": "classification", "rebalance_lambda": 0.5}),
    "cls_l0.75_smooth8": ("vgg_fusion", {**VGG, "head": "smooth", "head_stride": 8},
                          {"objective": "classification", "rebalance_lambda": 0.75}),
    "resnet_mse": ("resnet_johnson", {}, {"objective": "mse", "freeze_through": None, "encoder_weights": None,
                                          "lr": 1e-3}),
}
COMPARE_T = (0.2, 0.38, 0.6, 1.0)
FINAL_T = (0.25, 0.3, 0.38, 0.45, 0.55, 0.7, 1.0)


def log(*a):
    print(f"[{time.time() - T0:6.0f}s]", *a, flush=True)


def base_config(args, name: str, out: Path) -> TrainConfig:
    model, mc, over = CANDIDATES[name]
    cfg = TrainConfig(
        model=model, model_config=mc, encoder_weights=args.encoder, data=args.pack, preload=True,
        epochs=10_000, batch_size=args.batch, size=args.size, lr=args.lr, lr_halving_epochs=0,
        freeze_through="pool2", out=str(out / name), device=args.device, val_max=args.val_max,
        log_every=20, save_every=0, samples=0, progress=False, seed=0,
    )
    return dataclasses.replace(cfg, **over)


def score(ckpt: Path, photos: np.ndarray, names: list[str], temps, device: str, size: int, mean_ab=None) -> dict:
    try:
        return _score(ckpt, photos, names, temps, device, size, mean_ab)
    except Exception as e:  # the colorizer's CUDA path is new here: fall back to the CPU rather than lose the run
        if device == "cpu":
            raise
        log(f"scoring on {device} failed ({type(e).__name__}: {e}); scoring on the CPU")
        return _score(ckpt, photos, names, temps, "cpu", size, mean_ab)


def _score(ckpt: Path, photos: np.ndarray, names: list[str], temps, device: str, size: int, mean_ab=None) -> dict:
    model, meta = load_model(ckpt, device=device)
    out = {}
    base = evaluate_arrays(None, photos, names, mean_ab=mean_ab).summary()
    out["gray"] = base["methods"]["gray"]
    if "mean-ab" in base["methods"]:
        out["mean-ab"] = base["methods"]["mean-ab"]
    for t in (temps if hasattr(model, "ab_bins") else (None,)):
        c = Colorizer(model, size=size, device=device, precision="fp32", meta=meta)
        if t is not None:
            model.temperature = t
        ev = evaluate_arrays(c, photos, names, baselines=False)
        summ = ev.summary()
        s = summ["methods"]["model"]
        s["margins"] = margins(s, out["gray"])
        s["worst_margin"] = min(s["margins"].values())
        if "by_source" in summ:
            s["by_source_auc"] = {k: v["model"]["auc"] for k, v in summ["by_source"].items()}
        out["T=" + (f"{t:g}" if t is not None else "-")] = s
    if "by_source" in base:
        out["gray_by_source_auc"] = {k: v["gray"]["auc"] for k, v in base["by_source"].items()}
    return out


def run_training(cfg: TrainConfig) -> tuple[Path, dict]:  # the comparison's runs
    t = time.time()
    trainer = Trainer(cfg)
    trainer.fit()
    rows = [json.loads(x) for x in (Path(cfg.out) / "metrics.jsonl").read_text().splitlines() if x.strip()]
    ips = [r["images_per_s"] for r in rows if "images_per_s" in r][2:] or [0.0]
    vals = [r["val_loss"] for r in rows if "val_loss" in r]
    info = {"wall_s": time.time() - t, "steps": trainer.step, "epochs": trainer.epoch + trainer.step_in_epoch / trainer.steps_per_epoch,
            "images_per_s_median": float(np.median(ips)), "val_loss_last": vals[-1] if vals else None,
            "val_loss_best": min(vals) if vals else None, "train_photos": len(trainer.train_src),
            "precision": trainer.precision}
    return Path(cfg.out) / "checkpoints" / "best.safetensors", info


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pack", required=True)
    ap.add_argument("--encoder", required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--runs", type=Path, default=Path("/tmp/runs"))
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--compare-min", type=float, default=0.5)
    ap.add_argument("--deadline-s", type=float, default=540, help="seconds from start by which everything is written")
    ap.add_argument("--final-reserve-s", type=float, default=45, help="kept after the long run for scoring and saving")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--val-max", type=int, default=500)
    ap.add_argument("--only", nargs="*", help="candidates to compare (default: all)")
    ap.add_argument("--smoke", action="store_true", help="tiny budgets: check the pipeline on a CPU")
    ap.add_argument("--phase", choices=["compare", "long"], required=True)
    ap.add_argument("--stage", default="/tmp/stage", help="survives between calls while the machine stays warm")
    ap.add_argument("--default-candidate", default="cls_l0.75_smooth4")
    ap.add_argument("--default-ips", type=float, default=3000.0)
    ap.add_argument("--export-every-s", type=float, default=60.0)
    args = ap.parse_args()
    if args.device == "cuda":
        torch.backends.cudnn.benchmark = True
        log(torch.cuda.get_device_name(), torch.__version__)
    args.out.mkdir(parents=True, exist_ok=True)
    results: dict = {"device": torch.cuda.get_device_name() if args.device == "cuda" else "cpu",
                     "torch": torch.__version__, "args": {k: str(v) for k, v in vars(args).items()}, "compare": {}}

    def save_results():
        (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")

    val = PackedPhotos(args.pack, "val")
    n_val = min(len(val), args.val_max)
    photos = val.batch(list(range(n_val))).permute(0, 2, 3, 1).numpy()
    names = [Path(p).name for p in val.paths[:n_val]]
    log(f"held-out photos: {n_val}")

    stage = Path(args.stage)
    if args.phase == "compare":
        return compare(args, photos, names, results, save_results, stage)
    return long_run(args, photos, names, results, save_results, stage)


def compare(args, photos, names, results, save_results, stage: Path) -> int:
    # 1. the comparison at equal wall-clock (candidates run by an earlier call on this machine count too)
    if (stage / "compare.json").is_file():
        results["compare"].update(json.loads((stage / "compare.json").read_text())["compare"])
    for name in args.only or list(CANDIDATES):
        cfg = base_config(args, name, args.runs)
        cfg = dataclasses.replace(cfg, time_limit_min=args.compare_min)
        if args.smoke:
            cfg = dataclasses.replace(cfg, time_limit_min=0.1, val_max=16, log_every=5)
        try:
            best, info = run_training(cfg)
            info["scores"] = score(best, photos, names, COMPARE_T, args.device, args.size)
        except Exception as e:  # one broken candidate must not cost the others
            log(f"{name}: FAILED {type(e).__name__}: {e}")
            results["compare"][name] = {"error": f"{type(e).__name__}: {e}"}
            save_results()
            continue
        results["compare"][name] = info
        for t, s in info["scores"].items():
            if t.startswith("T="):
                log(f"{name:20s} {t:7s} AuC {s['auc']:.4f} rAuC {s['auc_rebalanced']:.4f} PSNR {s['psnr']:.2f} "
                    f"CF {s['cf']:.1f}/{s['cf_gt']:.1f} worst margin {s['worst_margin']:+.2f}")
        g = info["scores"]["gray"]
        log(f"{name:20s} gray    AuC {g['auc']:.4f} rAuC {g['auc_rebalanced']:.4f} PSNR {g['psnr']:.2f}; "
            f"{info['images_per_s_median']:.0f} img/s, {info['epochs']:.1f} epochs in {info['wall_s']:.0f} s")
        save_results()
        shutil.rmtree(Path(cfg.out) / "checkpoints", ignore_errors=True)  # disk: keep metrics only

    # 2. the winner
    scored = [(s["worst_margin"], name, t) for name, r in results["compare"].items() if "scores" in r
              for t, s in r["scores"].items() if t.startswith("T=")]
    if not scored:
        log("no candidate finished")
        save_results()
        return 1
    _, win, win_t = max(scored)
    results["winner"] = {"candidate": win, "temperature": win_t,
                         "images_per_s": results["compare"][win]["images_per_s_median"]}
    log(f"winner: {win} at {win_t}")
    save_results()
    stage.mkdir(parents=True, exist_ok=True)
    (stage / "compare.json").write_text(json.dumps(results, indent=2) + "\n")
    return 0


class ExportingTrainer(Trainer):
    """Writes each new best model (fp16, files under 16 MiB) to ``export_dir``, at most every
    ``every_s`` seconds: a call cut short by the device budget still brings weights back."""

    export_dir: Path
    every_s: float = 60.0
    _last_export = 0.0
    _exported_val = math.inf

    def _validate_and_keep_best(self) -> None:
        super()._validate_and_keep_best()
        if self.best_val < self._exported_val and time.time() - self._last_export > self.every_s:
            export(self.ckpt_dir / "best.safetensors", self.export_dir, None)
            self._last_export, self._exported_val = time.time(), self.best_val


def export(best: Path, out: Path, temperature: float | None) -> None:
    model, meta = load_model(best)
    if hasattr(model, "ab_bins") and temperature is not None:
        model.config = dataclasses.replace(model.config, temperature=temperature)
    save_checkpoint(out / "model.safetensors", model, meta={k: v for k, v in meta.items() if k in ("training", "data")},
                    dtype=torch.float16, max_file_bytes=15 * 2**20)
    (out / "model.json").unlink(missing_ok=True)  # the same JSON is in model.safetensors (8 files come back)


def long_run(args, photos, names, results, save_results, stage: Path) -> int:
    # 3. the long run
    comp = stage / "compare.json"
    if comp.is_file():
        results["compare_results"] = json.loads(comp.read_text())
        win = results["compare_results"]["winner"]["candidate"]
        ips = results["compare_results"]["winner"]["images_per_s"]
    else:
        win, ips = args.default_candidate, args.default_ips
        log(f"no {comp} (a fresh machine?): training {win}")
    results["winner"] = win
    remaining = args.deadline_s - (time.time() - T0) - args.final_reserve_s
    n_train = len(PackedPhotos(args.pack, "train"))
    # epochs that fit, counting ~8% for validation and checkpoints at each epoch's end
    epochs = max(1, int(remaining * 0.92 * ips / n_train))
    halving = max(1, round(epochs / 4))  # four halvings over the run (the seed: every 3 of 25)
    cfg = base_config(args, win, args.runs)
    cfg = dataclasses.replace(cfg, out=str(args.runs / "long"), epochs=epochs, lr_halving_epochs=halving,
                              time_limit_min=max(0.1, remaining / 60), samples=6)
    if args.smoke:
        cfg = dataclasses.replace(cfg, time_limit_min=0.15, val_max=16, log_every=5)
    log(f"long run: {win}, {n_train} photos, {epochs} epochs (lr halved every {halving}), limit {remaining:.0f} s")
    t = time.time()
    trainer = ExportingTrainer(cfg)
    trainer.export_dir, trainer.every_s = args.out, args.export_every_s
    trainer.fit()
    rows = [json.loads(x) for x in (Path(cfg.out) / "metrics.jsonl").read_text().splitlines() if x.strip()]
    ips_seen = [r["images_per_s"] for r in rows if "images_per_s" in r][2:] or [0.0]
    info = {"wall_s": time.time() - t, "steps": trainer.step, "epochs_done": trainer.epoch,
            "images_per_s_median": float(np.median(ips_seen)), "train_photos": n_train,
            "best_val_loss": trainer.best_val, "precision": trainer.precision, "config": cfg.to_dict()}
    best = Path(cfg.out) / "checkpoints" / "best.safetensors"
    shutil.copy(Path(cfg.out) / "metrics.jsonl", args.out / "long_metrics.jsonl")
    sheets = sorted((Path(cfg.out) / "samples").glob("*.png"))
    if sheets:
        shutil.copy(sheets[-1], args.out / "long_samples.png")
    results["long"] = info
    save_results()
    info["scores"] = score(best, photos, names, FINAL_T, args.device, args.size)
    final = [(s["worst_margin"], t) for t, s in info["scores"].items() if t.startswith("T=")]
    best_t = max(final)[1]
    info["chosen_temperature"] = best_t
    for t, s in info["scores"].items():
        if t.startswith("T="):
            log(f"long {t:7s} AuC {s['auc']:.4f} rAuC {s['auc_rebalanced']:.4f} PSNR {s['psnr']:.2f} "
                f"CF {s['cf']:.1f}/{s['cf_gt']:.1f} worst margin {s['worst_margin']:+.2f}")
    save_results()
    export(best, args.out, float(best_t[2:]) if best_t != "T=-" else None)
    log("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
