"""Training data: photo collections (layouts and splits), packs, and the augmentation plan.

A *pack* (``huenet prepare``) decodes every photo once, resizes its short side to ``size`` and
center-crops it square, and stores the result as raw uint8 arrays that training memory-maps:

    PACK/train.u8   N x size x size x 3 (uint8, RGB, C order)
    PACK/val.u8     M x size x size x 3
    PACK/index.json sizes, counts, source paths and content hashes per split, the skip report

Training can also read a folder directly (``FolderPhotos``): the same ``square_photo`` function
makes the same array from the same file, decoded in DataLoader workers.
"""

from __future__ import annotations

import hashlib
import json
import math
import multiprocessing
import os
import random
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from tqdm import tqdm
import torch.nn.functional as F
from PIL import Image

from .config import TrainConfig
from .errors import SettingsError
from .color import rgb_to_lab
from .images import DEFAULT_MAX_PIXELS, IMAGE_EXTENSIONS, ImageLoadError, open_image

PACK_FORMAT = "huenet-pack"
SPLITS = ("train", "val", "test")

# Mean chroma (sqrt(a^2 + b^2), Lab units) under which a photo has no color to learn from:
# black-and-white scans, sepia-free gray conversions. Real color photos sit well above 8.
NEAR_GRAY_CHROMA = 4.0


# ---------------------------------------------------------------------------------------------
# Layouts: where the photos and their splits are


def _walk_images(folder: Path) -> list[Path]:
    out = []
    for root, dirs, files in os.walk(folder):  # does not follow folder symlinks: no loops
        dirs.sort()
        out += [Path(root) / f for f in sorted(files) if Path(f).suffix.lower() in IMAGE_EXTENSIONS]
    return out


def _read_list(list_file: Path, base: Path) -> list[Path]:
    """One image per line; the first token (whitespace or comma separated) is the path."""
    paths = []
    for line in list_file.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        token = line.replace(",", " ").split()[0]
        p = Path(token)
        paths.append(p if p.is_absolute() else base / p)
    return paths


def discover(source: str | os.PathLike, lamem_split: int = 1) -> tuple[str, dict[str, list[Path]]]:
    """Find the photos of ``source`` and any splits its layout defines.

    Layouts: a text file listing image paths; MIT LaMem (``images/`` plus
    ``splits/{train,val,test}_N.txt``); a folder with ``train/``, ``val/`` (and ``test/``)
    subfolders; any other folder, walked recursively (TensorFlow flowers' class folders included).
    Returns (layout name, {split: paths}); a layout without splits gives everything as ``all``.
    """
    src = Path(source)
    if src.is_file():
        return "list", {"all": _read_list(src, src.parent)}
    if not src.is_dir():
        raise FileNotFoundError(f"{src}: no such folder or list file")
    if (src / "images").is_dir() and (src / "splits").is_dir():
        splits = {}
        for split in SPLITS:
            f = src / "splits" / f"{split}_{lamem_split}.txt"
            if f.is_file():
                splits[split] = _read_list(f, src / "images")
        if not splits:
            raise FileNotFoundError(f"{src}/splits: no train_{lamem_split}.txt / val_{lamem_split}.txt lists")
        return "lamem", splits
    named = {s: src / s for s in SPLITS if (src / s).is_dir()}
    if "train" in named and ("val" in named or "test" in named):
        return "splits-folders", {s: _walk_images(p) for s, p in named.items()}
    return "folder", {"all": _walk_images(src)}


def split_paths(paths: Sequence[Path], val_fraction: float, seed: int) -> dict[str, list[Path]]:
    """A fixed-seed random split (sorted first, so the result does not depend on walk order)."""
    paths = sorted(paths)
    order = list(range(len(paths)))
    random.Random(seed).shuffle(order)
    n_val = int(round(len(paths) * val_fraction))
    val = sorted(paths[i] for i in order[:n_val])
    train = sorted(paths[i] for i in order[n_val:])
    return {"train": train, "val": val}


# ---------------------------------------------------------------------------------------------
# One photo -> one square uint8 array


def square_photo(path: str | os.PathLike, size: int, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode (EXIF rotation applied), resize the short side to ``size`` and center-crop square.

    Returns uint8 ``size x size x 3`` RGB. Raises ``ImageLoadError``.
    """
    img = open_image(path, max_pixels=max_pixels)
    if img.mode != "RGB":
        img = img.convert("RGB")
    w, h = img.size
    scale = size / min(w, h)
    nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
    img = img.resize((nw, nh), Image.BICUBIC, reducing_gap=3.0)
    left, top = (nw - size) // 2, (nh - size) // 2
    return np.array(img.crop((left, top, left + size, top + size)), dtype=np.uint8)


def mean_chroma(rgb_u8: np.ndarray) -> float:
    rgb = torch.from_numpy(rgb_u8).permute(2, 0, 1).float().div(255)[None]
    ab = rgb_to_lab(rgb)[0, 1:]
    return float(ab.pow(2).sum(0).sqrt().mean())


def _prepare_one(args) -> tuple[str, np.ndarray | None, str, str]:
    """(path, array or None, sha256 of the file or '', reason when skipped). Runs in a worker
    process: Pillow and hashlib only (the near-gray test runs in the parent, with torch)."""
    path, size, max_pixels = args
    try:
        digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError as e:
        return str(path), None, "", f"unreadable ({e.strerror or e})"
    try:
        arr = square_photo(path, size, max_pixels)
    except ImageLoadError as e:
        return str(path), None, digest, e.reason
    return str(path), arr, digest, ""


@dataclass
class PrepareReport:
    counts: dict[str, int] = field(default_factory=dict)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    duplicates: int = 0
    bytes_written: int = 0

    def summary(self) -> str:
        kinds: dict[str, int] = {}
        for _, reason in self.skipped:
            key = "near-gray" if reason.startswith("near-gray") else "unreadable"
            kinds[key] = kinds.get(key, 0) + 1
        counts = ", ".join(f"{k} {v}" for k, v in self.counts.items())
        return (f"packed {counts}; skipped {kinds.get('unreadable', 0)} unreadable, "
                f"{kinds.get('near-gray', 0)} near-gray, {self.duplicates} duplicates; "
                f"{self.bytes_written / 2**20:.1f} MiB")


def prepare_pack(
    sources: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    size: int = 144,
    val_fraction: float | None = None,
    seed: int = 0,
    workers: int | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    lamem_split: int = 1,
    progress: bool = True,
) -> PrepareReport:
    """Pack photos for training (see the module docstring). Splits come from the layout when it
    has them; ``val_fraction`` makes a fixed-seed split of photos that have none (or of all,
    if the layout has no val split). Files identical in content are kept once."""
    by_split: dict[str, list[Path]] = {}
    layouts = []
    for src in sources:
        layout, splits = discover(src, lamem_split)
        layouts.append({"source": str(src), "layout": layout})
        for name, paths in splits.items():
            by_split.setdefault(name, []).extend(paths)
    unsplit = by_split.pop("all", [])
    if unsplit:
        if val_fraction:
            for name, paths in split_paths(unsplit, val_fraction, seed).items():
                by_split.setdefault(name, []).extend(paths)
        else:
            by_split.setdefault("train", []).extend(unsplit)
    elif val_fraction and "val" not in by_split:
        by_split.update(split_paths(by_split.pop("train", []), val_fraction, seed))

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    report = PrepareReport()
    seen: set[str] = set()
    index: dict = {"format": PACK_FORMAT, "version": 1, "size": size, "layout": "HWC uint8 RGB",
                   "crop": "short side resized to size, center crop", "sources": layouts, "splits": {}}
    workers = workers or min(8, os.cpu_count() or 1)
    # forkserver, not fork: a process forked after torch started its thread pools can hang.
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("forkserver")) as pool:
        for split in [s for s in SPLITS if s in by_split]:
            paths = by_split[split]
            tmp = out / f".{split}.u8.tmp"
            n = 0
            entries = []
            with open(tmp, "wb") as f:
                jobs = ((p, size, max_pixels) for p in paths)
                bar = tqdm(pool.map(_prepare_one, jobs, chunksize=16), total=len(paths),
                           desc=f"pack {split}", unit="img", disable=not progress)
                for path, arr, digest, reason in bar:
                    if arr is not None and mean_chroma(arr) < NEAR_GRAY_CHROMA:
                        arr, reason = None, "near-gray (no color to learn from)"
                    if arr is None:
                        report.skipped.append((path, reason))
                        continue
                    if digest in seen:
                        report.duplicates += 1
                        continue
                    seen.add(digest)
                    f.write(arr.tobytes())
                    entries.append({"path": path, "sha256": digest})
                    n += 1
            os.replace(tmp, out / f"{split}.u8")
            report.counts[split] = n
            report.bytes_written += n * size * size * 3
            index["splits"][split] = {"count": n, "file": f"{split}.u8", "photos": entries}
    index["skipped"] = [{"path": p, "reason": r} for p, r in report.skipped]
    index["duplicates"] = report.duplicates
    (out / "index.json").write_text(json.dumps(index, indent=1))
    return report


# ---------------------------------------------------------------------------------------------
# Reading packs and folders


def is_pack(path: str | os.PathLike) -> bool:
    p = Path(path) / "index.json"
    if not p.is_file():
        return False
    try:
        return json.loads(p.read_text()).get("format") == PACK_FORMAT
    except (OSError, ValueError):
        return False


class PackedPhotos:
    """One split of a pack, memory-mapped: ``batch(indices) -> N x 3 x S x S`` uint8 tensor."""

    def __init__(self, pack: str | os.PathLike, split: str = "train", preload: bool = False):
        self.root = Path(pack)
        index = json.loads((self.root / "index.json").read_text())
        if split not in index["splits"]:
            raise SettingsError(f"{self.root}: pack has no {split!r} split (has {sorted(index['splits'])})")
        info = index["splits"][split]
        self.size = index["size"]
        self.count = info["count"]
        self.paths = [e["path"] for e in info["photos"]]
        shape = (self.count, self.size, self.size, 3)
        file = self.root / info["file"]
        expected = self.count * self.size * self.size * 3
        if file.stat().st_size != expected:
            raise SettingsError(f"{file}: {file.stat().st_size} bytes, expected {expected} (damaged pack?)")
        self.array = np.memmap(file, dtype=np.uint8, mode="r", shape=shape) if self.count else np.zeros(shape, np.uint8)
        if preload:
            self.array = np.ascontiguousarray(self.array)

        self.on_device: torch.Tensor | None = None

    def to_device(self, device: torch.device) -> "PackedPhotos":
        """Hold the whole split in (GPU) memory as uint8: batches are then gathered there, and
        the data path costs no host-to-device copies (a 4,000-photo pack at 144 px is 250 MB)."""
        self.on_device = torch.from_numpy(np.ascontiguousarray(self.array)).to(device)
        return self

    def __len__(self) -> int:
        return self.count

    def batch(self, indices: Sequence[int]) -> torch.Tensor:
        if self.on_device is not None:
            idx = torch.as_tensor(np.asarray(indices, dtype=np.int64), device=self.on_device.device)
            return self.on_device.index_select(0, idx).permute(0, 3, 1, 2)
        # Sorted reads are sequential on disk; then put them back in the asked order.
        idx = np.asarray(indices, dtype=np.int64)
        order = np.argsort(idx, kind="stable")
        rows = self.array[idx[order]]
        out = np.empty_like(rows)
        out[order] = rows
        return torch.from_numpy(out).permute(0, 3, 1, 2)


class FolderPhotos(torch.utils.data.Dataset):
    """Photos read straight from files (for data too large to pack): same arrays as a pack.

    A file that cannot be read yields ``None``; ``collate_photos`` drops it and counts it."""

    def __init__(self, paths: Sequence[str | os.PathLike], size: int, max_pixels: int = DEFAULT_MAX_PIXELS):
        self.paths = [Path(p) for p in paths]
        self.size = size
        self.max_pixels = max_pixels

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        try:
            return i, torch.from_numpy(square_photo(self.paths[i], self.size, self.max_pixels)).permute(2, 0, 1)
        except ImageLoadError as e:
            return i, str(e)


def collate_photos(items):
    """-> (positions kept, N x 3 x S x S uint8, [error lines])."""
    keep = [(i, t) for i, t in items if isinstance(t, torch.Tensor)]
    errors = [t for _, t in items if not isinstance(t, torch.Tensor)]
    if not keep:
        return [], None, errors
    return [i for i, _ in keep], torch.stack([t for _, t in keep]), errors


# ---------------------------------------------------------------------------------------------
# The augmentation plan: which photo, which crop, which flip, for every position of an epoch


# -- training sources: packs (memory-mapped) or folders (decoded by DataLoader workers) --------


class PackSource:
    """Training batches from a pack (all of a split, or the ``subset`` of its positions)."""

    def __init__(self, photos: PackedPhotos, subset: list[int] | None = None):
        self.photos = photos
        self.stored = photos.size
        self.skipped = 0
        self.subset = subset  # positions in the pack this source uses (None: all)

    def __len__(self):
        return len(self.photos) if self.subset is None else len(self.subset)

    def batches(self, index_lists):
        for idx in index_lists:
            rows = idx if self.subset is None else [self.subset[i] for i in idx]
            yield list(range(len(idx))), self.photos.batch(rows)


class FolderSource:
    """Training batches decoded from photo files by DataLoader workers; bad files skipped and counted."""

    def __init__(self, paths, stored: int, workers: int):
        self.dataset = FolderPhotos(paths, stored)
        self.stored = stored
        self.workers = workers
        self.skipped = 0

    def __len__(self):
        return len(self.dataset)

    def batches(self, index_lists):
        loader = torch.utils.data.DataLoader(
            self.dataset, batch_sampler=index_lists, num_workers=self.workers, collate_fn=collate_photos,
            persistent_workers=False,
        )
        for idx, (kept, u8, errors) in zip(index_lists, loader):
            for line in errors:
                self.skipped += 1
                print(f"skipped {line}", file=sys.stderr)
            pos = {int(i): k for k, i in enumerate(idx)}
            yield [pos[i] for i in kept], u8


def open_sources(cfg: TrainConfig) -> tuple[object, object, dict]:
    """(train source, validation source, data provenance)."""
    if not cfg.data:
        raise SettingsError("no training data: pass --data PACK_OR_FOLDER")
    stored_for_folders = cfg.size * 9 // 8  # random crops need a margin, like a 144 px pack for 128
    if is_pack(cfg.data):
        train = PackSource(PackedPhotos(cfg.data, "train", preload=cfg.preload))
        index = json.loads((Path(cfg.data) / "index.json").read_text())
        provenance = {"pack": str(cfg.data), "sources": index.get("sources"),
                      "counts": {k: v["count"] for k, v in index["splits"].items()},
                      # for evaluation's mean-ab baseline, so it needs no access to the pack
                      "mean_ab": mean_ab_of_pack(cfg.data, max_photos=1000)}
        val = None
        if cfg.val_data is None and "val" in index["splits"]:
            val = PackSource(PackedPhotos(cfg.data, "val", preload=cfg.preload))
        elif cfg.val_data is None and cfg.val_fraction > 0:
            # A pack without a val split: hold out a fixed-seed fraction of it for validation.
            n = len(train)
            order = torch.randperm(n, generator=torch.Generator().manual_seed(cfg.seed)).tolist()
            n_val = max(1, int(round(n * cfg.val_fraction)))
            val = PackSource(train.photos, sorted(order[:n_val]))
            train = PackSource(train.photos, sorted(order[n_val:]))
            provenance["held_out_for_val"] = n_val
    else:
        layout, splits = discover(cfg.data)
        if "all" in splits:
            splits = split_paths(splits["all"], cfg.val_fraction, cfg.seed)
        train = FolderSource(splits["train"], stored_for_folders, cfg.workers)
        val = FolderSource(splits["val"], stored_for_folders, 0) if splits.get("val") else None
        provenance = {"folder": str(cfg.data), "layout": layout, "counts": {k: len(v) for k, v in splits.items()}}
    if cfg.val_data is not None:
        val = _val_source(cfg.val_data, stored_for_folders)
        provenance["val"] = str(cfg.val_data)
    if train.stored < cfg.size:
        raise SettingsError(f"training size {cfg.size} is larger than the pack's stored size {train.stored}")
    return train, val, provenance


def _val_source(path: str, stored: int):
    """A separate validation set: a pack's val split (else its train split), or a folder."""
    if is_pack(path):
        splits = json.loads((Path(path) / "index.json").read_text())["splits"]
        return PackSource(PackedPhotos(path, "val" if "val" in splits else "train"))
    splits = discover(path)[1]
    return FolderSource(splits.get("val") or splits.get("all") or [], stored, 0)


def mean_ab_of_pack(pack: str | os.PathLike, max_photos: int = 2000) -> tuple[float, float]:
    """Mean a and b over the pixels of (up to ``max_photos`` evenly spaced) training photos."""
    photos = PackedPhotos(pack, "train")
    idx = np.linspace(0, len(photos) - 1, min(len(photos), max_photos)).astype(int)
    total, count = torch.zeros(2, dtype=torch.float64), 0
    for start in range(0, len(idx), 64):
        rgb = photos.batch(idx[start:start + 64]).float().div(255)
        ab = rgb_to_lab(rgb)[:, 1:]
        total += ab.double().sum(dim=(0, 2, 3))
        count += ab[:, 0].numel()
    a, b = (total / count).tolist()
    return a, b


@dataclass
class EpochPlan:
    """Order, crops and flips for one epoch, a pure function of (seed, epoch).

    Every process of a distributed run and every resumed run computes the same plan, so a
    sample's augmentation depends only on its position in the epoch, never on which rank or
    which session handles it.

    Two kinds of crop: the seed's (a ``crop`` x ``crop`` window at ``top``, ``left``) or, with
    ``scale`` given, random resized crops: a box of ``scale`` (a range) of the photo's area and
    aspect in ``aspect`` (log-uniform), resampled to the step's output size (``boxes``: x0, y0,
    w, h in pixels; ``resized_crops``). ``sizes`` then gives each step of the epoch its output
    size, drawn from ``out_sizes``: training at several sizes, one per batch."""

    order: torch.Tensor  # N (photo index per position)
    top: torch.Tensor  # N
    left: torch.Tensor  # N
    flip: torch.Tensor  # N (bool)
    boxes: torch.Tensor | None = None  # N x 4 (random resized crops)
    sizes: torch.Tensor | None = None  # per step: the output size

    @classmethod
    def make(cls, n: int, stored: int, crop: int, seed: int, epoch: int,
             scale: tuple[float, float] | None = None, aspect: tuple[float, float] = (3 / 4, 4 / 3),
             out_sizes: Sequence[int] = (), steps: int = 0) -> "EpochPlan":
        g = torch.Generator().manual_seed(int(seed) * 1_000_003 + int(epoch))
        span = stored - crop + 1
        plan = cls(
            order=torch.randperm(n, generator=g),
            top=torch.randint(0, span, (n,), generator=g),
            left=torch.randint(0, span, (n,), generator=g),
            flip=torch.rand(n, generator=g) < 0.5,
        )
        if scale is not None:
            area = torch.empty(n).uniform_(scale[0], scale[1], generator=g)
            log_r = torch.empty(n).uniform_(math.log(aspect[0]), math.log(aspect[1]), generator=g)
            w = (area * log_r.exp()).sqrt().clamp(max=1.0) * stored
            h = (area / log_r.exp()).sqrt().clamp(max=1.0) * stored
            x0 = torch.rand(n, generator=g) * (stored - w)
            y0 = torch.rand(n, generator=g) * (stored - h)
            plan.boxes = torch.stack([x0, y0, w, h], 1)
            sizes = list(out_sizes) or [crop]
            plan.sizes = torch.tensor(sizes)[torch.randint(0, len(sizes), (max(steps, 1),), generator=g)]
        return plan


def resized_crops(batch_u8: torch.Tensor, boxes: torch.Tensor, flip: torch.Tensor, out: int) -> torch.Tensor:
    """Random resized crops: each box (x0, y0, w, h in pixels of the ``N x 3 x S x S`` uint8
    batch) resampled bilinearly to ``out x out`` (flipped where asked) -> float RGB in [0, 1]."""
    n, _, s, _ = batch_u8.shape
    boxes = boxes.to(batch_u8.device, torch.float32)
    theta = torch.zeros(n, 2, 3, device=batch_u8.device)
    sign = 1.0 - 2.0 * flip.to(batch_u8.device, torch.float32)
    theta[:, 0, 0] = boxes[:, 2] / s * sign
    theta[:, 1, 1] = boxes[:, 3] / s
    theta[:, 0, 2] = (2 * boxes[:, 0] + boxes[:, 2]) / s - 1  # the box centre, in [-1, 1]
    theta[:, 1, 2] = (2 * boxes[:, 1] + boxes[:, 3]) / s - 1
    grid = F.affine_grid(theta, [n, 3, out, out], align_corners=False)
    rgb = F.grid_sample(batch_u8.float(), grid, mode="bilinear", padding_mode="border", align_corners=False)
    return rgb.div_(255.0).clamp_(0.0, 1.0)


def augment(batch_u8: torch.Tensor, top: torch.Tensor, left: torch.Tensor, flip: torch.Tensor, crop: int) -> torch.Tensor:
    """Random crop + horizontal flip on ``N x 3 x S x S`` uint8 -> float RGB in [0, 1]."""
    n, _, s, _ = batch_u8.shape
    if crop == s:
        out = batch_u8
    else:
        rows = (top.view(n, 1) + torch.arange(crop).view(1, crop)).to(batch_u8.device)  # N x crop
        cols = (left.view(n, 1) + torch.arange(crop).view(1, crop)).to(batch_u8.device)
        ar = torch.arange(n, device=batch_u8.device).view(n, 1, 1)
        out = batch_u8.permute(0, 2, 3, 1)[ar, rows.view(n, crop, 1), cols.view(n, 1, crop)].permute(0, 3, 1, 2)
    flip = flip.to(batch_u8.device).view(n, 1, 1, 1)
    out = torch.where(flip, out.flip(-1), out)
    return out.float().div_(255.0)


def lab_batch(rgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``N x 3 x H x W`` RGB -> (L ``N x 1 x H x W``, ab ``N x 2 x H x W``), on rgb's device."""
    lab = rgb_to_lab(rgb)
    return lab[:, :1], lab[:, 1:]
