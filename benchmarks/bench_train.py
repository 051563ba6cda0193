"""Training speed at 128x128 (batch 16) and the data path alone (pack -> augment -> Lab, and
folder decoding with 0, 1, 2 workers): the data path must not be what limits training.

    python benchmarks/bench_train.py [--steps 6] [--encoder vgg16] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import header, median_time, table  # noqa: E402

from huenet.data import EpochPlan, FolderPhotos, PackedPhotos, augment, collate_photos, lab_batch, prepare_pack  # noqa: E402
from huenet.runtime import pick_precision  # noqa: E402
from huenet.models import create_model  # noqa: E402
from huenet.objectives import MSEObjective  # noqa: E402

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def main() -> None:
    global SHARED
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--encoder", default="vgg16")
    ap.add_argument("--photos", type=int, default=256)
    ap.add_argument("--device", default="cpu", help="cpu or cuda (the training step; the data path is on the CPU)")
    ap.add_argument("--data", type=Path, default=SHARED, help="the shared photo folder (default ../shared/data)")
    args = ap.parse_args()
    SHARED = args.data
    print(header(f"training, vgg_fusion ({args.encoder}), batch 16, 128x128, {args.device}"))

    src = sorted((SHARED / "flowers" / "train").rglob("*.jpg"))[: args.photos]
    work = Path(tempfile.mkdtemp())
    listing = work / "list.txt"
    listing.write_text("\n".join(str(p.resolve()) for p in src))  # a list file's relative paths are its folder's
    t0 = time.perf_counter()
    report = prepare_pack([listing], work / "pack", size=144, progress=False)
    t_pack = time.perf_counter() - t0
    pack = PackedPhotos(work / "pack", "train")
    rows = [{"what": f"huenet prepare ({len(pack)} photos, 144 px)", "img/s": f"{len(pack) / t_pack:.0f}",
             "note": f"{report.bytes_written / len(pack) * 1000 / 2**20:.1f} MiB per 1,000 photos"}]

    plan = EpochPlan.make(len(pack), 144, 128, seed=0, epoch=0)
    state = {"i": 0}

    def pack_batch():
        i = state["i"] % (len(pack) // 16)
        state["i"] += 1
        pos = torch.arange(i * 16, (i + 1) * 16)
        rgb = augment(pack.batch(plan.order[pos].tolist()), plan.top[pos], plan.left[pos], plan.flip[pos], 128)
        lab_batch(rgb)

    t = median_time(pack_batch, 15)
    rows.append({"what": "data path: pack -> crop/flip -> Lab (main process)", "img/s": f"{16 / t:.0f}"})

    folder = FolderPhotos(src, 144)
    for workers in (0, 1, 2):
        loader = torch.utils.data.DataLoader(folder, batch_size=16, num_workers=workers, collate_fn=collate_photos)
        n, t0 = 0, time.perf_counter()
        for j, (kept, u8, _) in enumerate(loader):
            k = len(kept)
            z = torch.zeros(k, dtype=torch.long)
            lab_batch(augment(u8, z, z, torch.zeros(k, dtype=torch.bool), 128))
            n += k
            if j == 7:
                break
        rows.append({"what": f"data path: JPEG folder, {workers} workers", "img/s": f"{n / (time.perf_counter() - t0):.0f}"})

    dev = torch.device(args.device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    model = create_model("vgg_fusion", encoder=args.encoder).to(dev)
    opt = torch.optim.Adam(model.parameters(), 1e-4)
    L, ab = (t.to(dev) for t in lab_batch(torch.rand(16, 3, 128, 128)))
    if dev.type == "cuda":  # as the trainer does
        model, L = model.to(memory_format=torch.channels_last), L.contiguous(memory_format=torch.channels_last)
    # bf16 autocast is what training uses where the hardware has bf16 (pick_precision); fp32 beside it
    precisions = ["fp32"] + (["bf16"] if pick_precision("auto", dev) == "bf16" else [])

    objective = MSEObjective(model.scaling)  # the seed's loss, as training computes it

    def step(precision: str):
        ctx = torch.autocast(dev.type, dtype=torch.bfloat16) if precision == "bf16" else contextlib.nullcontext()
        with ctx:
            raw = model.raw(L)
        loss = objective.loss(raw, ab)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sync()

    for label, frozen in [("all layers", 0), ("encoder frozen through pool3", "pool3"), ("encoder frozen", "all")]:
        names = model.encoder.layer_names
        k = len(names) if frozen == "all" else (names.index(frozen) + 1 if frozen else 0)
        for i, layer in enumerate(model.encoder.features):
            for p in layer.parameters():
                p.requires_grad_(i >= k)
        for precision in precisions:
            t = median_time(lambda: step(precision), args.steps, warmup=1)
            rows.append({"what": f"train step, {label}, {precision}", "img/s": f"{16 / t:.1f}"})
    print()
    print(table(rows, ["what", "img/s", "note"]))


if __name__ == "__main__":
    main()
