"""The fused full-resolution color path (numba) against the tensor path it replaces on CPUs."""

import numpy as np
import pytest
import torch
from PIL import Image

from huenet import fused
from huenet.colorize import FUSED_MIN_PIXELS, Colorizer
from huenet.images import load_photo, photo_from_pil

from conftest import DATA

pytestmark = pytest.mark.skipif(not fused.available(), reason="numba is not installed (pip install 'huenet[fast]')")


def _photos(tmp_path):
    """Real photos as users bring them: color JPEGs, an 8-bit gray one and a 16-bit gray PNG."""
    srcs = sorted((DATA / "bsds500" / "test").glob("*.jpg"))
    out = [load_photo(srcs[0]), load_photo(srcs[50])]
    gray = Image.open(srcs[100]).convert("L")
    out.append(photo_from_pil(gray))
    g16 = tmp_path / "g16.png"
    Image.fromarray((np.asarray(gray).astype(np.uint16) * 257)).save(g16)
    out.append(load_photo(g16))
    return out


@pytest.mark.parametrize("saturation", [1.0, 2.5])  # 2.5: many colors outside sRGB, the bisection at work
def test_fused_path_matches_the_tensor_path_on_real_photos(small_checkpoint, tmp_path, saturation):
    ref = Colorizer.load(small_checkpoint, device="cpu", precision="fp32", saturation=saturation, fused=False)
    fast = Colorizer.load(small_checkpoint, device="cpu", precision="fp32", saturation=saturation, fused=True)
    for photo in _photos(tmp_path):
        a = np.asarray(ref.colorize_photos([photo])[0], np.int16)
        b = np.asarray(fast.colorize_photos([photo])[0], np.int16)
        d = np.abs(a - b)
        assert a.shape == b.shape and d.max() <= 2, d.max()
        assert (d <= 1).mean() >= 0.999 and (d == 0).mean() > 0.99, ((d <= 1).mean(), (d == 0).mean())


def test_large_photos_take_the_fused_path_and_small_ones_do_not(small_checkpoint):
    c = Colorizer.load(small_checkpoint, device="cpu")
    assert c.fused is None
    big = torch.zeros(1, 1, 1024, FUSED_MIN_PIXELS // 1024)
    small = torch.zeros(1, 1, 256, 256)
    assert c._use_fused(big) and not c._use_fused(small)
    assert not Colorizer.load(small_checkpoint, device="cpu", fused=False)._use_fused(big)
    assert Colorizer.load(small_checkpoint, device="cpu", fused=True)._use_fused(small)


def test_threads_may_call_the_fused_path_at_once(small_checkpoint):
    """A server with several workers colorizes from several threads: the kernel calls take turns."""
    from concurrent.futures import ThreadPoolExecutor

    c = Colorizer.load(small_checkpoint, device="cpu", precision="fp32", fused=True)
    img = Image.open(sorted((DATA / "bsds500" / "test").glob("*.jpg"))[3])
    want = np.asarray(c.colorize(img))
    with ThreadPoolExecutor(3) as ex:
        outs = list(ex.map(lambda _: np.asarray(c.colorize(img)), range(6)))
    assert all(np.array_equal(o, want) for o in outs)
