"""Shared helpers for the benchmark scripts: timing medians, machine facts, the fp32 matmul peak."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import time
from typing import Callable

import torch


def median_time(fn: Callable[[], object], repeats: int = 7, warmup: int = 2) -> float:
    """Median wall time of ``fn()`` in seconds after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def matmul_gflops(n: int = 4096, dtype=torch.float32, device: str = "cpu") -> float:
    """Best achieved matrix-multiply GFLOP/s in ``dtype`` on this machine: the practical peak we compare
    the network to (the best of 5, since a peak is what the machine can do, not what it usually does)."""
    a = torch.randn(n, n, dtype=dtype, device=device)
    b = torch.randn(n, n, dtype=dtype, device=device)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        torch.mm(a, b)
        if device == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def model_flops(model: torch.nn.Module, x: torch.Tensor) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x)
    return counter.get_total_flops()


def cpu_name() -> str:
    """The CPU model (benchmark tables name it: the machines differ from one run to the next)."""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def header(title: str) -> str:
    return (f"# {title}\n"
            f"device: {cpu_name()} ({torch.get_num_threads()} torch threads), "
            f"torch {torch.__version__}, python {platform.python_version()}")


def table(rows: list[dict], columns: list[str]) -> str:
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns}
    line = "| " + " | ".join(c.ljust(widths[c]) for c in columns) + " |"
    sep = "|" + "|".join("-" * (widths[c] + 2) for c in columns) + "|"
    body = ["| " + " | ".join(str(r.get(c, "")).ljust(widths[c]) for c in columns) + " |" for r in rows]
    return "\n".join([line, sep, *body])


def other_load() -> str:
    """Other processes above 20% CPU now (a benchmark says whether it had the machine to itself)."""
    ps = subprocess.run(["ps", "-eo", "pid,pcpu,args"], capture_output=True, text=True).stdout.splitlines()[1:]
    busy = [line.strip() for line in ps if line.strip() and float(line.split()[1]) > 20
            and int(line.split()[0]) != os.getpid() and "ps -eo" not in line]
    return "; ".join(busy) if busy else "none (no other process above 20% CPU)"
