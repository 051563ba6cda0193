"""Training configuration: one dataclass holds every default (the seed's recipe); a TOML recipe
overrides it; command-line flags override the recipe; the run saves the result.

A recipe has two tables::

    [model]            # registry name + that model's config fields
    name = "vgg_fusion"
    encoder = "vgg19"

    [train]            # fields of TrainConfig
    epochs = 25
    encoder_weights = "imagenet"
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from .errors import SettingsError


@dataclass
class TrainConfig:
    # what to train
    model: str = "vgg_fusion"
    model_config: dict[str, Any] = field(default_factory=dict)
    encoder_weights: str | None = None  # "imagenet", "hed:PATH", a .pth/.safetensors file, or None
    init_from: str | None = None  # start from a huenet checkpoint's weights (fine-tuning)
    # data
    data: str = ""  # a pack (huenet prepare) or a folder / list / LaMem root
    val_data: str | None = None  # a separate pack/folder for validation (default: data's val split)
    val_fraction: float = 0.1  # held out (fixed seed) from folders and packs without a val split
    val_max: int = 512  # validate on at most this many photos (fixed, the first ones)
    preload: bool = False  # read the whole pack into memory once (into GPU memory on CUDA)
    workers: int = 2  # DataLoader workers when reading folders directly
    # the objective (objectives.py): "mse" (the seed's) or "classification" (Zhang et al. 2016: the
    # model's output becomes logits over the ab bins; rebalanced cross-entropy on soft targets)
    objective: str = "mse"
    rebalance_lambda: float = 0.5  # classification: 1 = no rebalancing, 0 = the full inverse prior
    prior_photos: int = 4000  # classification: photos (evenly spaced) the ab prior is counted on
    # the seed's recipe
    epochs: int = 25
    batch_size: int = 16  # global: split across processes under torchrun
    size: int = 128  # training crop (random crop of the pack's stored size); validation's center crop
    # random resized crops (beyond the seed): a box of crop_scale of the photo's area, aspect in
    # crop_aspect, resampled to one of train_sizes (one size per batch; default: size)
    crop_scale: tuple[float, float] | None = None  # None: the seed's plain crops
    crop_aspect: tuple[float, float] = (3 / 4, 4 / 3)
    train_sizes: tuple[int, ...] = ()
    lr: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    lr_halving_epochs: int = 3  # lr *= 0.5 every this many epochs (0 = constant)
    freeze_encoder_epochs: int = 0  # train only the decoder for the first K epochs
    # classification: also train on each batch at half its size, and pull the two views' color
    # distributions together (objectives.scale_consistency) with this weight (0: off)
    scale_consistency: float = 0.0
    # the view held fixed, the other pulled toward it: "small" (the half-size view) or "large"
    scale_consistency_reference: str = "small"
    freeze_through: str | None = None  # keep encoder layers up to this one (e.g. "pool3") frozen throughout
    max_steps: int = 0  # stop after this many optimizer steps in all (0 = no limit)
    time_limit_min: float = 0.0  # stop cleanly (saving 'last') after this many minutes of this invocation (0 = none)
    # run
    out: str = "runs/run"
    seed: int = 0
    device: str = "auto"
    amp: bool = True  # bf16 autocast where the device has bf16 natively (CUDA; CPUs with AVX512-BF16/AMX)
    channels_last: bool = True  # on CUDA
    compile: bool = False  # torch.compile the model (CUDA)
    deterministic: bool = False  # torch.use_deterministic_algorithms (for exact resume tests)
    log_every: int = 10  # steps between metrics.jsonl train rows
    val_every: int = 0  # steps between validations (0 = at the end of each epoch)
    save_every: int = 0  # steps between 'last' checkpoints (0 = at the end of each epoch)
    samples: int = 6  # validation photos in each epoch's sample sheet
    progress: bool = True

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise SettingsError(f"unknown training settings {sorted(unknown)}")
        values = dict(values)
        for key in ("betas", "crop_scale", "crop_aspect", "train_sizes"):
            if isinstance(values.get(key), list):
                values[key] = tuple(values[key])
        return cls(**values)


def load_recipe(path: str | Path, base: TrainConfig | None = None) -> TrainConfig:
    """Apply a TOML recipe over ``base`` (default: the dataclass defaults)."""
    path = Path(path)
    try:
        recipe = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise SettingsError(f"{path}: not valid TOML ({e})") from None
    unknown = set(recipe) - {"model", "train"}
    if unknown:
        raise SettingsError(f"{path}: unknown tables {sorted(unknown)} (use [model] and [train])")
    values = (base or TrainConfig()).to_dict()
    model = dict(recipe.get("model", {}))
    if "name" in model:
        values["model"] = model.pop("name")
    values["model_config"] = {**values["model_config"], **model}
    train = recipe.get("train", {})
    if "model_config" in train or "model" in train:
        raise SettingsError(f"{path}: set the model in the [model] table")
    values.update(train)
    try:
        return TrainConfig.from_dict(values)
    except ValueError as e:
        raise SettingsError(f"{path}: {e}") from None


def apply_overrides(cfg: TrainConfig, **overrides: Any) -> TrainConfig:
    """Command-line flags: ``None`` means 'not given'."""
    return dataclasses.replace(cfg, **{k: v for k, v in overrides.items() if v is not None})
