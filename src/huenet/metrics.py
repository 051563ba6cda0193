"""Colorization metrics, as the papers define them.

Images are 8-bit RGB ``H x W x 3`` numpy arrays (what a user gets back); ab maps are float
``H x W x 2`` in Lab units.

- ``psnr``: on 8-bit RGB, peak 255.
- ``ssim``: scikit-image's ``structural_similarity`` on RGB (channel_axis=2, data_range=255,
  7x7 window; smaller for tiny images, NaN below 3 pixels a side).
- ``ab_rmse``: sqrt(mean over pixels of (da^2 + db^2)), the RMS of the per-pixel ab distance.
- AuC (Zhang et al. 2016): the fraction of pixels whose ab L2 error is within t, for t = 0..150
  in steps of 1, integrated (trapezoid) and divided by 150, so 1.0 is a perfect prediction.
  The class-rebalanced AuC weights each pixel by 1 / p(bin of its true ab), bins 10 x 10 in ab,
  p estimated from the ground truth of the evaluated set.
- ``colorfulness``: Hasler and Suesstrunk (2003) on 0..255 RGB:
  rg = R - G, yb = (R + G) / 2 - B, CF = sqrt(sd_rg^2 + sd_yb^2) + 0.3 sqrt(mean_rg^2 + mean_yb^2).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

AUC_MAX = 150  # thresholds 0..150
AB_BIN = 10
AB_RANGE = 110  # bins cover [-110, 110) on each axis; values outside go to the edge bins
_NB = 2 * AB_RANGE // AB_BIN  # 22 bins per axis


def psnr(pred: np.ndarray, gt: np.ndarray) -> float:
    mse = np.mean((pred.astype(np.float64) - gt.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def ssim(pred: np.ndarray, gt: np.ndarray) -> float:
    from skimage.metrics import structural_similarity

    side = min(gt.shape[:2])
    if side < 3:  # no 3x3 window fits: SSIM is undefined (NaN, left out of means)
        return float("nan")
    win = 7 if side >= 7 else (side if side % 2 else side - 1)  # the 7x7 default, or the largest that fits
    return float(structural_similarity(gt, pred, channel_axis=2, data_range=255, win_size=win))


def ab_rmse(pred_ab: np.ndarray, gt_ab: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.sum((pred_ab.astype(np.float64) - gt_ab) ** 2, axis=-1))))


def ab_errors(pred_ab: np.ndarray, gt_ab: np.ndarray) -> np.ndarray:
    return np.sqrt(np.sum((pred_ab.astype(np.float64) - gt_ab) ** 2, axis=-1))


def within_curve(errors: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Fraction (weighted) of pixels with error <= t for t = 0, 1, ..., 150."""
    t = np.arange(AUC_MAX + 1)
    e = errors.ravel()
    w = np.ones_like(e) if weights is None else weights.ravel().astype(np.float64)
    hist = np.bincount(np.minimum(np.ceil(e), AUC_MAX + 1).astype(np.int64), weights=w, minlength=AUC_MAX + 2)
    return np.cumsum(hist)[t] / w.sum()


def auc(errors: np.ndarray, weights: np.ndarray | None = None) -> float:
    curve = within_curve(errors, weights)
    return float(np.trapezoid(curve, dx=1.0) / AUC_MAX)


def colorfulness(rgb: np.ndarray) -> float:
    r, g, b = (rgb[..., i].astype(np.float64) for i in range(3))
    rg = r - g
    yb = 0.5 * (r + g) - b
    return float(np.sqrt(rg.std() ** 2 + yb.std() ** 2) + 0.3 * np.sqrt(rg.mean() ** 2 + yb.mean() ** 2))


def ab_bins(ab: np.ndarray) -> np.ndarray:
    """Flat 10x10 bin index of each ab value (``... x 2`` -> ``...``)."""
    idx = np.clip(np.floor((ab + AB_RANGE) / AB_BIN).astype(np.int64), 0, _NB - 1)
    return idx[..., 0] * _NB + idx[..., 1]


@dataclass
class RebalancedAuC:
    """Accumulates, over a set, the error histogram of each true-ab bin; the rebalanced AuC then
    weights bins by the inverse of their frequency in that same set."""

    tables: dict[int, np.ndarray] = field(default_factory=dict)  # bin -> error histogram (0..151)

    def add(self, pred_ab: np.ndarray, gt_ab: np.ndarray) -> None:
        e = np.minimum(np.ceil(ab_errors(pred_ab, gt_ab)), AUC_MAX + 1).astype(np.int64).ravel()
        bins = ab_bins(gt_ab).ravel()
        joint = np.bincount(bins * (AUC_MAX + 2) + e, minlength=_NB * _NB * (AUC_MAX + 2))
        joint = joint.reshape(_NB * _NB, AUC_MAX + 2)
        for b in np.nonzero(joint.sum(1))[0]:
            self.tables[int(b)] = self.tables.get(int(b), 0) + joint[b]

    def value(self) -> float:
        if not self.tables:
            return float("nan")
        counts = {b: h.sum() for b, h in self.tables.items()}
        total = sum(counts.values())
        curve = np.zeros(AUC_MAX + 2)
        weight_sum = 0.0
        for b, h in self.tables.items():
            w = total / counts[b]  # 1 / p(bin), up to a constant that cancels
            curve += w * np.cumsum(h)
            weight_sum += w * counts[b]
        return float(np.trapezoid(curve[: AUC_MAX + 1] / weight_sum, dx=1.0) / AUC_MAX)


def color_edges(gt_ab: np.ndarray, quantile: float = 0.95, band: int = 2) -> np.ndarray:
    """Pixels within ``band`` px of the truth's strongest color edges (the top ``1 - quantile`` of
    the ab gradient magnitude, central differences): where a prediction's colors bleed, if anywhere."""
    g = np.zeros(gt_ab.shape[:2])
    for c in range(2):
        gy, gx = np.gradient(gt_ab[..., c].astype(np.float64))
        g += gx**2 + gy**2
    edges = g >= np.quantile(g, quantile)
    grown = edges.copy()
    for _ in range(band):  # a 3x3 dilation, band times
        p = np.pad(grown, 1)
        grown = p[1:-1, 1:-1] | p[:-2, 1:-1] | p[2:, 1:-1] | p[1:-1, :-2] | p[1:-1, 2:]
    return grown


def edge_bleeding(pred_ab: np.ndarray, gt_ab: np.ndarray, quantile: float = 0.95, band: int = 2) -> tuple[float, float]:
    """(ab RMSE at the truth's color edges, ab RMSE elsewhere). Color that bleeds across an edge
    raises the first; a prediction that is merely muted raises both alike."""
    near = color_edges(gt_ab, quantile, band)
    e2 = np.sum((pred_ab.astype(np.float64) - gt_ab) ** 2, axis=-1)
    return float(np.sqrt(e2[near].mean())), float(np.sqrt(e2[~near].mean()))
