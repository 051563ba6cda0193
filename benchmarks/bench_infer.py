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
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from common import header, matmul_gflops, median_time, model_flops, table  # noqa: E402

from huenet.checkpoints import save_checkpoint  # noqa: E402
from huenet.colorize import Colorizer  # noqa: E402
from huenet.images import load_photo  # noqa: E402
from huenet.models import create_model  # noqa: E402

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def photo_bytes(size: tuple[int, int]) -> bytes:
    """A real photo resized to ``size`` (w, h), JPEG-encoded, as a user's file would be."""
    src = sorted((SHARED / "bsds500" / "test").glob("*.jpg"))[0]
    buf = io.BytesIO()
    Image.open(src).convert("RGB").resize(size, Image.BICUBIC).save(buf, "JPEG", quality=92)
    return buf.getvalue()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", help="checkpoint (default: the shipped weights, else a fresh VGG16 fusion)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--no-onnx", action="store_true")
    ap.add_argument("--tune-malloc", action="store_true", help="apply huenet.runtime.tune_allocator() as the CLI does")
    args = ap.parse_args()
    if args.tune_malloc:
        from huenet.runtime import tune_allocator

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
    peak = matmul_gflops(device=dev.type)
    rows = []
    flops_256 = model_flops(model.cpu(), torch.rand(1, 1, 256, 256) * 100)
    model.to(dev)
    for batch in (1, 8):
        L = torch.rand(batch, 1, 256, 256, device=dev) * 100

        def net():
            c._runner(L)
            sync()

        t = median_time(net, args.repeats)
        rows.append({"what": f"network 256x256, batch {batch}", "ms/img": f"{1000 * t / batch:.1f}",
                     "img/s": f"{batch / t:.2f}", "GFLOP/s": f"{flops_256 * batch / t / 1e9:.1f}",
                     "of matmul peak": f"{flops_256 * batch / t / 1e9 / peak:.0%}"})
    if dev.type == "cpu":  # does channels_last help on this CPU? (the same model, one run)
        L = torch.rand(8, 1, 256, 256) * 100
        with torch.inference_mode():
            std_model = copy.deepcopy(model).to(memory_format=torch.contiguous_format)
            t_std = median_time(lambda: std_model(L), args.repeats)
            cl_model = copy.deepcopy(model).to(memory_format=torch.channels_last)
            t_cl = median_time(lambda: cl_model(L.contiguous(memory_format=torch.channels_last)), args.repeats)
            del std_model
        rows.append({"what": "network batch 8, channels_last (CPU)", "ms/img": f"{1000 * t_cl / 8:.1f}",
                     "img/s": f"{8 / t_cl:.2f}", "GFLOP/s": f"{flops_256 * 8 / t_cl / 1e9:.1f}",
                     "of matmul peak": f"vs {8 / t_std:.2f} img/s contiguous"})
        del cl_model
    small, big = photo_bytes((256, 256)), photo_bytes((4000, 3000))

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
    t12png = median_time(lambda: end_to_end(big, fmt="PNG"), 3, warmup=1)
    rows.append({"what": "end to end 12 MP, PNG output", "ms/img": f"{1000 * t12png:.1f}", "img/s": f"{1 / t12png:.2f}"})
    # What the fast paths bought, before/after in this run, on the 12 MP photo's pixels:
    from huenet.color import l_from_rgb_u8, lab_to_rgb, lab_to_rgb_keep_lightness, rgb_to_lab

    u8_12 = torch.from_numpy(load_photo(big).pixels).permute(2, 0, 1)[None].to(dev)
    rgb12 = u8_12.float() / 255
    with torch.inference_mode():
        t_full = median_time(lambda: rgb_to_lab(u8_12.float() / 255)[:, :1], 3, warmup=1)
        t_y = median_time(lambda: l_from_rgb_u8(u8_12), 3, warmup=1)
        lab12 = rgb_to_lab(rgb12)
        lab12[:, 1:] *= 1.5  # some colors out of gamut, as predictions can be
        t_clip = median_time(lambda: (lab_to_rgb(lab12) * 255).round_().to(torch.uint8), 3, warmup=1)
        t_keepf = median_time(lambda: (lab_to_rgb_keep_lightness(lab12) * 255).round_().to(torch.uint8), 3, warmup=1)
        t_keep8 = median_time(lambda: lab_to_rgb_keep_lightness(lab12, as_uint8=True), 3, warmup=1)
    changes = [
        {"step (12 MP)": "L: float rgb_to_lab -> uint8 tables, Y only (l_from_rgb_u8)", "before ms": f"{1000 * t_full:.0f}", "after ms": f"{1000 * t_y:.0f}"},
        {"step (12 MP)": "Lab -> 8-bit: clip per channel (L drifts) -> keep-lightness gamut map", "before ms": f"{1000 * t_clip:.0f}", "after ms": f"{1000 * t_keepf:.0f}"},
        {"step (12 MP)": "keep-lightness -> 8-bit: sRGB curve + round -> bucketize", "before ms": f"{1000 * t_keepf:.0f}", "after ms": f"{1000 * t_keep8:.0f}"},
    ]
    net1 = float(rows[0]["ms/img"]) / 1000
    if not args.no_onnx and dev.type == "cpu":
        try:
            from huenet.export import onnx_runner

            run = onnx_runner(model.cpu(), c.meta)
            L1 = torch.rand(1, 1, 256, 256) * 100
            L8 = torch.rand(8, 1, 256, 256) * 100
            for L in (L1, L8):
                t = median_time(lambda: run(L), args.repeats)
                rows.append({"what": f"onnxruntime network 256x256, batch {len(L)}", "ms/img": f"{1000 * t / len(L):.1f}",
                             "img/s": f"{len(L) / t:.2f}", "GFLOP/s": f"{flops_256 * len(L) / t / 1e9:.1f}",
                             "of matmul peak": f"{flops_256 * len(L) / t / 1e9 / peak:.0%}"})
        except RuntimeError as e:
            print(f"(onnxruntime skipped: {e})")
    print(f"model: {flops_256 / 1e9:.1f} GFLOP per 256x256 image; best fp32 matmul (4096^3) on this machine: {peak:.0f} GFLOP/s")
    print()
    print(table(rows, ["what", "ms/img", "img/s", "GFLOP/s", "of matmul peak"]))
    print()
    print(table(changes, ["step (12 MP)", "before ms", "after ms"]))
    print()
    print(f"end-to-end / network at 256, batch 1: {e2e[1] / net1:.2f}x")
    print(f"12 MP / 256x256 end to end (JPEG out): {t12 / e2e[1]:.2f}x")


if __name__ == "__main__":
    main()
