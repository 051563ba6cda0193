"""The full-resolution color path in one pass per pixel (optional: ``pip install 'huenet[fast]'``).

``Colorizer.to_srgb_u8`` otherwise runs some twenty tensor passes over every band of rows: bilinear
ab upsampling, Lab -> XYZ -> linear RGB, the gamut test, the hue- and L-keeping bisection for the
pixels outside the gamut, and the 8-bit sRGB encoding. Here one numba kernel does all of it for a
pixel while its values are in registers, rows in parallel. The tensor path stays: it is the
fallback without numba, the path on GPUs, and the reference the tests hold this one to (the same
8-bit codes but for float rounding: within 1 on >= 99.9% of pixels, never more than 2).

The kernel is compiled once per machine and cached beside this file (numba's ``cache=True``); the
first call in a fresh install spends a few seconds compiling, so the colorizer uses it only for
photos large enough to repay that (``colorize.FUSED_MIN_PIXELS``), where the passes over memory dominate.
"""

from __future__ import annotations

import threading

import numpy as np
import torch

_LOCK = threading.Lock()


def available() -> bool:
    """Whether numba is installed (found without importing it: importing costs ~0.3 s)."""
    import importlib.util

    return importlib.util.find_spec("numba") is not None


_TABLES: tuple | None = None  # made once: the color matrix and the sRGB encoding tables


def _tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(XYZ/white -> linear RGB 3x3, code at the start of each of 65,536 cells of [0, 1], the linear
    value where code k turns into k + 1 for k = 0..254)."""
    global _TABLES
    if _TABLES is None:
        from .color import _XYZN_TO_RGB, srgb_to_linear

        bounds = srgb_to_linear((torch.arange(255, dtype=torch.float64) + 0.5) / 255.0).numpy()
        starts = np.arange(65536, dtype=np.float64) / 65535.0
        lut = np.searchsorted(bounds, starts, side="right").astype(np.int32)  # codes whose bound <= start
        _TABLES = (_XYZN_TO_RGB.double().numpy().copy(), lut, bounds)
    return _TABLES


def _kernel():
    try:
        from ._fused_kernels import srgb_u8_kernel
    except ImportError as e:
        raise RuntimeError(f"the fused color path needs numba: pip install 'huenet[fast]' ({e})") from None
    return srgb_u8_kernel


def fused_srgb_u8(L: torch.Tensor, ab_small: torch.Tensor, steps: int = 10, tol: float = 1e-4) -> torch.Tensor:
    """``N x 1 x H x W`` L (CPU, float32) and ``N x 2 x h x w`` ab at the working size -> ``N x 3 x H
    x W`` uint8 sRGB stored channels last, as ``Colorizer.to_srgb_u8`` returns it."""
    kernel = _kernel()
    n, _, h, w = L.shape
    out = torch.empty(n, h, w, 3, dtype=torch.uint8)
    Ln = L.detach().float().contiguous().numpy()
    abn = ab_small.detach().float().cpu().contiguous().numpy()
    on = out.numpy()
    m, lut, bounds = _tables()
    # numba's default threading layer (workqueue) must not be entered from two threads at once (a
    # server with --workers 2 would); the kernel uses every core anyway, so calls take turns
    with _LOCK:
        for k in range(n):
            kernel(Ln[k, 0], abn[k], on[k], m, lut, bounds, steps, tol)
    return out.permute(0, 3, 1, 2)
