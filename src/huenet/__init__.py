"""huenet: automatic photo colorization. Grayscale (L) in, plausible color (ab) out.

    >>> from huenet import Colorizer
    >>> Colorizer.load().colorize("old.jpg").save("old-color.png")

The names below are imported on first use (PEP 562), so that ``import huenet.cli`` (and
``huenet --help``) does not load PyTorch.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "Colorizer": "colorize",
    "ColorizerSettings": "settings",
    "OutputSettings": "settings",
    "HuenetError": "errors",
    "LabScaling": "color",
    "lab_to_rgb": "color",
    "rgb_to_lab": "color",
    "create_model": "models",
    "model_names": "models",
}
__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'huenet' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
