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

    python benchmarks/bench_peers.py [--repeats 9] [--layers]

``--layers`` adds a layer-by-layer profile of ECCV16 and huenet at 256 (each leaf module timed by
forward hooks, medians; the work outside modules, such as the softmax, the annealed mean and the
fusion adds, as one row), summed by the layers' output scale, to show where each network's time
goes and at what GFLOP/s.

Run it when nothing else (no training) is running on the machine.
"""

from __future__ import annotations

import argparse
import statistics
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
from huenet.colorize import Colorizer  # noqa: E402
from huenet.runtime import cpu_has_native_bf16  # noqa: E402
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




def _layer_flops(mod: nn.Module, inp: torch.Tensor, out: torch.Tensor) -> float:
    """Multiply-adds x 2 of a convolution (or transposed one); 0 for other modules."""
    if isinstance(mod, nn.ConvTranspose2d):
        return 2.0 * inp.shape[0] * mod.in_channels * mod.out_channels // mod.groups * mod.kernel_size[0] * mod.kernel_size[1] * inp.shape[-2] * inp.shape[-1]
    if isinstance(mod, nn.Conv2d):
        return 2.0 * out.numel() * mod.in_channels // mod.groups * mod.kernel_size[0] * mod.kernel_size[1]
    return 0.0


def layer_profile(model: nn.Module, x: torch.Tensor, ctx, repeats: int) -> tuple[list[dict], float]:
    """(one row per leaf module: name, kind, output size and channels, GFLOP, median ms; the
    median total ms of the whole forward). Each module is timed between its forward hooks."""
    leaves = [(n, m) for n, m in model.named_modules() if not list(m.children())]
    times: dict[str, list[float]] = {n: [] for n, _ in leaves}
    facts: dict[str, dict] = {}
    starts: dict[str, float] = {}
    handles = []
    for n, m in leaves:
        handles.append(m.register_forward_pre_hook(lambda mod, inp, n=n: starts.__setitem__(n, time.perf_counter())))

        def post(mod, inp, out, n=n):
            times[n].append(time.perf_counter() - starts[n])
            if n not in facts:
                facts[n] = {"kind": type(mod).__name__, "out": tuple(out.shape[-3:]), "flops": _layer_flops(mod, inp[0], out)}
        handles.append(m.register_forward_hook(post))
    totals = []
    try:
        for i in range(repeats + 2):
            t0 = time.perf_counter()
            with torch.inference_mode(), ctx():
                model(x)
            if i >= 2:
                totals.append(time.perf_counter() - t0)
            else:
                for v in times.values():
                    v.clear()
    finally:
        for h in handles:
            h.remove()
    rows = [{"layer": n, **facts[n], "ms": statistics.median(times[n]) * 1e3} for n, _ in leaves if times[n]]
    return rows, statistics.median(totals) * 1e3


def print_layers(models: dict, repeats: int, peaks: dict) -> None:
    """Per network and precision: the time and GFLOP/s of its convolutions by output scale, and the rest."""
    for prec in ("fp32", "bf16"):
        ctx = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if prec == "bf16" else nullcontext
        for name in ("ECCV16 (Zhang et al.)", "huenet shipped at 256"):
            model, size = models[name]
            m = model.to(memory_format=torch.channels_last)
            x = (torch.rand(1, 1, size, size) * 100).contiguous(memory_format=torch.channels_last)
            rows, total = layer_profile(m, x, ctx, repeats)
            groups: dict[str, dict] = {}
            for r in rows:
                if r["flops"]:
                    scale = f"1/{size // r['out'][-1]}" if r["out"][-1] <= size else "x"
                    key = f"convs at {scale} (out {r['out'][-2]}x{r['out'][-1]})"
                else:
                    key = "ReLU, pooling, batch norm"
                g = groups.setdefault(key, {"part": key, "layers": 0, "channels": set(), "GFLOP": 0.0, "ms": 0.0})
                g["layers"] += 1
                g["GFLOP"] += r["flops"] / 1e9
                g["ms"] += r["ms"]
                if r["flops"]:
                    g["channels"].add(r["out"][0])
            inside = sum(r["ms"] for r in rows)
            groups["outside modules"] = {"part": "outside modules (pad, softmax, annealed mean, adds, resize)",
                                         "layers": "", "channels": set(), "GFLOP": 0.0, "ms": max(0.0, total - inside)}
            out = []
            for g in groups.values():
                out.append({"part": g["part"], "layers": g["layers"],
                            "out channels": ",".join(str(c) for c in sorted(g["channels"])),
                            "GFLOP": f"{g['GFLOP']:.2f}", "ms": f"{g['ms']:.1f}",
                            "share": f"{g['ms'] / total:.0%}",
                            "GFLOP/s": f"{g['GFLOP'] / g['ms'] * 1e3:.0f}" if g["GFLOP"] else "",
                            "of matmul peak": f"{g['GFLOP'] / g['ms'] * 1e3 / peaks[prec]:.2f}" if g["GFLOP"] else ""})
            print(f"\n{name}, {prec}: forward {total:.1f} ms (hooks included)\n")
            print(table(out, ["part", "layers", "out channels", "GFLOP", "ms", "share", "GFLOP/s", "of matmul peak"]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--layers", action="store_true", help="also profile ECCV16 and huenet at 256 layer by layer")
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

            def net(m=m, x=x, ctx=ctx):
                with torch.inference_mode(), ctx():
                    m(x)

            t_net = median_time(net, args.repeats)
            c = Colorizer(model, size=size, device="cpu", precision=prec, meta=meta if "huenet" in name else {})
            t_e2e = median_time(lambda c=c: c.colorize(photo), args.repeats)
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
    if args.layers:
        print_layers(models, args.repeats, peaks)


if __name__ == "__main__":
    main()
