"""Inference speed: the network alone and end to end (decode -> L -> network -> upsample ab ->
encode), at working size 256, batch 1 and 8; a 12-megapixel photo against a 256x256 one; the
onnxruntime backend beside PyTorch. Prints markdown tables.

    python benchmarks/bench_infer.py [--model CKPT] [--device cpu|cuda] [--repeats 7]
"""

from __future__ import annotations

import argparse
import copy
import io
import sys
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from common import header, matmul_gflops, median_time, model_flops, table  # noqa: E402

from huenet.checkpoints import save_checkpoint  # noqa: E402
from huenet.colorize import Colorizer, working_size  # noqa: E402
from huenet.runtime import pick_precision  # noqa: E402
from huenet.images import load_photo  # noqa: E402
from huenet.models import create_model  # noqa: E402

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def photo_bytes(size: tuple[int, int], mode: str = "RGB") -> bytes:
    """A real photo resized to ``size`` (w, h), JPEG-encoded, as a user's file would be."""
    src = sorted((SHARED / "bsds500" / "test").glob("*.jpg"))[0]
    buf = io.BytesIO()
    Image.open(src).convert(mode).resize(size, Image.BICUBIC).save(buf, "JPEG", quality=92)
    return buf.getvalue()


def _bucketize_u8(lin: torch.Tensor) -> torch.Tensor:
    """The earlier 8-bit sRGB encoder (kept here to measure against): count the code boundaries
    below each value with ``bucketize``."""
    from huenet.color import srgb_to_linear

    bounds = srgb_to_linear((torch.arange(255, dtype=torch.float64) + 0.5) / 255.0).to(lin.device, lin.dtype)
    return torch.bucketize(lin.contiguous(), bounds, right=True).to(torch.uint8)


def main() -> None:
    global SHARED
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", help="checkpoint (default: the shipped weights, else a fresh VGG16 fusion)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--no-onnx", action="store_true")
    ap.add_argument("--tune-malloc", action="store_true", help="apply huenet.process.tune_allocator() as the CLI does")
    ap.add_argument("--data", type=Path, default=SHARED, help="the shared photo folder (default ../shared/data)")
    args = ap.parse_args()
    SHARED = args.data
    if args.tune_malloc:
        from huenet.process import tune_allocator

        print(f"allocator tuning applied: {tune_allocator()}")

    try:
        c = Colorizer.load(args.model, device=args.device)
    except FileNotFoundError:
        tmp = Path(tempfile.mkdtemp()) / "fresh.safetensors"
        save_checkpoint(tmp, create_model("vgg_fusion", encoder="vgg16"))
        c = Colorizer.load(tmp, device=args.device)
    model, dev = c.model, c.device
    sync = (lambda: torch.cuda.synchronize()) if dev.type == "cuda" else (lambda: None)
    print(header(f"inference, {c.meta.get('model')} ({c.meta.get('config', {}).get('encoder')}), {dev}"))
    print(f"the Colorizer's precision here (auto): {c.precision}")
    # each precision's network against the matrix multiply of the same precision, measured now
    precisions = ["fp32"] + (["bf16"] if pick_precision("auto", dev) == "bf16" else [])
    peak = {prec: matmul_gflops(dtype=torch.float32 if prec == "fp32" else torch.bfloat16, device=dev.type)
            for prec in precisions}
    rows = []
    flops_256 = model_flops(model.cpu(), torch.rand(1, 1, 256, 256) * 100)
    model.to(dev)
    net_ms = {}
    for prec in precisions:
        # a Colorizer per precision: under bf16 it runs a copy of the network with bf16 weights
        cp = Colorizer(model, size=256, device=dev, precision=prec, meta=c.meta)
        for batch in (1, 8):
            L = torch.rand(batch, 1, 256, 256, device=dev) * 100

            def net():
                cp._runner(L)
                sync()

            t = median_time(net, args.repeats)
            net_ms[prec, batch] = t / batch
            rows.append({"what": f"network 256x256, batch {batch}, {prec}", "ms/img": f"{1000 * t / batch:.1f}",
                         "img/s": f"{batch / t:.2f}", "GFLOP/s": f"{flops_256 * batch / t / 1e9:.1f}",
                         "of matmul peak": f"{flops_256 * batch / t / 1e9 / peak[prec]:.0%} of {prec}"})
    if dev.type == "cpu":  # does channels_last help on this CPU? (the same model, one run, fp32)
        L = torch.rand(8, 1, 256, 256) * 100
        with torch.inference_mode():
            std_model = copy.deepcopy(model).to(memory_format=torch.contiguous_format)
            t_std = median_time(lambda: std_model(L), args.repeats)
            cl_model = copy.deepcopy(model).to(memory_format=torch.channels_last)
            t_cl = median_time(lambda: cl_model(L.contiguous(memory_format=torch.channels_last)), args.repeats)
            del std_model
        rows.append({"what": "network batch 8, channels_last (CPU), fp32", "ms/img": f"{1000 * t_cl / 8:.1f}",
                     "img/s": f"{8 / t_cl:.2f}", "GFLOP/s": f"{flops_256 * 8 / t_cl / 1e9:.1f}",
                     "of matmul peak": f"vs {8 / t_std:.2f} img/s contiguous"})
        del cl_model
    small, big = photo_bytes((256, 256)), photo_bytes((4000, 3000))
    big_gray = photo_bytes((4000, 3000), mode="L")  # what restoring old photos feeds it

    def end_to_end(data: bytes, batch: int = 1, fmt: str = "JPEG"):
        photos = [load_photo(data) for _ in range(batch)]
        for out in c.colorize_photos(photos, batch_size=batch):
            out.save(io.BytesIO(), fmt, **({"quality": 92} if fmt == "JPEG" else {}))
        sync()

    e2e = {}
    for batch in (1, 8):
        t = median_time(lambda: end_to_end(small, batch), args.repeats)
        e2e[batch] = t / batch
        rows.append({"what": f"end to end 256x256 JPEG, batch {batch}", "ms/img": f"{1000 * t / batch:.1f}",
                     "img/s": f"{batch / t:.2f}"})
    t12 = median_time(lambda: end_to_end(big), max(3, args.repeats // 2), warmup=1)
    rows.append({"what": "end to end 12 MP (4000x3000) JPEG", "ms/img": f"{1000 * t12:.1f}", "img/s": f"{1 / t12:.2f}"})
    t12g = median_time(lambda: end_to_end(big_gray), max(3, args.repeats // 2), warmup=1)
    rows.append({"what": "end to end 12 MP gray JPEG", "ms/img": f"{1000 * t12g:.1f}", "img/s": f"{1 / t12g:.2f}"})
    t12png = median_time(lambda: end_to_end(big, fmt="PNG"), 3, warmup=1)
    rows.append({"what": "end to end 12 MP, PNG output", "ms/img": f"{1000 * t12png:.1f}", "img/s": f"{1 / t12png:.2f}"})
    # What the fast paths bought, before/after in this run, on the 12 MP photo's pixels and the
    # model's own prediction for it:
    from huenet.color import (_lab_to_linear, l_from_gray_u8, l_from_rgb_u8, lab_to_rgb, lab_to_rgb_keep_lightness,
                              lab_to_srgb_u8, linear_to_srgb_u8, rgb_to_lab)

    u8_12 = torch.from_numpy(load_photo(big).pixels).permute(2, 0, 1)[None].to(dev)
    g12 = torch.from_numpy(load_photo(big_gray).pixels).permute(2, 0, 1)[None].to(dev)
    bench = lambda fn: median_time(lambda: (fn(), sync()), 3, warmup=1)  # noqa: E731  (sync: CUDA is asynchronous)
    with torch.inference_mode():
        L12 = l_from_rgb_u8(u8_12)
        ab12 = c.predict_ab(L12)
        lab12 = torch.cat([L12, ab12], dim=1)
        lin12 = _lab_to_linear(lab12)
        t_full, t_y = bench(lambda: rgb_to_lab(u8_12.float() / 255)[:, :1]), bench(lambda: l_from_rgb_u8(u8_12))
        t_g3, t_g1 = bench(lambda: l_from_rgb_u8(g12.expand(-1, 3, -1, -1))), bench(lambda: l_from_gray_u8(g12))
        t_clip = bench(lambda: (lab_to_rgb(lab12) * 255).round_().to(torch.uint8))
        t_keep = bench(lambda: lab_to_rgb_keep_lightness(lab12, as_uint8=True))
        t_fast = bench(lambda: lab_to_srgb_u8(L12, ab12))
        t_bucket, t_formula = bench(lambda: _bucketize_u8(lin12)), bench(lambda: linear_to_srgb_u8(lin12))
        # where the 12 MP photo's time goes, stage by stage, as colorize_photos runs them
        h12, w12 = L12.shape[-2:]
        wh, ww = working_size(h12, w12, c.size)
        small12 = F.interpolate(L12, size=(wh, ww), mode="bilinear", align_corners=False, antialias=True)
        ab_small = c._runner(small12)
        out12 = c.to_srgb_u8(L12, ab_small).permute(0, 2, 3, 1).cpu().numpy()[0]
        stages = [
            ("decode JPEG (Pillow)", bench(lambda: load_photo(big))),
            ("L at full resolution (bands)", bench(lambda: c.lightness(u8_12))),
            ("L down to the working size", bench(lambda: F.interpolate(L12, size=(wh, ww), mode="bilinear",
                                                                       align_corners=False, antialias=True))),
            (f"network at {wh}x{ww} ({c.precision})", bench(lambda: (c._runner(small12), sync()))),
            ("ab up, Lab -> 8-bit sRGB, gamut map (bands)", bench(lambda: c.to_srgb_u8(L12, ab_small))),
            ("encode JPEG (Pillow)", bench(lambda: Image.fromarray(out12).save(io.BytesIO(), "JPEG", quality=92))),
        ]
        # the same color math on the whole photo at once (the earlier way): fresh full-size temporaries
        t_whole = bench(lambda: lab_to_srgb_u8(L12, F.interpolate(ab_small, size=(h12, w12), mode="bilinear",
                                                                   align_corners=False)))
    changes = [
        {"step (12 MP)": "L: float rgb_to_lab -> uint8 tables, Y only (l_from_rgb_u8)", "before ms": f"{1000 * t_full:.0f}", "after ms": f"{1000 * t_y:.0f}"},
        {"step (12 MP)": "L of a gray photo: as RGB (3 tables) -> one channel, one table", "before ms": f"{1000 * t_g3:.0f}", "after ms": f"{1000 * t_g1:.0f}"},
        {"step (12 MP)": "Lab -> 8-bit: clip per channel (L drifts) -> keep-lightness gamut map", "before ms": f"{1000 * t_clip:.0f}", "after ms": f"{1000 * t_keep:.0f}"},
        {"step (12 MP)": "keep-lightness -> 8-bit: reference -> lab_to_srgb_u8 (fewer passes)", "before ms": f"{1000 * t_keep:.0f}", "after ms": f"{1000 * t_fast:.0f}"},
        {"step (12 MP)": "linear -> 8-bit sRGB: bucketize -> clamp-form formula", "before ms": f"{1000 * t_bucket:.0f}", "after ms": f"{1000 * t_formula:.0f}"},
        {"step (12 MP)": "ab up + Lab -> 8-bit: whole photo at once -> bands of rows", "before ms": f"{1000 * t_whole:.0f}", "after ms": f"{1000 * stages[4][1]:.0f}"},
    ]
    net1 = net_ms[c.precision, 1]
    if not args.no_onnx and dev.type == "cpu":
        try:
            from huenet.onnx_backend import onnx_runner

            run = onnx_runner(model.cpu(), c.meta)
            L1 = torch.rand(1, 1, 256, 256) * 100
            L8 = torch.rand(8, 1, 256, 256) * 100
            for L in (L1, L8):
                t = median_time(lambda: run(L), args.repeats)
                rows.append({"what": f"onnxruntime network 256x256, batch {len(L)}", "ms/img": f"{1000 * t / len(L):.1f}",
                             "img/s": f"{len(L) / t:.2f}", "GFLOP/s": f"{flops_256 * len(L) / t / 1e9:.1f}",
                             "of matmul peak": f"{flops_256 * len(L) / t / 1e9 / peak['fp32']:.0%} of fp32"})
        except RuntimeError as e:
            print(f"(onnxruntime skipped: {e})")
    print(f"model: {flops_256 / 1e9:.1f} GFLOP per 256x256 image; best matmul (4096^3) on this machine: "
          + ", ".join(f"{prec} {g:.0f} GFLOP/s" for prec, g in peak.items()))
    print()
    print(table(rows, ["what", "ms/img", "img/s", "GFLOP/s", "of matmul peak"]))
    print()
    print(table(changes, ["step (12 MP)", "before ms", "after ms"]))
    print()
    total = sum(t for _, t in stages)
    print(table([{"stage (12 MP color JPEG)": name, "ms": f"{1000 * t:.0f}", "share": f"{t / total:.0%}"}
                 for name, t in stages] + [{"stage (12 MP color JPEG)": "sum of stages", "ms": f"{1000 * total:.0f}"}],
                ["stage (12 MP color JPEG)", "ms", "share"]))
    print()
    print(f"end-to-end / network at 256, batch 1 ({c.precision}): {e2e[1] / net1:.2f}x")
    print(f"12 MP / 256x256 end to end (JPEG out): {t12 / e2e[1]:.2f}x (gray 12 MP: {t12g / e2e[1]:.2f}x)")


if __name__ == "__main__":
    main()
