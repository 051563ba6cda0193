"""Uniform borders (scan frames, film edges, letterboxing): found on L, kept neutral.

A frame around a scanned print is not part of the picture, but the network sees it: it shrinks
the photo inside (objects then look smaller than the network was trained on, and the colors
change with it) and the frame itself gets a color. ``frame_box`` finds bands of near-constant L
at the edges; the colorizer then shows the network only the inside, at the working size, and
leaves the frame gray (ab = 0).

A band is a run of edge lines (rows or columns), each with a standard deviation of L below
``FLAT_STD`` and a mean within ``SAME_LEVEL`` of the outermost line's. Frames, film edges and
letterboxes are near black or near white (``DARK``, ``LIGHT``); a plain background of another
lightness may be blue sky or a teal studio backdrop, whose color the network should paint, so
it is no frame. A frame needs such bands on at least two sides, at the same level. Near black
and near white have almost no chroma anyway, so keeping them gray loses nothing even where the
"frame" was a white sky.
"""

from __future__ import annotations

import torch

FLAT_STD = 1.5  # L units: a printed frame's grain and JPEG noise stay below this at the working size
SAME_LEVEL = 4.0  # L units between the lines of one band, and between the bands of one frame
MIN_BAND = 2  # pixels at the working size (thinner is an edge artefact, not a frame)
MAX_BAND = 0.3  # of the side: a frame leaves most of the picture
DARK, LIGHT = 15.0, 88.0  # L of a frame: below DARK (film edges, letterboxes) or above LIGHT (paper)


def _band(lines: torch.Tensor) -> tuple[int, float]:
    """``lines``: K x M, the edge line first. -> (how many lines from the edge are flat at one
    level, that level)."""
    std, mean = lines.std(dim=1), lines.mean(dim=1)
    level = float(mean[0])
    flat = (std < FLAT_STD) & ((mean - level).abs() < SAME_LEVEL)
    n = int(flat.long().cumprod(0).sum())
    return n, level


def frame_box(L: torch.Tensor) -> tuple[int, int, int, int] | None:
    """``H x W`` L (one photo, any size) -> (top, bottom, left, right) of the picture inside a
    uniform frame, as slice bounds; ``None`` when there is no frame."""
    L = L.float()
    h, w = L.shape
    kh, kw = max(1, int(h * MAX_BAND)), max(1, int(w * MAX_BAND))
    sides = {
        "top": _band(L[:kh]),
        "bottom": _band(L.flip(0)[:kh]),
        "left": _band(L[:, :kw].t()),
        "right": _band(L.flip(1)[:, :kw].t()),
    }
    bands = {k: v for k, v in sides.items() if v[0] >= MIN_BAND and (v[1] < DARK or v[1] > LIGHT)}
    if len(bands) < 2:
        return None
    levels = [lv for _, lv in bands.values()]
    if max(levels) - min(levels) > SAME_LEVEL:
        return None
    n = {k: bands[k][0] if k in bands else 0 for k in sides}
    top, bottom, left, right = n["top"], h - n["bottom"], n["left"], w - n["right"]
    if bottom - top < h // 3 or right - left < w // 3:
        return None
    return top, bottom, left, right
