"""Fuzz the image-loading entry point (``huenet.images.load_photo``) with mutated real JPEG, PNG,
GIF, TIFF and WebP bytes for a bounded time. Every input must either decode or raise
``ImageLoadError``; anything else (another exception, a hang, a crash) is a bug.

    python benchmarks/fuzz_images.py [--seconds 120] [--seed 0]

Mutations: bit flips, byte overwrites with boundary values, truncation, chunk duplication and
deletion, header-size tampering. Prints a table of outcomes and the first failures.
"""

from __future__ import annotations

import argparse
import io
import random
import sys
import time
import traceback
from collections import Counter
from pathlib import Path

from PIL import Image

from huenet.images import ImageLoadError, load_photo

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def seeds() -> list[tuple[str, bytes]]:
    photo = Image.open(sorted((SHARED / "bsds500" / "test").glob("*.jpg"))[0]).convert("RGB").resize((96, 64))
    out = []
    for fmt, kw in [("JPEG", {"quality": 80}), ("PNG", {}), ("GIF", {}), ("TIFF", {}), ("WEBP", {}),
                    ("BMP", {}), ("PNG16", {})]:
        buf = io.BytesIO()
        if fmt == "PNG16":
            Image.frombytes("I;16", photo.size, bytes(photo.convert("L").tobytes()) * 2).save(buf, "PNG")
        else:
            photo.save(buf, fmt, **kw)
        out.append((fmt, buf.getvalue()))
    return out


def mutate(data: bytes, rng: random.Random) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 6)):
        op = rng.randrange(6)
        if not b:
            break
        i = rng.randrange(len(b))
        if op == 0:
            b[i] ^= 1 << rng.randrange(8)
        elif op == 1:
            b[i] = rng.choice([0, 1, 0x7F, 0x80, 0xFF])
        elif op == 2:
            del b[i:]
        elif op == 3:
            j = min(len(b), i + rng.randint(1, 64))
            b[i:i] = b[i:j]
        elif op == 4:
            del b[i:i + rng.randint(1, 64)]
        else:  # tamper with a size field near the header
            k = rng.randrange(min(len(b), 40))
            b[k:k + 4] = rng.choice([b"\xff\xff\xff\xff", b"\x00\x00\x00\x00", b"\x7f\xff\xff\xff"])
    return bytes(b)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=120)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-pixels", type=int, default=20_000_000)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    corpus = seeds()
    outcomes: Counter = Counter()
    failures = []
    slowest = 0.0
    deadline = time.monotonic() + args.seconds
    n = 0
    while time.monotonic() < deadline:
        fmt, data = corpus[n % len(corpus)]
        sample = mutate(data, rng)
        t0 = time.perf_counter()
        try:
            load_photo(sample, max_pixels=args.max_pixels)
            outcomes[(fmt, "decoded")] += 1
        except ImageLoadError:
            outcomes[(fmt, "clean error")] += 1
        except Exception as e:  # a bug: not a clean error
            outcomes[(fmt, f"BUG {type(e).__name__}")] += 1
            if len(failures) < 5:
                failures.append((fmt, sample, traceback.format_exc()))
        slowest = max(slowest, time.perf_counter() - t0)
        n += 1
    print(f"# fuzz load_photo: {n} mutated inputs in {args.seconds:.0f} s (seed {args.seed}), "
          f"slowest single input {slowest * 1000:.0f} ms")
    print("| format | outcome | count |\n|---|---|---:|")
    for (fmt, outcome), count in sorted(outcomes.items()):
        print(f"| {fmt} | {outcome} | {count} |")
    for fmt, sample, tb in failures:
        print(f"\n--- {fmt} failure ({len(sample)} bytes) ---\n{tb}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
