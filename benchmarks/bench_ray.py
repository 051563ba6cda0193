"""Ray against the plain batch path on the same photos, in one run (issue 19):

1. photos/s of ``huenet colorize DIR`` (``batch.colorize_files``, model load included) against
   ``colorize_with_ray`` on a Ray already running on this machine (as after ``ray start``; actors'
   model loads included), the overhead being the difference;
2. scaling with 1, 2 and 4 local Ray worker nodes (``ray.cluster_utils.Cluster``, one colorizer
   actor per node CPU), on a machine with 2 cores: what that can and cannot show is in RESULTS.md;
3. the per-core cost of a 12 MP scan (JPEG in, JPEG out), for the archive cost table.

    python benchmarks/bench_ray.py [--photos 500]

Run it when nothing else (no training) is running on the machine.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import header, table  # noqa: E402

import ray  # noqa: E402
from PIL import Image  # noqa: E402

from huenet.archive import colorize_files  # noqa: E402
from huenet.colorize import Colorizer  # noqa: E402
from huenet.archive.ray import colorize_with_ray  # noqa: E402
from huenet.settings import ColorizerSettings  # noqa: E402

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def photos(n: int, dst: Path) -> Path:
    """``n`` BSDS500 photos (its 500, copied again under new names beyond that)."""
    src = sorted((SHARED / "bsds500").rglob("*.jpg"))
    dst.mkdir(parents=True)
    for i in range(n):
        p = src[i % len(src)]
        shutil.copy(p, dst / f"{i // len(src)}_{p.parent.name}_{p.name}")
    return dst


def plain(folder: Path, out: Path) -> float:
    t0 = time.perf_counter()
    c = Colorizer.load()
    report = colorize_files(c, [folder], out, progress=False)
    assert report.ok
    return time.perf_counter() - t0


def on_ray(folder: Path, out: Path, actors: int, cpus_per_actor: float = 1.0) -> float:
    t0 = time.perf_counter()
    report = colorize_with_ray(ColorizerSettings(), [str(folder)], str(out), actors=actors, cpus_per_actor=cpus_per_actor)
    assert report.ok and len(report.written) > 0, report.summary()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--photos", type=int, default=500)
    ap.add_argument("--skip-nodes", action="store_true", help="leave out the local-node scaling rows")
    args = ap.parse_args()
    from huenet.process import tune_allocator

    tune_allocator()
    tmp = Path(tempfile.mkdtemp(prefix="bench_ray_"))
    folder = photos(args.photos, tmp / "in")
    n = len(list(folder.iterdir()))
    cores = os.cpu_count()
    print(header(f"Ray against the plain batch path: {n} BSDS500 photos (481x321), JPEG in and out"))

    rows = []
    t_plain = plain(folder, tmp / "plain")
    rows.append({"run": "plain batch (huenet colorize DIR), model load included", "seconds": f"{t_plain:.1f}",
                 "photos/s": f"{n / t_plain:.2f}", "vs plain": "1.00x"})
    ray.init(num_cpus=cores, logging_level="ERROR", log_to_driver=False)  # "ray start" beforehand
    try:
        on_ray(folder, tmp / "warm", actors=cores)  # first use: worker processes import torch once
        for actors in (1, cores):
            shutil.rmtree(tmp / "ray", ignore_errors=True)
            t = on_ray(folder, tmp / "ray", actors=actors, cpus_per_actor=cores // actors)
            rows.append({"run": f"Ray on this machine, {actors} actor(s) of {cores // actors} CPU(s)",
                         "seconds": f"{t:.1f}", "photos/s": f"{n / t:.2f}", "vs plain": f"{t_plain / t:.2f}x"})
    finally:
        ray.shutdown()
    # the fixed costs (Ray's scheduling start, each actor importing torch and loading the model)
    # against the per-photo rate: the same runs on the first fifth of the photos
    small = tmp / "small"
    small.mkdir()
    for p in sorted(folder.iterdir())[: n // 5]:
        shutil.copy(p, small / p.name)
    t_plain_small = plain(small, tmp / "plain_small")
    ray.init(num_cpus=cores, logging_level="ERROR", log_to_driver=False)
    try:
        t_ray_small = on_ray(small, tmp / "ray_small", actors=cores, cpus_per_actor=1)
    finally:
        ray.shutdown()
    m_plain = (n - n // 5) / (t_plain - t_plain_small)
    m_ray = (n - n // 5) / (float(rows[-1]["seconds"]) - t_ray_small)
    rows.append({"run": f"marginal rate, plain ({n} - {n // 5} photos)", "seconds": f"{t_plain_small:.1f} for {n // 5}",
                 "photos/s": f"{m_plain:.2f}", "vs plain": "1.00x"})
    rows.append({"run": f"marginal rate, Ray {cores} actors ({n} - {n // 5} photos)",
                 "seconds": f"{t_ray_small:.1f} for {n // 5}", "photos/s": f"{m_ray:.2f}", "vs plain": f"{m_ray / m_plain:.2f}x"})
    print(table(rows, ["run", "seconds", "photos/s", "vs plain"]))

    from ray.cluster_utils import Cluster

    srows = []
    for nodes in () if args.skip_nodes else (1, 2, 4):
        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
        for _ in range(nodes):
            cluster.add_node(num_cpus=max(1, cores // nodes))
        try:
            ray.init(address=cluster.address, logging_level="ERROR", log_to_driver=False)
            shutil.rmtree(tmp / "nodes", ignore_errors=True)
            actors = nodes * max(1, cores // nodes)
            t = on_ray(folder, tmp / "nodes", actors=actors)
            srows.append({"worker nodes": nodes, "CPUs per node": max(1, cores // nodes), "actors": actors,
                          "seconds": f"{t:.1f}", "photos/s": f"{n / t:.2f}"})
        finally:
            ray.shutdown()
            cluster.shutdown()
    if srows:
        print(f"\n## Local worker nodes on {cores} cores (Ray's test cluster; every node shares the same cores)\n")
        print(table(srows, ["worker nodes", "CPUs per node", "actors", "seconds", "photos/s"]))

    # a 12 MP scan: a BSDS photo upscaled to 4000x3000, JPEG in and out, through the plain path
    big = tmp / "big"
    big.mkdir()
    im = Image.open(next(iter(sorted(folder.iterdir())))).convert("L").resize((4000, 3000), Image.BICUBIC)
    for i in range(6):
        im.save(big / f"scan{i}.jpg", quality=92)
    c = Colorizer.load()
    colorize_files(c, [big / "scan0.jpg"], tmp / "bigout" / "w.jpg", progress=False)  # warm-up
    t0 = time.perf_counter()
    colorize_files(c, [big], tmp / "bigout", progress=False)
    per = (time.perf_counter() - t0) / 6
    print(f"\n12 MP gray JPEG scan, JPEG out, plain path on {cores} cores: {per:.3f} s a scan "
          f"= {per * cores:.3f} core-seconds")
    hours_core = 1e7 * per * cores / 3600
    print(f"10 million such scans: {hours_core:,.0f} core-hours; on N nodes of 16 cores: "
          + ", ".join(f"N={k}: {hours_core / (16 * k):,.0f} h" for k in (1, 10, 100)))


if __name__ == "__main__":
    main()
