"""Like for like (issue 14, item 2): huenet's shipped network and pipeline beside Zhang et al.'s ECCV16
colorization network and the seed's VGG19 configuration, in fp32 and in bf16 autocast, in one run.

- ECCV16 is built from the paper's layer table (Zhang, Isola & Efros 2016, Table 4 / the authors'
  `eccv16.py`): 8 conv blocks (strided convs instead of pooling, dilation 2 in blocks 5-6, batch
  norm after each block), a 4x4 transposed conv to 1/4, 313 logits, softmax and a 1x1 conv to ab,
  bilinear x4. Random weights: speed does not depend on them.
- seed VGG19: `vgg_fusion` with VGG19 and the 3, 3, 16 transposed convs (the seed README's design).
- huenet: the shipped weights (VGG16, smooth head, 261-bin annealed mean with restraint).

"network" runs each model on a 1 x 1 x 256 x 256 L tensor; "end to end" is `Colorizer.colorize` on
a 256 x 256 gray photo (L, resize, network, ab upsampling, Lab -> 8-bit sRGB): the same pipeline
for all, only the network differs. The shipped model also runs at its own working size (128).
GFLOP/s = the network's FLOPs (torch's counter) / its median time, against the same run's best
4096^3 matmul in that precision.

    python benchmarks/bench_peers.py [--repeats 9]

Run it when nothing else (no training) is running on the machine.
"""

from __future__ import annotations

import argparse
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))
from common import header, matmul_gflops, median_time, model_flops, table  # noqa: E402

from huenet.checkpoints import load_model  # noqa: E402
from huenet.colorize import Colorizer, cpu_has_native_bf16  # noqa: E402
from huenet.models import create_model  # noqa: E402
from huenet.weights import default_weights_path  # noqa: E402

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _block(layers: list[tuple[int, int, int, int]], norm: bool = True) -> list[nn.Module]:
    """(c_in, c_out, stride, dilation) 3x3 convs with ReLU, then batch norm."""
    out: list[nn.Module] = []
    for c_in, c_out, stride, dil in layers:
        out += [nn.Conv2d(c_in, c_out, 3, stride, padding=dil, dilation=dil), nn.ReLU(inplace=True)]
    c_last = layers[-1][1]
    return out + ([nn.BatchNorm2d(c_last)] if norm else [])


class ECCV16(nn.Module):
    """Zhang et al. 2016's network, L in [0, 100] -> ab in Lab units at the input's size."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            *_block([(1, 64, 1, 1), (64, 64, 2, 1)]),
            *_block([(64, 128, 1, 1), (128, 128, 2, 1)]),
            *_block([(128, 256, 1, 1), (256, 256, 1, 1), (256, 256, 2, 1)]),
            *_block([(256, 512, 1, 1), (512, 512, 1, 1), (512, 512, 1, 1)]),
            *_block([(512, 512, 1, 2)] * 3),
            *_block([(512, 512, 1, 2)] * 3),
            *_block([(512, 512, 1, 1)] * 3),
            nn.ConvTranspose2d(512, 256, 4, 2, 1), nn.ReLU(inplace=True),
            *_block([(256, 256, 1, 1), (256, 256, 1, 1)], norm=False),
            nn.Conv2d(256, 313, 1),
        )
        self.out = nn.Conv2d(313, 2, 1, bias=False)

    def forward(self, L: torch.Tensor) -> torch.Tensor:
        h, w = L.shape[-2:]
        ph, pw = (-h) % 8, (-w) % 8
        x = F.pad((L - 50.0) / 100.0, (0, pw, 0, ph), mode="replicate")
        ab = self.out(torch.softmax(self.body(x), dim=1)) * 110.0  # N x 2 x H/4 x W/4
        return F.interpolate(ab, scale_factor=4, mode="bilinear", align_corners=False)[..., :h, :w]




def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=9)
    args = ap.parse_args()
    torch.manual_seed(0)
    shipped, meta = load_model(default_weights_path())
    models = {
        "ECCV16 (Zhang et al.)": (ECCV16().eval(), 256),
        "seed VGG19 fusion": (create_model("vgg_fusion").eval(), 256),
        "huenet shipped at 256": (shipped, 256),
        "huenet shipped at 128 (its default)": (shipped, 128),
    }
    src = sorted((SHARED / "bsds500" / "test").glob("*.jpg"))[0]
    photo = Image.open(src).convert("L").resize((256, 256), Image.BICUBIC)
    precisions = ["fp32", "bf16"]
    peaks = {"fp32": matmul_gflops(dtype=torch.float32), "bf16": matmul_gflops(dtype=torch.bfloat16)}
    print(header("Peers at 256 px (bench_peers.py)"))
    print(f"no training or other benchmark was running; native bf16 on this CPU: {cpu_has_native_bf16()}; "
          f"matmul peak fp32 {peaks['fp32']:.0f} GFLOP/s, bf16 {peaks['bf16']:.0f} GFLOP/s")
    rows = []
    for prec in precisions:
        for name, (model, size) in models.items():
            L = torch.rand(1, 1, size, size) * 100
            flops = model_flops(model, L)
            m = model.to(memory_format=torch.channels_last)
            x = L.contiguous(memory_format=torch.channels_last)
            ctx = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if prec == "bf16" else nullcontext

            def net():
                with torch.inference_mode(), ctx():
                    m(x)

            t_net = median_time(net, args.repeats)
            c = Colorizer(model, size=size, device="cpu", precision=prec, meta=meta if "huenet" in name else {})
            t_e2e = median_time(lambda: c.colorize(photo), args.repeats)
            rows.append({"precision": prec, "model": name, "GFLOP": flops / 1e9, "net ms": t_net * 1e3,
                         "net GFLOP/s": flops / t_net / 1e9, "of matmul peak": flops / t_net / 1e9 / peaks[prec],
                         "e2e ms": t_e2e * 1e3, "e2e img/s": 1 / t_e2e})
        eccv = next(r for r in rows if r["precision"] == prec and r["model"].startswith("ECCV16"))
        for r in rows:
            if r["precision"] == prec:
                r["e2e vs ECCV16"] = f"{r['e2e img/s'] / eccv['e2e img/s']:.2f}x"
    for r in rows:
        for k, f in (("GFLOP", "{:.1f}"), ("net ms", "{:.1f}"), ("net GFLOP/s", "{:.0f}"), ("of matmul peak", "{:.2f}"),
                     ("e2e ms", "{:.1f}"), ("e2e img/s", "{:.1f}")):
            r[k] = f.format(r[k])
    print(table(rows, ["precision", "model", "GFLOP", "net ms", "net GFLOP/s", "of matmul peak", "e2e ms",
                       "e2e img/s", "e2e vs ECCV16"]))


if __name__ == "__main__":
    main()
