"""Stage the photos for the prepared GPU run of issue 16 (scripts/gpu_issue16.sh).

A device call carries at most 64 MiB of files, so the photos travel small: center-cropped to
128 x 128 (what a 128 px pack stores anyway), WebP quality 82 (~3.9 KB a photo; JPEG needs ~5.5 for the same look),
split in two halves (``gpu/photos_1.zip``, ``gpu/photos_2.zip``, each with every source in
proportion), so that each of two device calls carries one half beside the 29 MiB encoder file:
the comparison runs on half 1; the long run on both halves when the machine is still warm, on
half 2 alone if it is not. ``val/`` (in both halves) is a fixed-seed 500 photos of diverse/train
held out for model selection (diverse/val and bsds500/test stay unseen: they are scored here,
afterwards).

The mix, on purpose: all 13,554 everyday photos of diverse/train (minus the 500), the 971 ImageNet
samples (objects and animals), BSDS500 train (200 scenes), and only 1,000 of the 3,224 flowers
(every third or so): the old default learned from 3 flowers in 4 and painted everything orange.
"""

import argparse
import io
import random
import zipfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from PIL import Image, ImageOps

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


def crop128(path: Path, quality: int) -> bytes:
    im = ImageOps.exif_transpose(Image.open(path)).convert("RGB")
    w, h = im.size
    s = 128 / min(w, h)
    if s != 1:
        im = im.resize((max(128, round(w * s)), max(128, round(h * s))), Image.BICUBIC, reducing_gap=3.0)
    w, h = im.size
    im = im.crop(((w - 128) // 2, (h - 128) // 2, (w - 128) // 2 + 128, (h - 128) // 2 + 128))
    buf = io.BytesIO()
    im.save(buf, "WEBP", quality=quality, method=4)
    return buf.getvalue()


def _job(args):
    src, name, quality = args
    return name, crop128(src, quality)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quality", type=int, default=82)
    ap.add_argument("--val", type=int, default=500)
    args = ap.parse_args()
    diverse = sorted((SHARED / "diverse" / "train").glob("*.jpg"))
    rng = random.Random(16)
    held = set(rng.sample(range(len(diverse)), args.val))
    jobs = [(p, f"val/{p.stem}.webp", args.quality) for i, p in enumerate(diverse) if i in held]
    jobs += [(p, f"train/{p.stem}.webp", args.quality) for i, p in enumerate(diverse) if i not in held]
    jobs += [(p, f"train/imagenet__{p.stem}.webp", args.quality) for p in sorted((SHARED / "imagenet-samples").glob("*.jpg"))]
    jobs += [(p, f"train/bsds500__{p.stem}.webp", args.quality) for p in sorted((SHARED / "bsds500" / "train").glob("*.jpg"))]
    flowers = sorted((SHARED / "flowers" / "train").rglob("*.jpg"))
    jobs += [(p, f"train/flowers__{p.parent.name}_{p.stem}.webp", args.quality)
             for p in random.Random(3).sample(flowers, 1000)]
    with ProcessPoolExecutor(2) as ex:
        encoded = list(ex.map(_job, jobs, chunksize=64))
    rng.shuffle(encoded)  # both halves hold every source in proportion
    val = [e for e in encoded if e[0].startswith("val/")]
    train = [e for e in encoded if not e[0].startswith("val/")]
    halves = {"gpu/photos_1.zip": val + train[0::2], "gpu/photos_2.zip": val + train[1::2]}
    Path("gpu").mkdir(exist_ok=True)
    for target, part in halves.items():
        # a zip of stored (not deflated: WebP is compressed) entries: ~100 bytes a photo, where a
        # tar's 512-byte headers and padding cost 5 MB for 7,000 photos
        with zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as z:
            for name, data in part:
                z.writestr(zipfile.ZipInfo(name, (2026, 1, 1, 0, 0, 0)), data)
        n_val = sum(n.startswith("val/") for n, _ in part)
        print(f"{target}: {len(part)} photos ({n_val} val), {sum(len(d) for _, d in part) / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
