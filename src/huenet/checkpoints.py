"""Checkpoints: one safetensors file (tensors + JSON metadata) and a JSON sidecar for people.

``X.safetensors`` holds the model's tensors (and, for training checkpoints, the optimizer's under
``optim/``); its header metadata ``huenet`` is the JSON config: model name and config, color
scaling, encoder provenance, training recipe and data when known. ``X.json`` beside it repeats that
JSON, readable without any library. Loading never unpickles anything.

Writes are atomic: bytes go to a temporary file in the same folder, are fsync'ed, then renamed over
the target, so a crash leaves either the old checkpoint or the new one, never half of one.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as safetensors_bytes

from .errors import HuenetError
from .color import LabScaling
from .models import ColorNet, create_model

FORMAT = "huenet-checkpoint"
FORMAT_VERSION = 1
_META_KEY = "huenet"


class CheckpointError(HuenetError):
    """A checkpoint that cannot be used; the message names the file and the reason."""


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; give the file normal permissions
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    # Make the rename itself durable.
    try:
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def model_metadata(model: ColorNet) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model": model.model_name,
        "config": model.config_dict(),
        "color_scaling": model.scaling.to_dict(),
        "parameters": model.num_parameters(),
        "encoder_weights": getattr(model, "encoder_provenance", None),
    }


def save_checkpoint(
    path: str | os.PathLike,
    model: ColorNet,
    *,
    meta: dict[str, Any] | None = None,
    extra_tensors: dict[str, torch.Tensor] | None = None,
    dtype: torch.dtype | None = None,
    max_file_bytes: int | None = None,
) -> Path:
    """Write ``path`` (``.safetensors``) and its ``.json`` sidecar. ``dtype=torch.float16`` halves
    the size of shipped weights (loaded back as float32). ``max_file_bytes`` splits the tensors
    over ``NAME.safetensors`` and ``NAME-2.safetensors``, ``NAME-3...`` (each at most that size,
    when no single tensor is larger); the first file's metadata lists the others, so a checkpoint
    is still named by its first file."""
    path = Path(path)
    if path.suffix != ".safetensors":
        path = path.with_suffix(".safetensors")
    tensors: dict[str, torch.Tensor] = {}
    for k, v in model.state_dict().items():
        v = v.detach().cpu()
        if dtype is not None and v.is_floating_point():
            v = v.to(dtype)
        tensors[k] = v.contiguous()
    for k, v in (extra_tensors or {}).items():
        tensors[k] = v.detach().cpu().contiguous()
    full_meta = {**model_metadata(model), **(meta or {})}
    if dtype is not None:
        full_meta["stored_dtype"] = str(dtype).replace("torch.", "")
    groups = _split_tensors(tensors, max_file_bytes) if max_file_bytes else [tensors]
    shard_names = [f"{path.stem}-{i}.safetensors" for i in range(2, len(groups) + 1)]
    full_meta.pop("shards", None)
    if shard_names:
        full_meta["shards"] = shard_names
    text = json.dumps(full_meta, sort_keys=True)
    for name, group in zip(shard_names, groups[1:]):  # the parts first: the first file names them
        atomic_write_bytes(path.parent / name, safetensors_bytes(group, metadata={_META_KEY + "_part_of": path.name}))
    atomic_write_bytes(path, safetensors_bytes(groups[0], metadata={_META_KEY: text}))
    atomic_write_bytes(path.with_suffix(".json"), (json.dumps(full_meta, indent=2, sort_keys=True) + "\n").encode())
    return path


def _split_tensors(tensors: dict[str, torch.Tensor], max_bytes: int) -> list[dict[str, torch.Tensor]]:
    """Tensors in their order, cut into groups of at most ``max_bytes`` (less a margin for headers)."""
    budget = max_bytes - 64 * 1024
    groups: list[dict[str, torch.Tensor]] = [{}]
    used = 0
    for k, v in tensors.items():
        n = v.numel() * v.element_size()
        if groups[-1] and used + n > budget:
            groups.append({})
            used = 0
        groups[-1][k] = v
        used += n
    return groups


def resolve_checkpoint_path(path: str | os.PathLike) -> Path:
    """A ``.safetensors`` file, or a folder holding ``model.safetensors`` or a run's
    ``checkpoints/best.safetensors`` (then ``last``)."""
    p = Path(path)
    if p.is_dir():
        for cand in (p / "model.safetensors", p / "checkpoints" / "best.safetensors",
                     p / "checkpoints" / "last.safetensors", p / "best.safetensors"):
            if cand.is_file():
                return cand
        raise CheckpointError(f"{p}: folder holds no model.safetensors or checkpoints/best.safetensors")
    if not p.exists():
        raise CheckpointError(f"{p}: no such checkpoint")
    return p


def read_checkpoint(path: str | os.PathLike, prefix: str | None = None) -> tuple[dict[str, torch.Tensor], dict]:
    """Tensors (all, or those under ``prefix``) and the metadata dict, without unpickling."""
    p = resolve_checkpoint_path(path)
    with open(p, "rb") as f:
        head = f.read(9)
    # safetensors: 8-byte little-endian header length, then a JSON header.
    looks_safetensors = len(head) == 9 and head[8:9] == b"{"
    if not looks_safetensors and (head[:1] == b"\x80" or head[:2] == b"PK"):
        raise CheckpointError(
            f"{p}: this is a pickle/zip (torch.save) file; huenet loads only safetensors checkpoints "
            "because unpickling an untrusted file can run arbitrary code"
        )
    try:
        tensors = {}
        with safe_open(str(p), framework="pt", device="cpu") as f:
            raw = f.metadata() or {}
            for k in f.keys():
                if prefix is None or k.startswith(prefix):
                    tensors[k] = f.get_tensor(k)
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{p}: not a valid safetensors checkpoint ({e})") from None
    if _META_KEY in raw:
        meta = json.loads(raw[_META_KEY])
    elif p.with_suffix(".json").is_file():
        meta = json.loads(p.with_suffix(".json").read_text())
    else:
        raise CheckpointError(f"{p}: no huenet config (neither in the file's metadata nor a .json beside it)")
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{p}: config is not a {FORMAT} (format={meta.get('format')!r})")
    for name in meta.get("shards", []):
        part = p.parent / name
        if Path(name).name != name or not name.endswith(".safetensors"):
            raise CheckpointError(f"{p}: names a part {name!r} outside its folder")
        try:
            with safe_open(str(part), framework="pt", device="cpu") as f:
                for k in f.keys():
                    if prefix is None or k.startswith(prefix):
                        tensors[k] = f.get_tensor(k)
        except (SafetensorError, OSError, ValueError) as e:
            raise CheckpointError(f"{p}: its part {part} cannot be read ({e})") from None
    return tensors, meta


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[ColorNet, dict]:
    """Build the model a checkpoint names from its config and load its weights (float32)."""
    tensors, meta = read_checkpoint(path)
    p = resolve_checkpoint_path(path)
    try:
        # built without memory or random initialisation (0.14 s of a one-photo `huenet colorize`):
        # every tensor comes from the checkpoint (strict), and anything left over is an error below
        with torch.device("meta"):
            model = create_model(meta["model"], meta.get("config", {}))
    except (KeyError, ValueError, TypeError) as e:
        raise CheckpointError(f"{p}: cannot build model from its config ({e})") from None
    scaling = meta.get("color_scaling")
    if scaling:
        model.scaling = LabScaling(**scaling)
    state = {k: v.float() if v.is_floating_point() else v for k, v in tensors.items() if "/" not in k}  # "optim/...", "rng/..." are training state
    try:
        model.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as e:
        raise CheckpointError(f"{p}: weights do not fit the model its config describes ({e})") from None
    left = [n for n, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
    if left:
        raise CheckpointError(f"{p}: the checkpoint has no values for {', '.join(left)}")
    model.encoder_provenance = meta.get("encoder_weights")
    model.checkpoint_meta = meta
    return model.to(device).eval(), meta


# -- optimizer state (a training run's last.safetensors) --------------------------------------


def optimizer_tensors(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """An optimizer's state as (tensors for the checkpoint, ``optim/<param>/<name>``; JSON-able rest)."""
    sd = opt.state_dict()
    tensors, scalars = {}, {}
    for pid, st in sd["state"].items():
        for k, v in st.items():
            if torch.is_tensor(v):
                tensors[f"optim/{pid}/{k}"] = v
            else:
                scalars[f"{pid}/{k}"] = v
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def optimizer_state(tensors: dict[str, torch.Tensor], meta: dict) -> dict:
    """The optimizer state dict ``optimizer_tensors`` took apart, put back together."""
    state: dict[int, dict] = {}
    for key, v in tensors.items():
        if key.startswith("optim/"):
            _, pid, k = key.split("/", 2)
            state.setdefault(int(pid), {})[k] = v
    for key, v in meta["scalars"].items():
        pid, k = key.split("/", 1)
        state.setdefault(int(pid), {})[k] = v
    groups = meta["param_groups"]
    for g in groups:
        if isinstance(g.get("betas"), list):
            g["betas"] = tuple(g["betas"])
    return {"state": state, "param_groups": groups}
