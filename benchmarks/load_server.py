"""Load test for ``huenet serve``: N concurrent clients POST a real photo for a bounded time.

Starts its own server on a free loopback port (or uses ``--url``, which must be a loopback
address), runs for ``--seconds``, stops by itself, and prints requests/s, latency percentiles and
response counts by status. 503s are the server's deliberate back-pressure; any other 5xx is a bug.

    python benchmarks/load_server.py --clients 8 --seconds 60 [--model CKPT] [--workers 1 --queue 8]
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlparse

import httpx

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def is_loopback(url: str) -> bool:
    host = urlparse(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def client(c: httpx.AsyncClient, url: str, body: bytes, stop_at: float, lat: list, codes: Counter):
    while time.monotonic() < stop_at:
        t0 = time.perf_counter()
        try:
            r = await c.post(url + "/api/colorize", files={"file": ("photo.jpg", body, "image/jpeg")}, timeout=120)
            codes[r.status_code] += 1
            if r.status_code == 200:
                lat.append(time.perf_counter() - t0)
            elif r.status_code == 503:
                await asyncio.sleep(float(r.headers.get("retry-after", "1")) / 4)
        except httpx.HTTPError as e:
            codes[type(e).__name__] += 1


async def run(url: str, clients: int, seconds: float, body: bytes):
    lat: list[float] = []
    codes: Counter = Counter()
    stop_at = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(limits=limits) as c:
        t0 = time.perf_counter()
        await asyncio.gather(*[client(c, url, body, stop_at, lat, codes) for _ in range(clients)])
        elapsed = time.perf_counter() - t0
    return lat, codes, elapsed


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--url", help="an already running server (loopback only)")
    ap.add_argument("--model", help="checkpoint for the server started here (default: shipped weights)")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--queue", type=int, default=8)
    ap.add_argument("--photo", default=str(sorted((SHARED / "bsds500" / "test").glob("*.jpg"))[0]))
    args = ap.parse_args()
    proc = None
    url = args.url
    if url and not is_loopback(url):
        print("refusing: --url must be a loopback address (127.0.0.0/8, ::1, localhost)", file=sys.stderr)
        return 2
    if not url:
        port = free_port()
        cmd = [sys.executable, "-m", "huenet.cli", "serve", "--port", str(port), "--device", "cpu",
               "--workers", str(args.workers), "--queue", str(args.queue)]
        if args.model:
            cmd += ["--model", args.model]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if httpx.get(url + "/api/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        else:
            proc.kill()
            print("server did not start", file=sys.stderr)
            return 1
    try:
        body = Path(args.photo).read_bytes()
        lat, codes, elapsed = asyncio.run(run(url, args.clients, args.seconds, body))
        healthy = httpx.get(url + "/api/health", timeout=5).status_code == 200
    finally:
        if proc:
            proc.terminate()
            proc.wait(timeout=30)
    ok = codes.get(200, 0)
    print(f"# load: {args.clients} clients, {args.seconds:.0f} s, server workers {args.workers}, queue {args.queue}, "
          f"photo {Path(args.photo).name}")
    print("| requests/s (200) | p50 ms | p95 ms | p99 ms | responses by status |")
    print("|---:|---:|---:|---:|---|")
    status = ", ".join(f"{k}: {v}" for k, v in sorted(codes.items(), key=lambda kv: str(kv[0])))
    print(f"| {ok / elapsed:.2f} | {1000 * pct(lat, 50):.0f} | {1000 * pct(lat, 95):.0f} | {1000 * pct(lat, 99):.0f} | {status} |")
    bad = {k: v for k, v in codes.items() if not (k == 200 or k == 503)}
    print(f"server healthy afterwards: {healthy}; unexpected responses: {bad or 'none'}")
    return 0 if healthy and not bad else 1


if __name__ == "__main__":
    sys.exit(main())
