"""int8 (onnxruntime static quantization, scripts/quantize_int8.py) against fp32 and bf16 on this
CPU (issue 14, item 4): the network alone at the shipped working size (a 481x321 photo's
128 x 192 L) and at 256 x 384, batch 1, medians; and the ab difference to PyTorch fp32 on real photos.

    python benchmarks/bench_int8.py --fp32-onnx runs/shipped.onnx --int8-onnx runs/shipped-int8.onnx

Run it when nothing else (no training) is running on the machine.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import header, median_time, table  # noqa: E402

from huenet.checkpoints import load_model  # noqa: E402
from huenet.onnx_backend import onnx_session  # noqa: E402
from huenet.weights import default_weights_path  # noqa: E402

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"




def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fp32-onnx", required=True)
    ap.add_argument("--int8-onnx", required=True)
    ap.add_argument("--repeats", type=int, default=15)
    args = ap.parse_args()
    model, _ = load_model(default_weights_path())
    model = model.to(memory_format=torch.channels_last)
    sessions = {"onnxruntime fp32": onnx_session(args.fp32_onnx), "onnxruntime int8": onnx_session(args.int8_onnx)}
    print(header("int8 vs fp32 vs bf16, network only (bench_int8.py)"))
    print("no training or other benchmark was running")
    rows = []
    for hw in ((128, 192), (256, 384)):
        L = torch.rand(1, 1, *hw) * 100
        x = L.contiguous(memory_format=torch.channels_last)
        res = {}

        def torch_fp32():
            with torch.inference_mode():
                return model(x)

        def torch_bf16():
            with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
                return model(x)

        res["torch fp32"] = median_time(torch_fp32, args.repeats)
        res["torch bf16 (autocast)"] = median_time(torch_bf16, args.repeats)
        for name, s in sessions.items():
            res[name] = median_time(lambda s=s: s.run(None, {"L": L.numpy()}), args.repeats)
        base = res["torch fp32"]
        for name, t in res.items():
            rows.append({"L": f"{hw[0]}x{hw[1]}", "backend": name, "median ms": f"{t * 1000:.1f}",
                         "vs torch fp32": f"{base / t:.2f}x faster"})
    print(table(rows, ["L", "backend", "median ms", "vs torch fp32"]))
    # ab difference to PyTorch fp32 on real photos' L at the working size
    from huenet.color import l_from_rgb_u8
    from huenet.images import load_photo

    diffs = {k: [] for k in ("torch bf16 (autocast)", *sessions)}
    for p in sorted((SHARED / "bsds500" / "val").glob("*.jpg"))[:10]:
        L = l_from_rgb_u8(torch.from_numpy(load_photo(p).u8).permute(2, 0, 1)[None])
        L = torch.nn.functional.interpolate(L, size=(128, 192) if L.shape[-1] > L.shape[-2] else (192, 128),
                                            mode="bilinear", align_corners=False, antialias=True)
        with torch.inference_mode():
            ref = model(L)
            with torch.autocast("cpu", dtype=torch.bfloat16):
                diffs["torch bf16 (autocast)"].append((model(L).float() - ref).abs())
        for name, s in sessions.items():
            diffs[name].append((torch.from_numpy(s.run(None, {"L": L.numpy()})[0]) - ref).abs())
    print()
    print(table([{"backend": k, "mean |ab - fp32|": f"{torch.cat([d.flatten() for d in v]).mean():.3f}",
                  "max": f"{max(d.max().item() for d in v):.2f}"} for k, v in diffs.items()],
                ["backend", "mean |ab - fp32|", "max"]))


if __name__ == "__main__":
    main()
