"""Training: the seed's recipe (MSE on ab, Adam 1e-4, lr halved every 3 epochs) on one CPU, one
GPU, or many under ``torchrun`` (DDP), and never losing progress.

A run directory holds::

    config.json            the resolved TrainConfig
    metrics.jsonl          one JSON object per line: train rows (step, epoch, lr, train_loss,
                           images_per_s) and validation rows (step, epoch, lr, val_loss)
    checkpoints/last.*     model + optimizer + scheduler + position (resume from here)
    checkpoints/best.*     model only, lowest validation loss so far
    samples/epoch_NNN.png  Input | Predicted | Original on fixed validation photos
    tb/                    TensorBoard events, when tensorboard is installed

Exact resume: the data order and augmentation of every epoch are a pure function of (seed,
epoch) (``data.EpochPlan``), and a checkpoint stores the position inside the epoch, so a resumed
run sees the same batches as one that never stopped.
"""

from __future__ import annotations

import json
import math
import os
import signal
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from .errors import HuenetError, SettingsError
from .checkpoints import CheckpointError, load_model, optimizer_state, optimizer_tensors, read_checkpoint, save_checkpoint
from .runtime import pick_device, pick_precision
from .config import TrainConfig, apply_overrides
from .data import EpochPlan, PackSource, augment, lab_batch, open_sources, resized_crops
from .figures import contact_sheet, triptych
from .images import pil_from_rgb, save_image
from .color import lab_to_rgb
from .models import ColorNet, create_model
from .objectives import (ClassificationObjective, MSEObjective, ObjectiveConfig, check_scale_reference,
                         prior_from_batches, scale_consistency)


class NonFiniteLossError(HuenetError, RuntimeError):
    """The loss went NaN or infinite; the run keeps its last good checkpoint."""


class CheckpointWriteError(HuenetError, RuntimeError):
    """A checkpoint could not be written (disk full, permissions); the last good one stays."""


# ---------------------------------------------------------------------------------------------
# Distributed setup (torchrun sets RANK, WORLD_SIZE, LOCAL_RANK)


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world > 1


def init_distributed(device_kind: str) -> Dist:
    if "RANK" not in os.environ or int(os.environ.get("WORLD_SIZE", "1")) < 2:
        return Dist()
    import torch.distributed as dist

    backend = "nccl" if device_kind == "cuda" else "gloo"
    dist.init_process_group(backend=backend)
    return Dist(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


# ---------------------------------------------------------------------------------------------
# The loop


class _StopFlag:
    """First Ctrl-C (or SIGTERM from a cluster scheduler) asks for a clean stop at the next step;
    a second Ctrl-C interrupts at once."""

    def __init__(self):
        self.requested = False
        self._old = {}

    def __enter__(self):
        if hasattr(signal, "SIGTERM") and _in_main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


class _RawOutput(nn.Module):
    """The model's raw head output as ``forward``, so that DDP and torch.compile wrap what the
    objective scores (scaled ab, or bin logits at the head's resolution)."""

    def __init__(self, model: ColorNet):
        super().__init__()
        self.model = model

    def forward(self, L: torch.Tensor) -> torch.Tensor:
        return self.model.raw(L)


def _model_config_for(cfg: TrainConfig) -> dict:
    """The classification objective needs a model whose output is bin logits."""
    mc = dict(cfg.model_config)
    if cfg.objective == "classification":
        if mc.get("output", "bins") != "bins":
            raise SettingsError("objective 'classification' needs a model with output = 'bins' (not 'ab')")
        mc["output"] = "bins"
    elif mc.get("output", "ab") != "ab":
        raise SettingsError(f"objective {cfg.objective!r} needs a model with output = 'ab'")
    return mc


class _LossWindow:
    """The train loss and photo count since the last train row, and the time they took."""

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        self.loss, self.n, self.t0 = 0.0, 0, time.perf_counter()

    def add(self, loss: float, n: int) -> None:
        self.loss += loss * n
        self.n += n

    def mean(self) -> float:
        return self.loss / self.n

    def seconds(self) -> float:
        return time.perf_counter() - self.t0


class Trainer:
    def __init__(self, cfg: TrainConfig, resume: bool = False):
        self.cfg = cfg
        self.run_dir = Path(cfg.out)
        self.ckpt_dir = self.run_dir / "checkpoints"
        base_device = pick_device(cfg.device)
        self.dist = init_distributed(base_device.type)
        self.device = torch.device(f"cuda:{self.dist.local_rank}") if base_device.type == "cuda" else base_device
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
            if not cfg.deterministic:
                torch.backends.cudnn.benchmark = True  # fixed training shapes: let cuDNN pick its kernels
        # bf16 autocast only where the hardware has it (1.7x training throughput on this project's
        # CPU, same validation loss; benchmarks/RESULTS.md); emulated bf16 would be slower than fp32
        self.precision = pick_precision("auto", self.device) if cfg.amp else "fp32"
        if cfg.batch_size % self.dist.world:
            raise SettingsError(f"batch size {cfg.batch_size} does not split over {self.dist.world} processes")
        self.local_batch = cfg.batch_size // self.dist.world
        if cfg.deterministic:
            torch.use_deterministic_algorithms(True)
        torch.manual_seed(cfg.seed + self.dist.rank)  # per-rank seeds; the data plan is shared

        self.train_src, self.val_src, self.data_provenance = open_sources(cfg)
        if cfg.preload and self.device.type == "cuda":
            for src in (self.train_src, self.val_src):  # a held-out val shares the train pack: copy once
                if isinstance(src, PackSource) and src.photos.on_device is None:
                    src.photos.to_device(self.device)
        self.steps_per_epoch = len(self.train_src) // cfg.batch_size
        if self.steps_per_epoch < 1:
            raise SettingsError(f"{len(self.train_src)} training photos are fewer than one batch of {cfg.batch_size}")

        ObjectiveConfig(cfg.objective, cfg.rebalance_lambda)  # an unknown objective fails here, before any work
        if cfg.scale_consistency and cfg.objective != "classification":
            raise SettingsError("scale_consistency compares color distributions: it needs objective 'classification'")
        check_scale_reference(cfg.scale_consistency_reference)  # before any work, as the objective above
        if cfg.init_from:
            self.model, _ = load_model(cfg.init_from)
        else:
            self.model = create_model(cfg.model, _model_config_for(cfg))
            if cfg.encoder_weights and cfg.encoder_weights.lower() != "none" and not resume:
                self.model.load_encoder_weights(cfg.encoder_weights)
        self.model.to(self.device)
        if self.device.type == "cuda" and cfg.channels_last:
            self.model.to(memory_format=torch.channels_last)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=cfg.lr, betas=cfg.betas,
                                          weight_decay=cfg.weight_decay)
        step_size = cfg.lr_halving_epochs if cfg.lr_halving_epochs > 0 else 10**9
        self.scheduler = torch.optim.lr_scheduler.StepLR(self.optimizer, step_size=step_size, gamma=0.5)
        self.epoch, self.step, self.step_in_epoch = 0, 0, 0
        self.best_val = math.inf
        self._frozen: int | None = None  # how many encoder layers are frozen now
        self._wrapped: nn.Module = _RawOutput(self.model)
        self._prior_from_checkpoint: torch.Tensor | None = None
        self._t_start = time.perf_counter()  # reset by fit(): the time limit counts from there
        self.tb = None
        if resume:
            self._load_last()
        self.objective = self._make_objective()

    def _make_objective(self):
        cfg = self.cfg
        if cfg.objective == "mse":
            if hasattr(self.model, "ab_bins"):  # e.g. --init-from a classification checkpoint
                raise SettingsError("this model predicts bin logits (output 'bins'): train it with objective "
                                 "'classification', or start an 'ab' model for MSE")
            return MSEObjective(self.model.scaling)
        if not hasattr(self.model, "ab_bins"):
            raise SettingsError("objective 'classification' needs a model with output = 'bins'")
        bins = self.model.ab_bins.detach().float()
        prior = self._prior_from_checkpoint
        if prior is None:  # counted once, on the training photos; saved in every checkpoint after
            n = len(self.train_src)
            k = min(n, cfg.prior_photos)
            idx = torch.linspace(0, n - 1, k).round().long().tolist()
            lists = [idx[i:i + 64] for i in range(0, k, 64)]
            prior = prior_from_batches(
                # every 4th pixel each way: the prior is a smooth distribution over 261 bins, and
                # 1/16 of 4,000 photos' pixels is still ~4 M samples
                (lab_batch(u8[:, :, ::4, ::4].to(self.device).float().div(255))[1]
                 for _, u8 in self.train_src.batches(lists) if u8 is not None),
                bins.to(self.device))
        self.data_provenance["ab_prior_photos"] = min(len(self.train_src), cfg.prior_photos)
        return ClassificationObjective(bins, prior, ObjectiveConfig(
            "classification", cfg.rebalance_lambda))

    # -- state -------------------------------------------------------------------------------
    def _load_last(self) -> None:
        path = self.ckpt_dir / "last.safetensors"
        try:
            tensors, meta = read_checkpoint(path)
        except CheckpointError as e:
            raise CheckpointError(f"cannot resume: {e}") from None
        state = {k: v for k, v in tensors.items() if "/" not in k}
        self.model.load_state_dict(state)
        self.model.encoder_provenance = meta.get("encoder_weights")
        t = meta["train_state"]
        self.optimizer.load_state_dict(optimizer_state(tensors, t["optimizer"]))
        self.scheduler.load_state_dict(t["scheduler"])
        self.epoch, self.step, self.step_in_epoch = t["epoch"], t["step"], t["step_in_epoch"]
        self.best_val = t["best_val"] if t["best_val"] is not None else math.inf
        if "rng/torch" in tensors:
            torch.set_rng_state(tensors["rng/torch"])
        if "objective/prior" in tensors:
            self._prior_from_checkpoint = tensors["objective/prior"].double()

    def _meta(self, val_loss: float | None = None) -> dict:
        return {
            "training": {"recipe": self.cfg.to_dict(), "step": self.step, "epoch": self.epoch,
                         "val_loss": val_loss, "world_size": self.dist.world, "device": self.device.type,
                         "precision": self.precision, "objective": self.objective.state()[1]},
            "data": self.data_provenance,
        }

    def save_last(self) -> Path:
        tensors, opt_meta = optimizer_tensors(self.optimizer)
        tensors["rng/torch"] = torch.get_rng_state()
        tensors.update(self.objective.state()[0])
        meta = self._meta()
        meta["train_state"] = {
            "epoch": self.epoch, "step": self.step, "step_in_epoch": self.step_in_epoch,
            "best_val": None if math.isinf(self.best_val) else self.best_val,
            "scheduler": self.scheduler.state_dict(), "optimizer": opt_meta,
        }
        return self._write(self.ckpt_dir / "last.safetensors", meta, tensors)

    def _write(self, path: Path, meta: dict, tensors: dict | None = None) -> Path:
        try:
            return save_checkpoint(path, self.model, meta=meta, extra_tensors=tensors)
        except OSError as e:
            last = self.ckpt_dir / "last.safetensors"
            keep = f"; the last good checkpoint is {last}" if last.exists() else ""
            raise CheckpointWriteError(f"cannot write checkpoint {path}: {e.strerror or e}{keep}") from None

    # -- metrics -----------------------------------------------------------------------------
    def _log(self, row: dict) -> None:
        if not self.dist.main:
            return
        with open(self.run_dir / "metrics.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")
        if self.tb is not None:
            for k, v in row.items():
                if k not in ("step", "epoch") and isinstance(v, (int, float)):
                    self.tb.add_scalar(k, v, row["step"])

    def _trim_metrics(self) -> None:
        """After a resume, drop rows logged after the checkpoint we resumed from."""
        path = self.run_dir / "metrics.jsonl"
        if not path.exists():
            return
        rows = [ln for ln in path.read_text().splitlines() if ln.strip()]
        keep = []
        for ln in rows:
            try:
                if json.loads(ln)["step"] <= self.step:
                    keep.append(ln)
            except (ValueError, KeyError):
                pass  # a line cut short by a kill
        path.write_text("".join(ln + "\n" for ln in keep))

    # -- evaluation ----------------------------------------------------------------------------
    def _val_batches(self, limit: int):
        n = min(len(self.val_src), limit)
        c = (self.val_src.stored - self.cfg.size) // 2
        idx = list(range(n))
        lists = [idx[i:i + self.local_batch * 2] for i in range(0, n, self.local_batch * 2)]
        for kept, u8 in self.val_src.batches(lists):
            if u8 is None:
                continue
            k = len(kept)
            z = torch.full((k,), c, dtype=torch.long)
            rgb = augment(u8, z, z, torch.zeros(k, dtype=torch.bool), self.cfg.size)
            yield rgb.to(self.device, non_blocking=True)

    @torch.no_grad()
    def validate(self) -> float | None:
        if self.val_src is None or len(self.val_src) == 0:
            return None
        self.model.eval()
        total, count = 0.0, 0
        for rgb in self._val_batches(self.cfg.val_max):
            L, ab = lab_batch(rgb)
            with self._autocast():
                raw = self.model.raw(self._layout(L))
            total += self.objective.loss(raw, ab).item() * len(rgb)
            count += len(rgb)
        self.model.train()
        return total / max(count, 1)

    @torch.no_grad()
    def sample_sheet(self) -> Path | None:
        if self.val_src is None or len(self.val_src) == 0 or self.cfg.samples <= 0:
            return None
        self.model.eval()
        rows = []
        for rgb in self._val_batches(self.cfg.samples):
            L, _ = lab_batch(rgb)
            with self._autocast():
                pred = self.model(self._layout(L)).float()
            zeros = torch.zeros_like(pred)
            gray = lab_to_rgb(torch.cat([L, zeros], 1))
            color = lab_to_rgb(torch.cat([L, pred], 1))
            for g, p, o in zip(gray, color, rgb):
                rows.append(triptych(*[pil_from_rgb(t.permute(1, 2, 0).float().cpu().numpy()) for t in (g, p, o)]))
            break
        self.model.train()
        path = self.run_dir / "samples" / f"epoch_{self.epoch:03d}.png"
        save_image(contact_sheet(rows), path)
        return path

    def _autocast(self):
        if self.precision == "bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return nullcontext()

    def _layout(self, x: torch.Tensor) -> torch.Tensor:
        if self.device.type == "cuda" and self.cfg.channels_last:
            return x.contiguous(memory_format=torch.channels_last)
        return x

    # -- the loop ------------------------------------------------------------------------------
    def _set_freeze(self) -> None:
        if not hasattr(self.model, "encoder"):  # a network without a pretrained encoder (resnet_johnson)
            if self.cfg.freeze_encoder_epochs or self.cfg.freeze_through:
                raise SettingsError(f"{self.cfg.model} has no encoder to freeze (freeze_encoder_epochs / freeze_through)")
            if self._frozen is None:
                self._frozen = 0
                self._wrap()
            return
        names = self.model.encoder.layer_names
        if self.epoch < self.cfg.freeze_encoder_epochs:
            frozen = len(names)  # the whole encoder
        elif self.cfg.freeze_through:
            if self.cfg.freeze_through not in names:
                raise SettingsError(f"freeze_through: no encoder layer {self.cfg.freeze_through!r} (have {names})")
            frozen = names.index(self.cfg.freeze_through) + 1
        else:
            frozen = 0
        if frozen == self._frozen:
            return
        self._frozen = frozen
        for i, layer in enumerate(self.model.encoder.features):
            for p in layer.parameters():
                p.requires_grad_(i >= frozen)
        self._wrap()

    def _wrap(self) -> None:
        model: nn.Module = _RawOutput(self.model)
        if self.cfg.compile:
            model = torch.compile(model)
        if self.dist.enabled:  # DDP must be rebuilt when the set of trained parameters changes
            from torch.nn.parallel import DistributedDataParallel as DDP

            model = DDP(model, device_ids=[self.dist.local_rank] if self.device.type == "cuda" else None)
        self._wrapped = model

    def fit(self) -> Path:
        cfg = self.cfg
        if self.dist.main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            for stale in self.ckpt_dir.glob(".*.tmp"):  # left by a run killed mid-write
                stale.unlink(missing_ok=True)
            (self.run_dir / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2) + "\n")
            self._trim_metrics()
        self.tb = _tensorboard(self.run_dir / "tb") if self.dist.main else None
        total_steps = cfg.epochs * self.steps_per_epoch
        if cfg.max_steps:
            total_steps = min(total_steps, cfg.max_steps)
        bar = tqdm(total=total_steps, initial=self.step, unit="step", dynamic_ncols=True,
                   disable=not (cfg.progress and self.dist.main))
        self.model.train()
        stopped = False
        self._t_start = time.perf_counter()
        with _StopFlag() as stop:
            while self.epoch < cfg.epochs and self.step < total_steps and not stopped:
                self._set_freeze()
                stopped = self._run_epoch(bar, stop, total_steps)
        bar.close()
        if self.tb is not None:
            self.tb.close()
        if self.dist.enabled:
            import torch.distributed as dist

            dist.barrier()
            dist.destroy_process_group()
        return self.run_dir

    def _run_epoch(self, bar, stop, total_steps: int) -> bool:
        """The epoch (or what is left of it after a resume): ``_train_step`` on each batch, then
        the after-step hooks (``_after_step``); returns whether the run stops here (Ctrl-C,
        SIGTERM, or the time limit), with its 'last' checkpoint saved either way."""
        cfg = self.cfg
        B, b, r = cfg.batch_size, self.local_batch, self.dist.rank
        plan = EpochPlan.make(len(self.train_src), self.train_src.stored, cfg.size, cfg.seed, self.epoch,
                              cfg.crop_scale, cfg.crop_aspect, cfg.train_sizes, self.steps_per_epoch)
        first = self.step_in_epoch
        last = min(self.steps_per_epoch, first + total_steps - self.step)
        positions = [torch.arange(s * B + r * b, s * B + (r + 1) * b) for s in range(first, last)]
        index_lists = [plan.order[p].tolist() for p in positions]
        window = _LossWindow()
        halt = None
        for pos, (kept, u8) in zip(positions, self.train_src.batches(index_lists)):
            if u8 is not None:
                window.add(self._train_step(plan, pos[kept], u8), len(kept))
            self.step += 1
            self.step_in_epoch += 1
            bar.update(1)
            halt = self._after_step(bar, window, stop)
            if halt:
                break
        epoch_done = self.step_in_epoch >= self.steps_per_epoch
        if halt == "stopped" or (halt == "time" and not epoch_done):
            if halt == "time":
                self._validate_and_keep_best()
            if self.dist.main:
                path = self.save_last()
                why = f"time limit of {cfg.time_limit_min:g} min reached" if halt == "time" else "stopped"
                print(f"\n{why} at step {self.step}; saved {path}; continue with --resume {self.run_dir}",
                      file=sys.stderr)
            return True
        if epoch_done:  # the scheduler counts epochs
            self.epoch += 1
            self.step_in_epoch = 0
            self.scheduler.step()
            self._validate_and_keep_best()
            if self.dist.main:
                self.sample_sheet()
        if self.dist.main:
            self.save_last()
            if halt == "time":  # the time ran out on the epoch's last step: it was finished as usual
                print(f"\ntime limit of {cfg.time_limit_min:g} min reached at step {self.step}; "
                      f"continue with --resume {self.run_dir}", file=sys.stderr)
        return halt is not None

    def _train_step(self, plan: EpochPlan, p: torch.Tensor, u8: torch.Tensor) -> float:
        """One optimizer step on the photos ``u8`` (at positions ``p`` of the epoch's plan);
        returns the batch's loss. A loss that is not finite stops the run (the last good
        checkpoint stays)."""
        cfg = self.cfg
        if plan.boxes is None:
            rgb = augment(u8, plan.top[p], plan.left[p], plan.flip[p], cfg.size)
            rgb = rgb.to(self.device, non_blocking=True)
        else:  # resampled where the batch is (the GPU, with a preloaded pack)
            size = int(plan.sizes[self.step_in_epoch])
            rgb = resized_crops(u8.to(self.device, non_blocking=True), plan.boxes[p], plan.flip[p], size)
        loss = self._loss(*lab_batch(rgb))
        if not torch.isfinite(loss):
            last_ckpt = self.ckpt_dir / "last.safetensors"
            where = f"last good checkpoint: {last_ckpt}" if last_ckpt.exists() else "no checkpoint was saved yet"
            raise NonFiniteLossError(f"loss became {loss.item()} at step {self.step + 1} (epoch {self.epoch + 1}); "
                                     f"training stopped; {where}")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss.item()

    def _loss(self, L: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
        """The objective on the batch; with ``scale_consistency``, also on the batch at half size,
        plus the weighted pull between the two views (toward ``scale_consistency_reference``)."""
        with self._autocast():
            raw = self._wrapped(self._layout(L))
        loss = self.objective.loss(raw, ab)
        if self.cfg.scale_consistency:
            half = F.interpolate(L, scale_factor=0.5, mode="bilinear", antialias=True, align_corners=False)
            with self._autocast():
                raw_half = self._wrapped(self._layout(half))
            loss = loss + self.objective.loss(raw_half, ab) + self.cfg.scale_consistency * scale_consistency(
                raw_half, raw, self.cfg.scale_consistency_reference)
        return loss

    def _after_step(self, bar, window: "_LossWindow", stop: "_StopFlag") -> str | None:
        """The hooks after each step: the train row every ``log_every`` steps, validation every
        ``val_every``, the 'last' checkpoint every ``save_every``; returns ``"stopped"``,
        ``"time"`` (the time limit) or None."""
        cfg = self.cfg
        if self.step % cfg.log_every == 0 and window.n:
            ips = window.n * self.dist.world / window.seconds()
            row = {"step": self.step, "epoch": self.epoch + self.step_in_epoch / self.steps_per_epoch,
                   "lr": self.optimizer.param_groups[0]["lr"], "train_loss": window.mean(), "images_per_s": ips}
            self._log(row)
            bar.set_postfix(loss=f"{row['train_loss']:.5f}", img_s=f"{ips:.1f}")
            window.reset()
        if cfg.val_every and self.step % cfg.val_every == 0 and self.step_in_epoch < self.steps_per_epoch:
            self._validate_and_keep_best()
        if cfg.save_every and self.step % cfg.save_every == 0 and self.dist.main:
            self.save_last()
        out_of_time = bool(cfg.time_limit_min) and time.perf_counter() - self._t_start > cfg.time_limit_min * 60
        if self.dist.enabled and cfg.time_limit_min:  # every rank stops at the same step
            flag = torch.tensor([float(out_of_time)], device=self.device)
            torch.distributed.all_reduce(flag)
            out_of_time = bool(flag.item())
        return "stopped" if stop.requested else "time" if out_of_time else None

    def _validate_and_keep_best(self) -> None:
        if not self.dist.main:
            if self.dist.enabled:
                torch.distributed.barrier()
            return
        val = self.validate()
        if val is not None:
            self._log({"step": self.step, "epoch": self.epoch + self.step_in_epoch / self.steps_per_epoch,
                       "lr": self.optimizer.param_groups[0]["lr"], "val_loss": val})
            if val < self.best_val:
                self.best_val = val
                self._write(self.ckpt_dir / "best.safetensors", self._meta(val_loss=val), self.objective.state()[0])
        if self.dist.enabled:
            torch.distributed.barrier()


def _tensorboard(path: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except Exception:  # tensorboard not installed: metrics.jsonl is the record
        return None
    return SummaryWriter(str(path))


def train(cfg: TrainConfig) -> Path:
    return Trainer(cfg).fit()


def resume(run_dir: str | os.PathLike, **overrides) -> Path:
    """Continue a run from ``RUN/checkpoints/last.safetensors`` with its saved config."""
    run_dir = Path(run_dir)
    cfg_path = run_dir / "config.json"
    if not cfg_path.is_file():
        raise FileNotFoundError(f"{run_dir}: not a run folder (no config.json)")
    cfg = TrainConfig.from_dict(json.loads(cfg_path.read_text()))
    cfg = apply_overrides(cfg, out=str(run_dir), **overrides)
    return Trainer(cfg, resume=True).fit()
