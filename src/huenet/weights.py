"""The shipped default weights: where the package finds them with no configuration.

Resolution order: the ``HUENET_WEIGHTS`` environment variable (a checkpoint path), then
``huenet/_weights/`` inside the package. In a checkout that is a symbolic link to the repository's
``weights/`` folder, so an editable install finds the files in place, and a wheel built from the
checkout (``pip install .``, ``pip wheel .``) carries them as package data.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import HuenetError

DEFAULT_WEIGHTS_NAME = "huenet-lite0-cls.safetensors"


class NoDefaultWeightsError(HuenetError, FileNotFoundError):
    pass


def candidate_paths() -> list[Path]:
    here = Path(__file__).resolve().parent
    paths = []
    if os.environ.get("HUENET_WEIGHTS"):
        paths.append(Path(os.environ["HUENET_WEIGHTS"]))
    paths.append(here / "_weights" / DEFAULT_WEIGHTS_NAME)
    return paths


def default_weights_path() -> Path:
    for p in candidate_paths():
        if p.is_file():
            return p
    tried = ", ".join(str(p) for p in candidate_paths())
    raise NoDefaultWeightsError(
        f"no model given and no shipped weights found (looked at {tried}); "
        "pass a checkpoint with --model PATH (Python: Colorizer.load(PATH))"
    )
