"""Color hints: the user says where a color goes (issue 18).

A hint is a color at a place of the photo: a point (``x, y, #rrggbb``, photo pixels, an optional
radius) or the colored marks of a hint image (a PNG of the photo's size, transparent except for
the marks: Levin et al.'s scribbles). A hint gives ab (its color's Lab); the photo's own L is kept.

``blend`` (L, the network's ab, hints) -> ab is the one rule for the CLI, the API and the web
page. ``propagate`` spreads each hint's change over its region with the edge-aware affinities of
Levin, Lischinski & Weiss (*Colorization using Optimization*, SIGGRAPH 2004),
``exp(-(L_r - L_s)^2 / (2 sigma^2))`` between 8-neighbours (a fixed sigma), in Levin's smoothness
term (each pixel's change the weighted mean of its neighbours'), with a pull
toward the network's colors strong enough that the change fades over ``DEFAULT_REACH`` of the
photo's diagonal: a hint colors its object and stops at its edges, and far from any hint the
network decides. It is one sparse linear system on a grid of at most ``SOLVE_PIXELS`` (SciPy's
sparse LU); the change is added to the network's ab at the working size, which is then upsampled
to full resolution as without hints.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from .color import rgb_to_lab
from .errors import MissingExtraError, SettingsError

MAX_HINTS = 20_000  # points per photo (a stroke counts the points along it); a hint image counts as none
# the largest grid the propagation is solved on. The normal equations' LU grows faster than the
# pixels: on 12 bsds500/val photos (10 ground-truth points) the whole hinted call took 0.78 s on the
# 128 x ~190 working grid and 0.17 s on <= 8,192 pixels, and PSNR was 26.43 vs 26.53 dB (1 point:
# 24.70 vs 25.21): the hints spread a little further on the coarser grid; 4,096 lost 0.4 dB
SOLVE_PIXELS = 8192
# how far a hint reaches, as a fraction of the photo's diagonal: in a flat region its change falls
# to about 1/e there (``propagate``); edges stop it sooner. Chosen with scripts/hint_locality.py on
# bsds500/val: far from a wrong-colored hint the network's colors stay, and ten true-colored hints
# still gain over 2 dB (docs/hints.md). The previous rule (Levin's squared term with a pull of 1e-8
# toward the network) spread one hint over the whole photo.
DEFAULT_REACH = 0.2
DEFAULT_SIGMA = 3.0  # L units: neighbours this much apart in lightness are weakly linked (e^-1/2)
HINT_WEIGHT = 100.0  # how firmly a hinted cell holds its hint's ab


class HintError(SettingsError):
    """A hint that cannot be used; the message says which and why."""


@dataclass(frozen=True)
class Point:
    """A color at ``(x, y)`` in the photo's pixel coordinates (x to the right, y down), over a
    disk of ``radius`` pixels (0: the pixel itself)."""

    x: float
    y: float
    rgb: tuple[int, int, int]
    radius: float = 0.0


_POINT = re.compile(r"^\s*(-?[0-9.]+)\s*,\s*(-?[0-9.]+)\s*,\s*#?([0-9a-fA-F]{6})\s*(?:,\s*([0-9.]+)\s*)?$")


def parse_point(text: str) -> Point:
    """``"120,340,#c03020"`` or ``"120,340,#c03020,6"`` (radius 6 px) -> ``Point``."""
    m = _POINT.match(text)
    if not m:
        raise HintError(f"hint {text!r}: expected X,Y,#RRGGBB[,RADIUS] (photo pixels, e.g. 120,340,#c03020)")
    x, y, hexrgb, radius = m.groups()
    try:
        return Point(float(x), float(y), _hex_rgb(hexrgb), float(radius or 0))
    except ValueError:
        raise HintError(f"hint {text!r}: X, Y and RADIUS must be numbers") from None


def _hex_rgb(color: str) -> tuple[int, int, int]:
    """``"#c03020"`` or ``"c03020"`` -> (192, 48, 32); ValueError otherwise."""
    c = color.strip().lstrip("#")
    if len(c) != 6:
        raise SettingsError(f"not a #rrggbb color: {color!r}")
    return tuple(int(c[i:i + 2], 16) for i in (0, 2, 4))  # type: ignore[return-value]


def point_from_dict(d: dict) -> Point:
    """JSON form: ``{"x": 120, "y": 340, "color": "#c03020", "radius": 6}``."""
    if not isinstance(d, dict) or not {"x", "y", "color"} <= set(d):
        raise HintError(f"hint {d!r}: expected an object with x, y, color (and optionally radius)")
    return parse_point(f"{d['x']},{d['y']},{d['color']},{d.get('radius', 0)}")


def stroke_points(path: Sequence[tuple[float, float]], rgb: tuple[int, int, int], radius: float = 2.0) -> list[Point]:
    """A stroke (a polyline of photo pixels, one color and brush radius) as the points along it, at
    most half a brush apart, so the stroke's whole length holds its color."""
    if len(path) < 1:
        raise HintError("a stroke needs at least one point")
    step = max(0.5, radius / 2)
    out = [Point(float(path[0][0]), float(path[0][1]), rgb, radius)]
    for (x0, y0), (x1, y1) in zip(path[:-1], path[1:]):
        n = max(1, int(np.ceil(np.hypot(x1 - x0, y1 - y0) / step)))
        out += [Point(float(x0 + (x1 - x0) * t / n), float(y0 + (y1 - y0) * t / n), rgb, radius) for t in range(1, n + 1)]
    return out


def parse_stroke(text: str) -> list[Point]:
    """``"10,20:60,25:90,40,#2f6b2a,4"``: photo pixels joined by ``:``, then a color and an optional
    brush radius (default 2) -> the points along it."""
    try:
        if ",#" not in text:
            raise ValueError
        coords, tail = text.rsplit(",#", 1)
        color, _, radius = tail.partition(",")
        path = [tuple(float(v) for v in xy.split(",")) for xy in coords.split(":")]
        if any(len(xy) != 2 for xy in path):
            raise ValueError
        return stroke_points(path, _hex_rgb(color), float(radius or 2))
    except ValueError:
        raise HintError(f"stroke {text!r}: expected X1,Y1:X2,Y2:...,#RRGGBB[,RADIUS] (photo pixels)") from None


def point_to_dict(p: Point) -> dict:
    return {"x": p.x, "y": p.y, "color": "#%02x%02x%02x" % p.rgb, "radius": p.radius}


@dataclass
class HintMap:
    """Hints rasterised on the photo's grid: ``ab`` (2 x H x W, Lab units) where ``mask`` (H x W,
    bool) is set."""

    ab: torch.Tensor
    mask: torch.Tensor


def _rgb_to_ab(rgb: np.ndarray) -> np.ndarray:
    """``K x 3`` uint8 sRGB -> ``K x 2`` ab."""
    t = torch.from_numpy(rgb.astype(np.float32) / 255.0).T.reshape(3, -1, 1)
    return rgb_to_lab(t)[1:].reshape(2, -1).T.numpy()


def _disks(points: Sequence[Point], height: int, width: int, max_hints: int):
    """Check the points against the photo and yield, per point, (y0, x0, disk, ab): the box of
    its disk (``disk`` a bool array over rows y0.., columns x0..) and its color's ab."""
    if len(points) > max_hints:
        raise HintError(f"{len(points)} hints: at most {max_hints} per photo")
    for p in points:  # all checked before any is drawn
        if not (0 <= p.x < width and 0 <= p.y < height):
            raise HintError(f"hint at ({p.x:g}, {p.y:g}) is outside the photo ({width} x {height} pixels)")
        if p.radius < 0 or p.radius > max(height, width):
            raise HintError(f"hint at ({p.x:g}, {p.y:g}): radius {p.radius:g} is not a size in this photo")
    if not points:
        return
    colors = _rgb_to_ab(np.array([p.rgb for p in points], np.uint8))
    for p, c in zip(points, colors):
        r = max(p.radius, 0.5)
        y0, y1 = max(0, int(p.y - r)), min(height, int(p.y + r) + 1)  # the disk's box only
        x0, x1 = max(0, int(p.x - r)), min(width, int(p.x + r) + 1)
        yy, xx = np.mgrid[y0:y1, x0:x1]
        disk = (xx - p.x) ** 2 + (yy - p.y) ** 2 <= r ** 2
        disk[int(p.y) - y0, int(p.x) - x0] = True  # at least the pixel the point is in
        yield y0, x0, disk, c


def rasterise(points: Sequence[Point], height: int, width: int, hint_image: str | os.PathLike | None = None,
              max_hints: int = MAX_HINTS) -> HintMap:
    """Points (and a hint image's marks) -> a ``HintMap`` of the photo's size. Bad hints raise
    ``HintError`` naming the hint and the problem."""
    disks = list(_disks(points, height, width, max_hints))
    ab = np.zeros((2, height, width), np.float32)
    mask = np.zeros((height, width), bool)
    if hint_image is not None:
        marks_ab, marks = _hint_image(hint_image, height, width)
        ab[:, marks] = marks_ab[:, marks]
        mask |= marks
    for y0, x0, disk, c in disks:
        y1, x1 = y0 + disk.shape[0], x0 + disk.shape[1]
        ab[:, y0:y1, x0:x1][:, disk] = c[:, None]
        mask[y0:y1, x0:x1] |= disk
    return HintMap(torch.from_numpy(ab), torch.from_numpy(mask))


def points_to_grid(points: Sequence[Point], height: int, width: int, size: tuple[int, int],
                   max_hints: int = MAX_HINTS) -> tuple[torch.Tensor, torch.Tensor]:
    """``to_grid(rasterise(points, ...), size)`` for points alone, touching only the hinted pixels
    (a 12 MP raster cost ~50 ms to make and pool): each pixel of each disk falls in the grid cell
    that contains it; ab is the mean of a cell's hinted pixels, weight their share of the cell."""
    h, w = size
    where, values = [], []
    for y0, x0, disk, c in _disks(points, height, width, max_hints):
        yy, xx = np.nonzero(disk)
        where.append((yy + y0).astype(np.int64) * width + (xx + x0))
        values.append(np.repeat(c[None], len(yy), axis=0))
    if not where:
        return torch.zeros(2, h, w), torch.zeros(h, w)
    idx, ab = np.concatenate(where), np.concatenate(values)
    _, last = np.unique(idx[::-1], return_index=True)  # a pixel two disks share: the later hint, as rasterise
    keep = len(idx) - 1 - last
    idx, ab = idx[keep], ab[keep]
    cell = (idx // width * h // height) * w + (idx % width * w // width)
    count = np.bincount(cell, minlength=h * w)
    sums = np.stack([np.bincount(cell, weights=ab[:, k], minlength=h * w) for k in range(2)])
    weight = count / ((height / h) * (width / w))
    mean = sums / np.maximum(count, 1)
    return (torch.from_numpy(mean.reshape(2, h, w)).float(),
            torch.from_numpy(np.minimum(weight, 1.0).reshape(h, w)).float())


def _hint_image(path: str | os.PathLike, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    from PIL import Image, UnidentifiedImageError

    try:
        img = Image.open(path)
        img.load()
    except (UnidentifiedImageError, OSError) as e:
        raise HintError(f"{path}: not a readable hint image ({e})") from None
    if img.size != (width, height):
        raise HintError(f"{path}: hint image is {img.size[0]} x {img.size[1]}, the photo {width} x {height}")
    rgba = np.asarray(img.convert("RGBA"))
    marks = rgba[..., 3] > 127  # the drawn marks; everything else transparent
    ab = np.zeros((2, height, width), np.float32)
    if marks.any():
        ab[:, marks] = _rgb_to_ab(rgba[..., :3][marks]).T
    return ab, marks


def to_grid(hints: HintMap, size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """The hints on a coarser grid (``size`` = h, w; the solve grid): (ab ``2 x h x w``, weight
    ``h x w`` in [0, 1], the share of each cell that hints cover); ab is the mean of the hinted
    full-resolution pixels."""
    m = hints.mask.float()[None, None]
    cover = F.adaptive_avg_pool2d(m, size)[0, 0] if tuple(m.shape[-2:]) != size else m[0, 0]
    summed = F.adaptive_avg_pool2d(hints.ab[None] * m, size)[0] if tuple(m.shape[-2:]) != size else hints.ab * m[0]
    ab = summed / cover.clamp(min=1e-6)
    return ab, cover


def hints_on_grid(hints: Iterable[Point | str], hint_image: str | os.PathLike | None, photo_size: tuple[int, int],
                  working: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """The hints (``Point``s or ``"x,y,#rrggbb[,r]"`` strings, photo pixels; and/or a hint image) on
    the grid the solve runs on: the working size, shrunk to at most ``SOLVE_PIXELS`` (the LU grows
    faster than the pixels; the change the hints make is resized back to the working size and
    added to the network's ab). Returns (hint ab, weight) on that grid."""
    points = [h if isinstance(h, Point) else parse_point(str(h)) for h in hints]
    (height, width), (wh, ww) = photo_size, working
    k = min(1.0, (SOLVE_PIXELS / (wh * ww)) ** 0.5)
    grid = (max(8, round(wh * k)), max(8, round(ww * k)))
    if hint_image is not None:
        return to_grid(rasterise(points, height, width, hint_image), grid)
    return points_to_grid(points, height, width, grid)


def affinities(L: np.ndarray, sigma: float | None = DEFAULT_SIGMA) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Edge-aware affinities between 8-neighbours: rows, cols and weights of a symmetric matrix,
    ``exp(-(L_r - L_s)^2 / (2 sigma^2))`` (``L`` in 0..100), divided by the pair's distance.
    About 1 inside a smooth region, about 0 across an edge or through coarse texture. ``sigma``
    None: Levin et al.'s, from the variance of L over the two pixels' 3x3 windows (which keeps
    texture connected, so one hint flows through a whole photo of foliage)."""
    h, w = L.shape
    if sigma is None:
        Lp = np.pad(L, 1, mode="edge")
        win = np.stack([Lp[1 + dy:1 + dy + h, 1 + dx:1 + dx + w] for dy in (-1, 0, 1) for dx in (-1, 0, 1)])
        var = np.maximum(win.var(axis=0) * 0.6, 1.0)  # Levin et al.'s sigma, scaled as in their code
    idx = np.arange(h * w).reshape(h, w)
    rows, cols, weights = [], [], []
    for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):  # each undirected pair once
        ys, xs = slice(0, h - dy), slice(max(0, -dx), w - max(0, dx))
        yt, xt = slice(dy, h), slice(max(0, dx), w - max(0, -dx))
        d = L[ys, xs] - L[yt, xt]
        sigma2 = 0.5 * (var[ys, xs] + var[yt, xt]) if sigma is None else sigma ** 2
        rows.append(idx[ys, xs].ravel())
        cols.append(idx[yt, xt].ravel())
        weights.append((np.exp(-(d ** 2) / (2 * sigma2)) / np.hypot(dy, dx)).ravel())
    r, c, v = np.concatenate(rows), np.concatenate(cols), np.concatenate(weights)
    return np.concatenate([r, c]), np.concatenate([c, r]), np.concatenate([v, v])


def _spot(hint_ab: torch.Tensor, hinted: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each hinted cell also holds its 8 neighbours (with the mean hint color around them): a
    click colors a spot of at least 3 x 3 solve cells (~9 x 9 pixels of a 0.15 MP photo, a
    twentieth of the working size's short side of any photo), not a single cell that the
    smoothness term would pull halfway back to the network's color."""
    m = hinted.double()[None, None]
    box = torch.ones(1, 1, 3, 3, dtype=torch.float64)
    cover = F.conv2d(m, box, padding=1)[0, 0]
    summed = F.conv2d((hint_ab * m[0])[:, None], box, padding=1)[:, 0]
    spread = summed / cover.clamp(min=1e-9)
    return torch.where(hinted[None], hint_ab, spread), cover > 0


def propagate(L: torch.Tensor, base: torch.Tensor | None, hint_ab: torch.Tensor, hint_weight: torch.Tensor,
              reach: float = DEFAULT_REACH, sigma: float | None = DEFAULT_SIGMA) -> torch.Tensor:
    """Spread hints over one grid: ``L`` (``h x w``, 0..100), ``base`` the colors where no hint
    reaches (``2 x h x w``: the network's ab; None: gray, and the hints fill the whole photo),
    hints (``2 x h x w`` ab, ``h x w`` weight: any cell a hint touches holds it) -> ``2 x h x w`` ab.

    Solves for the change ``d = ab - base``: minimise ``|(I - W) d|^2 + lambda |d|^2 +
    HINT_WEIGHT |d - (hint - base)|^2`` on hinted cells and the cells around them, with ``W`` the edge-aware
    ``affinities``, row-normalised, in Levin et al.'s term ``|(I - W) d|^2`` (change flows inside
    regions of similar lightness and hardly across edges, and fills a region evenly rather than
    falling off from a point) and ``lambda = 1 / (reach * diagonal)^4``: in a flat region a hint's
    change fades at about ``reach`` of the grid's diagonal, so it colors its object and leaves the
    rest of the photo to the network. SciPy's sparse LU (SuperLU), one factorisation for a and b."""
    try:
        import scipy.sparse as sp
        from scipy.sparse.linalg import splu
    except ImportError:
        raise MissingExtraError("color hints need SciPy: pip install 'huenet[hints]'") from None
    h, w = L.shape
    n = h * w
    hint_ab, hinted = _spot(hint_ab.double().cpu(), hint_weight.double().cpu() > 0)
    held = hinted.numpy().ravel() * HINT_WEIGHT
    if base is None and not held.any():
        return torch.zeros(2, h, w)  # nothing to go on: gray
    rows, cols, vals = affinities(L.double().cpu().numpy(), sigma)
    W = sp.csr_matrix((vals, (rows, cols)), shape=(n, n))
    degree = np.asarray(W.sum(axis=1)).ravel()
    A = sp.identity(n, format="csr") - sp.diags(1.0 / np.maximum(degree, 1e-12)) @ W  # I - row-normalised W
    laplacian = (A.T @ A).tocsr()
    lam = 1.0 / (reach * np.hypot(h, w)) ** 4 if base is not None else 1e-9  # alone: the hints fill all
    base_np = base.double().cpu().numpy().reshape(2, n) if base is not None else np.zeros((2, n))
    target = hint_ab.double().cpu().numpy().reshape(2, n) - base_np
    # the system is symmetric positive definite: a symmetric ordering without pivoting factors it
    # in ~80 ms on 8,192 cells here, where SuperLU's default (COLAMD, partial pivoting) took ~210
    lu = splu((laplacian + sp.diags(lam + held)).tocsc(), permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0,
              options={"SymmetricMode": True})
    change = np.stack([lu.solve(target[c] * held) for c in range(2)])
    return torch.from_numpy((base_np + change).reshape(2, h, w)).float()


def blend(L: torch.Tensor, ab_net: torch.Tensor | None, hint_ab: torch.Tensor, hint_weight: torch.Tensor,
          reach: float = DEFAULT_REACH, sigma: float | None = DEFAULT_SIGMA) -> torch.Tensor:
    """The network's colors and the user's hints -> ab, the one rule for the CLI, the API and the
    web page. ``L`` (``h x w``) and ``ab_net`` (``2 x h x w``, or None for the hints alone) at the
    working size; the hints on the solve grid (``points_to_grid`` / ``to_grid``, at most
    ``SOLVE_PIXELS``). The hints are spread on that grid (``propagate``) and the change they make
    is resized to the working size and added to the network's ab, so detail away from the hints
    is the network's own."""
    sh, sw = hint_weight.shape
    h, w = L.shape
    L_solve = F.interpolate(L[None, None].float(), size=(sh, sw), mode="bilinear", align_corners=False, antialias=True)[0, 0]
    if ab_net is None:
        solved = propagate(L_solve, None, hint_ab, hint_weight, reach, sigma)
        return F.interpolate(solved[None], size=(h, w), mode="bilinear", align_corners=False)[0]
    net_solve = F.interpolate(ab_net[None].float().cpu(), size=(sh, sw), mode="bilinear", align_corners=False,
                              antialias=True)[0]
    change = propagate(L_solve, net_solve, hint_ab, hint_weight, reach, sigma) - net_solve
    return ab_net + F.interpolate(change[None], size=(h, w), mode="bilinear", align_corners=False)[0].to(ab_net.device)


def parse_points(texts: Iterable[str]) -> list[Point]:
    return [parse_point(t) for t in texts]


def load_json_points(text: str) -> list[Point]:
    """``[{"x": .., "y": .., "color": "#rrggbb", "radius": ..}, {"stroke": [[x, y], ...], "color":
    "#rrggbb", "radius": ..}, ...]`` -> points (a stroke becomes the points along it)."""
    import json

    try:
        data = json.loads(text)
    except ValueError as e:
        raise HintError(f"hints are not valid JSON ({e})") from None
    if not isinstance(data, list):
        raise HintError("hints must be a JSON list of {x, y, color[, radius]} or {stroke, color[, radius]} objects")
    out: list[Point] = []
    for d in data:
        if isinstance(d, dict) and "stroke" in d:
            path = d["stroke"]
            if not isinstance(path, list) or not path or not all(isinstance(xy, list) and len(xy) == 2 for xy in path):
                raise HintError(f"stroke {d!r}: expected a list of [x, y] pairs")
            try:
                radius = float(d.get("radius", 2))
                out += stroke_points([(float(x), float(y)) for x, y in path], _hex_rgb(str(d.get("color", ""))), radius)
            except (TypeError, ValueError):
                raise HintError(f"stroke {d!r}: expected [x, y] numbers, a color #rrggbb and a radius") from None
        else:
            out.append(point_from_dict(d))
    return out


__all__ = ["Point", "HintMap", "HintError", "parse_point", "parse_points", "point_from_dict", "point_to_dict",
           "rasterise", "to_grid", "points_to_grid", "propagate", "blend", "affinities", "load_json_points", "stroke_points", "parse_stroke"]
