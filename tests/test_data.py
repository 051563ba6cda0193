"""Packs and layouts on real photos."""

import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from huenet.data import (
    EpochPlan, FolderPhotos, PackedPhotos, augment, discover, prepare_pack, square_photo, split_paths,
)

from conftest import DATA


@pytest.fixture(scope="module")
def flower_dir(tmp_path_factory):
    """A small flowers-like tree (class folders) of real photos, plus trouble."""
    root = tmp_path_factory.mktemp("flowers")
    for cls in ["daisy", "roses", "tulips"]:
        (root / cls).mkdir()
        for p in sorted((DATA / "flowers" / "train" / cls).glob("*.jpg"))[:8]:
            shutil.copy(p, root / cls / p.name)
    first = sorted((root / "daisy").glob("*.jpg"))[0]
    shutil.copy(first, root / "roses" / "copy_of_daisy.jpg")  # duplicate by content
    Image.open(first).convert("L").convert("RGB").save(root / "tulips" / "gray.jpg")  # near-gray
    (root / "tulips" / "broken.jpg").write_bytes(first.read_bytes()[:500])  # truncated
    (root / "tulips" / "empty.png").write_bytes(b"")
    return root


def test_prepare_packs_skips_and_reports(flower_dir, tmp_path):
    report = prepare_pack([flower_dir], tmp_path / "pack", size=64, val_fraction=0.25, seed=3, workers=2,
                          progress=False)
    assert report.counts == {"train": 18, "val": 6}  # 24 good photos
    reasons = {p.rsplit("/", 1)[-1]: r for p, r in report.skipped}
    assert set(reasons) == {"gray.jpg", "broken.jpg", "empty.png"}
    assert reasons["gray.jpg"].startswith("near-gray") and "empty" in reasons["empty.png"]
    assert report.duplicates == 1
    index = json.loads((tmp_path / "pack" / "index.json").read_text())
    assert index["size"] == 64 and len(index["splits"]["val"]["photos"]) == 6
    assert (tmp_path / "pack" / "train.u8").stat().st_size == 18 * 64 * 64 * 3
    pack = PackedPhotos(tmp_path / "pack", "train")
    batch = pack.batch([5, 0, 17])
    assert batch.shape == (3, 3, 64, 64) and batch.dtype == torch.uint8
    # the pack holds exactly what square_photo makes of the file it names
    ref = square_photo(pack.paths[5], 64)
    assert torch.equal(batch[0], torch.from_numpy(ref).permute(2, 0, 1))
    # same seed, same split
    again = prepare_pack([flower_dir], tmp_path / "pack2", size=64, val_fraction=0.25, seed=3, workers=1,
                         progress=False)
    assert PackedPhotos(tmp_path / "pack2", "val").paths == PackedPhotos(tmp_path / "pack", "val").paths
    assert again.counts == report.counts


def test_folder_reading_gives_the_same_tensors_as_the_pack(flower_dir, tmp_path):
    prepare_pack([flower_dir / "daisy"], tmp_path / "p", size=48, workers=1, progress=False)
    pack = PackedPhotos(tmp_path / "p", "train")
    ds = FolderPhotos(pack.paths, 48)
    for i in (0, 3, 7):
        j, t = ds[i]
        assert j == i and torch.equal(t, pack.batch([i])[0])


def test_exif_rotation_is_honoured_when_packing(tmp_path):
    src = sorted((DATA / "bsds500" / "test").glob("*.jpg"))[0]
    img = Image.open(src)
    exif = Image.Exif()
    exif[0x0112] = 3  # upside down
    img.rotate(180).save(tmp_path / "r.jpg", exif=exif.tobytes(), quality=95)
    img.save(tmp_path / "n.jpg", quality=95)
    a, b = square_photo(tmp_path / "r.jpg", 64).astype(int), square_photo(tmp_path / "n.jpg", 64).astype(int)
    assert np.abs(a - b).mean() < 3


def test_layouts_lamem_list_and_split_folders(tmp_path):
    photos = sorted((DATA / "imagenet-samples").glob("*.jpg"))[:9]
    lamem = tmp_path / "lamem"
    (lamem / "images").mkdir(parents=True)
    (lamem / "splits").mkdir()
    for p in photos:
        shutil.copy(p, lamem / "images" / p.name)
    (lamem / "splits" / "train_1.txt").write_text("".join(f"{p.name} 0.75\n" for p in photos[:6]))
    (lamem / "splits" / "val_1.txt").write_text("".join(f"{p.name} 0.61\n" for p in photos[6:8]))
    (lamem / "splits" / "test_1.txt").write_text(f"{photos[8].name} 0.5\n")
    layout, splits = discover(lamem)
    assert layout == "lamem" and [len(splits[s]) for s in ("train", "val", "test")] == [6, 2, 1]
    report = prepare_pack([lamem], tmp_path / "lp", size=32, workers=1, progress=False)
    assert report.counts == {"train": 6, "val": 2, "test": 1}

    listing = tmp_path / "list.txt"
    listing.write_text("# my photos\n" + "".join(f"lamem/images/{p.name}\n" for p in photos[:4]))
    assert discover(listing) == ("list", {"all": [lamem / "images" / p.name for p in photos[:4]]})
    layout, splits = discover(DATA / "bsds500")
    assert layout == "splits-folders" and len(splits["train"]) == 200 and len(splits["test"]) == 200


def test_val_fraction_split_is_fixed_and_disjoint():
    paths = sorted((DATA / "imagenet-samples").glob("*.jpg"))[:50]
    a = split_paths(paths, 0.2, seed=1)
    assert a == split_paths(list(reversed(paths)), 0.2, seed=1)
    assert len(a["val"]) == 10 and not set(a["val"]) & set(a["train"])
    assert a != split_paths(paths, 0.2, seed=2)


def test_augmentation_crops_and_flips_as_planned():
    u8 = torch.arange(2 * 3 * 8 * 8, dtype=torch.int64).remainder(256).to(torch.uint8).view(2, 3, 8, 8)
    out = augment(u8, torch.tensor([1, 2]), torch.tensor([3, 0]), torch.tensor([False, True]), 5)
    assert out.shape == (2, 3, 5, 5)
    assert torch.equal(out[0], u8[0, :, 1:6, 3:8].float() / 255)
    assert torch.equal(out[1], u8[1, :, 2:7, 0:5].flip(-1).float() / 255)
    p1, p2 = EpochPlan.make(100, 144, 128, seed=0, epoch=4), EpochPlan.make(100, 144, 128, seed=0, epoch=4)
    assert torch.equal(p1.order, p2.order) and int(p1.top.max()) <= 16
    assert not torch.equal(p1.order, EpochPlan.make(100, 144, 128, seed=0, epoch=5).order)
