"""Issue 26's two measures of color hints, on real photos (every 10th of a folder by default).

    python scripts/hint_locality.py ../shared/data/bsds500/test [--model M] [--reach 0.083 0.05 ...]

1. Locality: one hint at a fixed-seed random point, a color at least 40 ab units from the truth
   there (and displayable at that point's lightness). Against the unhinted output: beyond a quarter
   of the diagonal from the point, the mean Delta ab and the share of pixels moved by more than 10;
   in the 9x9 patch around the point, the mean Delta ab to the hint's color.
2. Gain: 10 true-color points (the mean of a 5x5 patch of the original, radius 2): PSNR with them
   minus PSNR without.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from huenet import hints as H
from huenet.color import lab_to_rgb, rgb_to_lab
from huenet.colorize import Colorizer
from huenet.data import _walk_images
from huenet.images import load_photo
from huenet.metrics import psnr


def lab(u8: np.ndarray) -> np.ndarray:
    return rgb_to_lab(torch.from_numpy(np.ascontiguousarray(u8)).permute(2, 0, 1)[None].float() / 255)[0].numpy()


def wrong_color(L: float, ab_true: np.ndarray, rng: np.random.Generator) -> tuple[tuple[int, int, int], np.ndarray]:
    """A color >= 40 ab units from ``ab_true`` that 8-bit sRGB shows at lightness ``L`` (so the
    output, which keeps the photo's L, can show it): its rgb and its ab as displayed."""
    for _ in range(200):
        ang, rad = rng.uniform(0, 2 * np.pi), rng.uniform(45, 80)
        ab = ab_true + rad * np.array([np.cos(ang), np.sin(ang)])
        rgb = lab_to_rgb(torch.tensor([L, *ab], dtype=torch.float32).view(1, 3, 1, 1))[0, :, 0, 0].numpy()
        if rgb.min() < 0 or rgb.max() > 1:
            continue
        rgb8 = np.round(rgb * 255).astype(np.uint8)
        shown = lab(rgb8.reshape(1, 1, 3))[:, 0, 0]
        if abs(shown[0] - L) < 2 and np.linalg.norm(shown[1:] - ab_true) >= 40:
            return tuple(int(v) for v in rgb8), shown[1:]
    raise RuntimeError("no displayable color 40 ab away")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("--model", default=None)
    ap.add_argument("--every", type=int, default=10)
    ap.add_argument("--reach", type=float, nargs="+", default=[H.DEFAULT_REACH])
    ap.add_argument("--sigma", type=float, nargs="+", default=[H.DEFAULT_SIGMA], help="0: Levin's adaptive sigma")
    args = ap.parse_args()
    c = Colorizer.load(args.model, device="cpu", precision="fp32")
    paths = _walk_images(args.data)[::args.every]
    print(f"{len(paths)} photos of {args.data}; model working size {c.size}")
    print(f"{'reach':>6} {'sigma':>5} | far mean dab | far >10 | patch dab to hint | 10 true hints dPSNR")
    for reach, sigma in [(r, s) for r in args.reach for s in args.sigma]:
        far, share, patch, gain = [], [], [], []
        for i, path in enumerate(paths):
            photo = load_photo(path)
            gt = photo.u8
            h, w = gt.shape[:2]
            plain = np.asarray(c.colorize_photos([photo])[0].convert("RGB"))
            lab_plain, lab_gt = lab(plain), lab(gt)
            rng = np.random.default_rng(i)
            y, x = int(rng.integers(4, h - 4)), int(rng.integers(4, w - 4))
            rgb, hint_ab = wrong_color(float(lab_gt[0, y, x]), lab_gt[1:, y, x], rng)
            out = lab(np.asarray(c.colorize_hinted(photo, [H.Point(x, y, rgb)], reach=reach, sigma=sigma).convert("RGB")))
            yy, xx = np.mgrid[:h, :w]
            beyond = np.hypot(yy - y, xx - x) > np.hypot(h, w) / 4
            d = np.linalg.norm(out[1:] - lab_plain[1:], axis=0)[beyond]
            far.append(d.mean())
            share.append((d > 10).mean())
            patch.append(np.linalg.norm(out[1:, y - 4:y + 5, x - 4:x + 5] - hint_ab[:, None, None], axis=0).mean())
            pts = []
            for _ in range(10):
                py, px = int(rng.integers(2, h - 2)), int(rng.integers(2, w - 2))
                col = gt[py - 2:py + 3, px - 2:px + 3].reshape(-1, 3).mean(0).round().astype(int)
                pts.append(H.Point(float(px), float(py), tuple(int(v) for v in col), 2.0))
            hinted = np.asarray(c.colorize_hinted(photo, pts, reach=reach, sigma=sigma).convert("RGB"))
            gain.append(psnr(hinted, gt) - psnr(plain, gt))
        print(f"{reach:6.3f} {sigma:5.1f} | {np.mean(far):12.2f} | {np.mean(share):7.1%} | {np.mean(patch):8.2f} "
              f"(worst {np.max(patch):5.1f}) | {np.mean(gain):+.2f} dB (worst {np.min(gain):+.2f})", flush=True)


if __name__ == "__main__":
    main()
