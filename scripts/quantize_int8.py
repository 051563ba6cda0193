"""Static int8 quantization of an exported huenet network with onnxruntime (issue 14, item 4):
weights per channel, activations calibrated on photos the model was not scored on.

    huenet export -o runs/shipped.onnx
    python scripts/quantize_int8.py runs/shipped.onnx -o runs/shipped-int8.onnx --photos ../shared/data/imagenet-samples --limit 200
    huenet evaluate --model runs/shipped-int8.onnx ../shared/data/bsds500/test --out eval/int8

Only the convolutions are quantized (QDQ); the softmax over the 261 bins and the annealed mean
stay in fp32. Calibration runs the network on the photos' L at the model's working size.
"""

import argparse

import numpy as np
import torch
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

from huenet.color import l_from_rgb_u8
from huenet.colorize import working_size
from huenet.onnx_backend import onnx_metadata
from huenet.images import find_images, load_photo


class Photos(CalibrationDataReader):
    def __init__(self, paths, size: int):
        self.items = iter(paths)
        self.size = size

    def get_next(self):
        for p in self.items:
            photo = load_photo(p)
            L = l_from_rgb_u8(torch.from_numpy(photo.u8).permute(2, 0, 1)[None])
            h, w = working_size(*L.shape[-2:], self.size)
            small = torch.nn.functional.interpolate(L, size=(h, w), mode="bilinear", align_corners=False, antialias=True)
            return {"L": small.numpy().astype(np.float32)}
        return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--photos", nargs="+", required=True)
    ap.add_argument("--limit", type=int, default=200)
    ap.add_argument("--size", type=int, default=None, help="working size (default: the model's)")
    args = ap.parse_args()
    meta = onnx_metadata(args.model)
    size = args.size or (meta.get("inference") or {}).get("size") or 256
    found, _ = find_images(args.photos)
    paths = [f.path for f in found][:: max(1, len(found) // args.limit)][: args.limit]
    quantize_static(args.model, args.output, Photos(paths, size), quant_format=QuantFormat.QDQ,
                    op_types_to_quantize=["Conv", "ConvTranspose"], per_channel=True,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8)
    import onnx

    model = onnx.load(args.output)  # keep huenet's metadata (config, inference size) in the int8 file
    if not any(p.key == "huenet" for p in model.metadata_props):
        import json

        entry = model.metadata_props.add()
        entry.key, entry.value = "huenet", json.dumps(meta, sort_keys=True)
        onnx.save(model, args.output)
    print(f"wrote {args.output} ({len(paths)} calibration photos at working size {size})")


if __name__ == "__main__":
    main()
