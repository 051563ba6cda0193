"""Turn a trained checkpoint into the shipped weights: fp16 safetensors in files under 16 MiB (the
first names the others) plus a JSON sidecar, with the inference defaults measured for it.

    python scripts/ship_weights.py runs/ft_cpu/checkpoints/best.safetensors --size 128 --temperature 0.7 \
        --hardware "NVIDIA H200 (bf16), then 2 CPU cores" --note "..."

A run folder works too (its best checkpoint). ``--size`` is the working size ``huenet colorize``
uses by default (measured with scripts/working_size.py); ``--temperature`` the annealed mean's T
of a classification model.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import torch

from huenet.checkpoints import load_model, resolve_checkpoint_path, save_checkpoint
from huenet.weights import DEFAULT_WEIGHTS_NAME

LICENSES = {
    "diverse": "diverse: 14 public sets, licenses per source in ../shared/data/diverse/PROVENANCE.txt "
               "(mostly research and education use)",
    "flowers": "TensorFlow flower_photos, CC-BY 2.0 (per-image attributions in LICENSE_flower_photos_attributions.txt)",
    "imagenet": "ImageNet samples, ImageNet terms of access (non-commercial research)",
    "bsds500": "BSDS500, non-commercial research",
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "weights" / DEFAULT_WEIGHTS_NAME)
    ap.add_argument("--size", type=int, required=True, help="default working size (measured)")
    ap.add_argument("--temperature", type=float, default=None)
    ap.add_argument("--restraint", type=float, default=None)
    ap.add_argument("--scales", type=float, nargs="*", default=None, help="multi-scale logits (e.g. 1 2)")
    ap.add_argument("--saturation", type=float, default=None, help="default chroma gain on the output (measured)")
    ap.add_argument("--crop-borders", action=argparse.BooleanOptionalAction, default=None,
                    help="crop uniform frames before the network (the colorizer's default)")
    ap.add_argument("--hardware", required=True)
    ap.add_argument("--note", default="", help="how it was trained, in words (kept in the JSON)")
    ap.add_argument("--data-sources", nargs="*", default=[], help="names of the photo collections trained on")
    ap.add_argument("--earlier", type=Path, default=None,
                    help="the JSON of the shipped weights this checkpoint was fine-tuned from: its training, data "
                         "and provenance are kept as the earlier stage (earlier_stages)")
    args = ap.parse_args()
    path = resolve_checkpoint_path(args.checkpoint)
    model, meta = load_model(path)
    changes = {}
    if args.temperature is not None:
        changes["temperature"] = args.temperature
    if args.restraint is not None:
        changes["restraint"] = args.restraint
    if changes:
        model.config = dataclasses.replace(model.config, **changes)
    data = dict(meta.get("data") or {})
    data["licenses"] = [v for k, v in LICENSES.items() if k in args.data_sources]
    data["collections"] = args.data_sources
    shipped = {
        "training": meta.get("training"),
        "data": data,
        "inference": {"size": args.size, **({"scales": args.scales} if args.scales else {}),
                      **({"saturation": args.saturation} if args.saturation is not None else {}),
                      **({"crop_borders": args.crop_borders} if args.crop_borders is not None else {})},
        "shipped_from": {"checkpoint": str(path), "hardware": args.hardware, "note": args.note},
    }
    if args.earlier is not None:
        before = json.loads(args.earlier.read_text())
        shipped["earlier_stages"] = [*before.get("earlier_stages", []),
                                     {k: before.get(k) for k in ("training", "data", "inference", "shipped_from")}]
    enc = dict(meta.get("encoder_weights") or {})
    if isinstance(enc.get("converted_from"), str):  # written before encoders.py merged a converted file's provenance
        enc = {**json.loads(enc.pop("converted_from")), "converted_file": enc.pop("path", None),
               **{k: v for k, v in enc.items() if k != "source"}}
    model.encoder_provenance = enc
    out = save_checkpoint(args.out, model, meta=shipped, dtype=torch.float16, max_file_bytes=15 * 2**20)
    files = [out, *(out.parent / s for s in json.loads(out.with_suffix(".json").read_text()).get("shards", []))]
    for f in files:
        print(f"wrote {f} ({f.stat().st_size / 2**20:.1f} MiB)")
    print(f"and {out.with_suffix('.json')}")


if __name__ == "__main__":
    main()
