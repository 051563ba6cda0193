"""ONNX export (dynamic batch, height and width); the onnxruntime backend that runs it is ``onnx_backend.py``.

The exported graph is the whole network as ``ColorNet.forward`` defines it: L in [0, 100]
(``N x 1 x H x W``, float32) in, ab in Lab units out, padding to a multiple of 32 included. The
checkpoint's JSON config travels in the ONNX file's metadata (key ``huenet``), so an ``.onnx`` file
is self-describing. Pre- and post-processing (Lab, resizing) stay in ``Colorizer``, shared by both
backends.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import torch

from .checkpoints import atomic_write_bytes
from .errors import missing_extra
from .models import ColorNet


def require(module: str):
    """Import one of the ``huenet[onnx]`` extra's modules, or say how to install it."""
    try:
        return __import__(module)
    except ImportError as e:
        raise missing_extra(f"ONNX support needs {module}", "onnx", e) from None


def export_bytes(model: ColorNet, meta: dict | None = None, opset: int = 18) -> bytes:
    """Serialized ONNX model with symbolic batch, height and width."""
    require("onnxscript")
    model = model.float().cpu().eval()
    # A sample whose sides are not multiples of 32, so that no shape-dependent step is traced away.
    sample = torch.rand(2, 1, 75, 110) * 100
    dyn = torch.export.Dim.DYNAMIC
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(model, (sample,), dynamo=True, opset_version=opset, input_names=["L"],
                                    output_names=["ab"], dynamic_shapes={"L": {0: dyn, 2: dyn, 3: dyn}},
                                    verbose=False)
    proto = program.model_proto
    if meta:
        entry = proto.metadata_props.add()
        entry.key, entry.value = "huenet", json.dumps(meta, sort_keys=True)
    return proto.SerializeToString()


def export_onnx(model: ColorNet, path: str | os.PathLike, meta: dict | None = None) -> Path:
    path = Path(path)
    atomic_write_bytes(path, export_bytes(model, meta))
    return path
