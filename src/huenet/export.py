"""ONNX export (dynamic batch, height and width) and the onnxruntime backend.

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
from typing import Callable, Sequence

import torch

from .models import ColorNet


def _require(module: str):
    try:
        return __import__(module)
    except ImportError:
        raise RuntimeError(f"ONNX support needs {module}: pip install 'huenet[onnx]'") from None


def export_bytes(model: ColorNet, meta: dict | None = None, opset: int = 18) -> bytes:
    """Serialized ONNX model with symbolic batch, height and width."""
    _require("onnxscript")
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
    from .checkpoints import atomic_write_bytes

    path = Path(path)
    atomic_write_bytes(path, export_bytes(model, meta))
    return path


def onnx_session(source: bytes | str | os.PathLike):
    ort = _require("onnxruntime")
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    return ort.InferenceSession(data, sess_options=opts, providers=["CPUExecutionProvider"])


def onnx_metadata(path: str | os.PathLike) -> dict:
    session = onnx_session(path)
    text = session.get_modelmeta().custom_metadata_map.get("huenet")
    return json.loads(text) if text else {}


def onnx_runner(source: ColorNet | bytes | str | os.PathLike, meta: dict | None = None) -> Callable[[torch.Tensor], torch.Tensor]:
    """A function ``L (N x 1 x H x W) -> ab`` that runs on onnxruntime; from a model (exported
    in memory) or an ``.onnx`` file/bytes."""
    data = export_bytes(source, meta) if isinstance(source, ColorNet) else source
    session = onnx_session(data)

    def run(L: torch.Tensor) -> torch.Tensor:
        out = session.run(["ab"], {"L": L.detach().cpu().float().contiguous().numpy()})[0]
        return torch.from_numpy(out)

    return run


def compare_backends(model: ColorNet, onnx_source: bytes | str | os.PathLike, photos: Sequence[str | os.PathLike],
                     size: int = 256) -> list[tuple[str, float]]:
    """Max |ab_onnx - ab_torch| (Lab units) per photo, at working size ``size``."""
    from .colorize import working_size
    from .images import load_photo
    from .color import l_from_rgb

    run = onnx_runner(onnx_source)
    results = []
    model = model.float().cpu().eval()
    for p in photos:
        photo = load_photo(p)
        rgb = torch.from_numpy(photo.rgb).permute(2, 0, 1)[None]
        L = l_from_rgb(rgb)
        h, w = working_size(*L.shape[-2:], size)
        L = torch.nn.functional.interpolate(L, size=(h, w), mode="bilinear", antialias=True, align_corners=False)
        with torch.no_grad():
            ref = model(L)
        results.append((str(p), float((run(L) - ref).abs().max())))
    return results
