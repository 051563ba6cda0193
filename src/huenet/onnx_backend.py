"""The onnxruntime backend: an exported graph (a file, bytes, or a model exported in memory) as a
function ``L (N x 1 x H x W) -> ab`` that ``Colorizer`` runs instead of PyTorch, and a check that
the two backends agree."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable, Sequence

import torch

from .color import l_from_rgb
from .export import export_bytes, require
from .images import load_photo, working_size
from .models import ColorNet


def onnx_session(source: bytes | str | os.PathLike):
    ort = require("onnxruntime")
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
