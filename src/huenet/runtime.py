"""Where and in what arithmetic the network runs: the device (``auto``: CUDA, then MPS, then the
CPU) and the precision (``auto``: bf16 where the device computes it natively, else fp32). Used by
colorizing and training alike."""

from __future__ import annotations

import torch

from .errors import SettingsError


def pick_device(device: str = "auto") -> torch.device:
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise SettingsError("--device cuda asked for, but PyTorch sees no CUDA GPU")
    if device == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise SettingsError("--device mps asked for, but MPS is not available")
    return torch.device(device)


def cpu_has_native_bf16() -> bool:
    """Whether this CPU multiplies bf16 in hardware (AVX512-BF16 or AMX). Where it does not,
    bf16 is emulated and slower than fp32, so ``precision="auto"`` stays fp32 there."""
    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except AttributeError:  # private helpers: a torch without them gets fp32
        return False


def pick_precision(precision: str, device: torch.device) -> str:
    """``auto`` -> ``bf16`` where the device computes bf16 natively (CUDA with bf16, CPUs with
    AVX512-BF16/AMX), else ``fp32``. bf16 autocast runs the network 1.8x faster on this project's
    CPU and moves ab by 0.03-0.08 on average (max 0.7; a just-noticeable color step is ~2)."""
    if precision in ("fp32", "bf16"):
        return precision
    if precision != "auto":
        raise SettingsError(f"unknown precision {precision!r}; use auto, fp32 or bf16")
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    if device.type == "cpu":
        return "bf16" if cpu_has_native_bf16() else "fp32"
    return "fp32"
