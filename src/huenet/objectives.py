"""Training objectives: what the network's output means and how it is scored against the truth.

Two objectives share one small interface: ``loss(raw, true_ab)`` scores the network's raw output
(``ColorNet.raw``) against the true ab, ``state()`` is what a checkpoint keeps of the objective;
decoding raw output to ab is the model's own (``ColorNet.decode``):

- ``mse``: the seed's. The network predicts ab directly (2 channels, scaled ab / 110); the loss is
  the mean squared error. It averages plausible colors, so its colors are safe and muted.
- ``classification``: Zhang, Isola & Efros, *Colorful Image Colorization* (ECCV 2016). ab space is
  cut into a 10 x 10 grid and only the bins sRGB can show are kept (``gamut_bins``: 313 in the
  paper, 261 here; see its docstring); the network predicts a distribution over them. Each step
  is its own small piece:

  * ``soft_encode``: a true ab becomes weights on its 5 nearest bin centres, Gaussian (sigma 5);
  * ``empirical_prior`` + ``rebalance_weights``: p = the training data's ab distribution over the
    bins, smoothed (Gaussian, sigma 5); w ~ 1 / ((1 - lambda) p + lambda / Q), normalized so that
    E_p[w] = 1. lambda = 1 means no rebalancing; lambda = 0 the full inverse (garish);
  * the loss: cross-entropy against the soft targets, each pixel weighted by w of its nearest bin;
  * ``annealed_mean`` at inference: softmax(logits / T), then the mean ab under it. T = 1 is the
    mean (muted, like MSE), T -> 0 the mode (vivid, patchy); 0.38 in the paper.

The bin grid and the prior are data (tensors): the grid is a model buffer, the prior is saved in
training checkpoints (``objective/prior``) and described in their JSON.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from .color import rgb_to_lab
from .errors import SettingsError

GRID_STEP = 10.0  # ab bin size (Lab units)
GRID_RANGE = 110.0  # bin centres at -110, -100, ..., 110 on each axis
SOFT_NEIGHBOURS = 5
SOFT_SIGMA = 5.0
PRIOR_SIGMA = 5.0
DEFAULT_LAMBDA = 0.5
DEFAULT_TEMPERATURE = 0.38
OBJECTIVES = ("mse", "classification")
SCALE_REFERENCES = ("small", "large")  # the view scale_consistency holds fixed (the other is pulled toward it)


@functools.lru_cache(maxsize=4)
def gamut_bins(step: float = GRID_STEP) -> torch.Tensor:
    """The ab bins that some 8-bit sRGB color falls in (nearest centre), ``Q x 2`` float32.

    All 2^24 colors are converted to Lab and rounded to the grid: 261 bins. Zhang et al. kept 313
    bins of the same grid; theirs include cells beside the sRGB gamut, which no photo's pixel
    reaches (they give no rule), so a network would spend outputs on colors it never sees.
    Takes ~0.7 s on a CPU once per process; a checkpoint stores its bins, so loading one never does.
    """
    n = int(round(GRID_RANGE / step))
    seen = torch.zeros(2 * n + 1, 2 * n + 1, dtype=torch.bool, device="cpu")
    v = torch.arange(256, dtype=torch.float32, device="cpu") / 255
    for r0 in range(0, 256, 16):  # 16 red levels at a time: 1 M colors, ~50 MB
        r, g, b = torch.meshgrid(v[r0:r0 + 16], v, v, indexing="ij")
        lab = rgb_to_lab(torch.stack([r, g, b]).reshape(3, -1, 1)).reshape(3, -1)
        q = (torch.round(lab[1:] / step).long() + n).clamp(0, 2 * n)
        seen[q[0], q[1]] = True
    a, b = torch.nonzero(seen, as_tuple=True)
    return torch.stack([(a - n).float() * step, (b - n).float() * step], dim=1)


def nearest_bins(ab: torch.Tensor, bins: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``N x 2 x H x W`` ab -> (distances, indices) of the ``k`` nearest bins, each ``N x k x H x W``."""
    n, _, h, w = ab.shape
    flat = ab.permute(0, 2, 3, 1).reshape(-1, 2).float()
    d = torch.cdist(flat, bins.float())  # P x Q
    dist, idx = d.topk(k, dim=1, largest=False)
    return (dist.reshape(n, h, w, k).permute(0, 3, 1, 2), idx.reshape(n, h, w, k).permute(0, 3, 1, 2))


def soft_encode(ab: torch.Tensor, bins: torch.Tensor, k: int = SOFT_NEIGHBOURS, sigma: float = SOFT_SIGMA) -> torch.Tensor:
    """``N x 2 x H x W`` ab -> ``N x Q x H x W`` target distribution: Gaussian weights (``sigma``)
    on the ``k`` nearest bin centres, summing to 1 at every pixel."""
    dist, idx = nearest_bins(ab, bins, k)
    wts = torch.exp(-dist**2 / (2 * sigma**2))
    wts = wts / wts.sum(1, keepdim=True)
    out = torch.zeros(ab.shape[0], len(bins), *ab.shape[2:], device=ab.device, dtype=wts.dtype)
    return out.scatter_(1, idx, wts)


def annealed_mean(logits: torch.Tensor, bins: torch.Tensor, temperature: float = DEFAULT_TEMPERATURE,
                  restraint: float = 0.0) -> torch.Tensor:
    """``N x Q x H x W`` logits -> ``N x 2 x H x W`` ab: the mean of softmax(logits / T) over the
    bin centres. T = 1: the distribution's mean; T -> 0: its mode.

    ``restraint`` k > 0 scales the chroma by R^k, where R = |E[ab]| / E[|ab|] under the predicted
    distribution (T = 1) is 1 when all likely colors share one hue and near 0 when they point
    every way (a shirt that may be red, blue or green): the network's doubt becomes gray, not a guess.
    """
    if temperature <= 0:
        raise SettingsError(f"temperature must be > 0, not {temperature}")
    x = logits.to(torch.promote_types(logits.dtype, torch.float32))
    n, q, h, w = x.shape
    # pixels x bins (a view of channels-last logits, as the network leaves them); each softmax is
    # exp(z - max) with its normaliser taken in the same matrix product as the weighted sums
    # (a column of ones): 40% less time than softmax + einsum (benchmarks/RESULTS.md)
    z = x.permute(0, 2, 3, 1).reshape(n * h * w, q)
    z = z - z.amax(dim=1, keepdim=True)
    b = bins.to(x.device, x.dtype)
    ones = torch.ones_like(b[:, :1])
    e = torch.exp(z / temperature)
    s = e @ torch.cat([b, ones], 1)
    ab = s[:, :2] / s[:, 2:]
    if restraint > 0:
        e1 = e if temperature == 1 else torch.exp(z)
        t = e1 @ torch.cat([b, b.norm(dim=1, keepdim=True), ones], 1)  # sum p ab, sum p |ab|, sum p
        spread = torch.maximum(t[:, 2:3], 1e-6 * t[:, 3:])  # E|ab|, at least 1e-6 (as sums)
        ab = ab * (t[:, :2].norm(dim=1, keepdim=True) / spread).clamp(0, 1) ** restraint
    return ab.reshape(n, h, w, 2).permute(0, 3, 1, 2)


def _smooth_on_grid(values: torch.Tensor, bins: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian smoothing of a function on the bins (a Q-vector), in ab distance."""
    d2 = torch.cdist(bins.double(), bins.double()) ** 2
    kernel = torch.exp(-d2 / (2 * sigma**2))
    kernel = kernel / kernel.sum(1, keepdim=True)
    return kernel.T @ values.double()


def bin_histogram(ab: torch.Tensor, bins: torch.Tensor) -> torch.Tensor:
    """Counts of pixels (of ``N x 2 x H x W`` ab) per nearest bin, a float64 Q-vector."""
    _, idx = nearest_bins(ab, bins, 1)
    return torch.bincount(idx.reshape(-1), minlength=len(bins)).double().cpu()


def empirical_prior(counts: torch.Tensor, bins: torch.Tensor, sigma: float = PRIOR_SIGMA) -> torch.Tensor:
    """Per-bin pixel counts -> the smoothed distribution p (Q, float64, sums to 1)."""
    p = counts.double() / counts.sum()
    p = _smooth_on_grid(p, bins, sigma)
    return p / p.sum()


def rebalance_weights(prior: torch.Tensor, lam: float = DEFAULT_LAMBDA) -> torch.Tensor:
    """w ~ 1 / ((1 - lam) p + lam / Q), scaled so that sum_q p_q w_q = 1 (a pixel's expected weight
    is 1, so the loss keeps its scale). lam = 1 gives w = 1 everywhere."""
    if not 0.0 <= lam <= 1.0:
        raise SettingsError(f"rebalancing lambda must be in [0, 1], not {lam}")
    q = len(prior)
    # the smoothed prior of colors no photo has is ~1e-80: floored, so lambda = 0 stays finite
    p = prior.double().clamp(min=1e-8)
    w = 1.0 / ((1 - lam) * p + lam / q)
    return (w / (prior.double() * w).sum()).float()


@dataclass(frozen=True)
class ObjectiveConfig:
    """``name``: ``mse`` or ``classification``; the rest only matter for classification."""

    name: str = "mse"
    rebalance_lambda: float = DEFAULT_LAMBDA
    soft_neighbours: int = SOFT_NEIGHBOURS
    soft_sigma: float = SOFT_SIGMA
    prior_sigma: float = PRIOR_SIGMA

    def __post_init__(self):
        if self.name not in OBJECTIVES:
            raise SettingsError(f"unknown objective {self.name!r}; use one of {OBJECTIVES}")


def downsample_ab(ab: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """True ab at the resolution of a head that predicts below full size (area average)."""
    if tuple(ab.shape[-2:]) == tuple(size):
        return ab
    return F.adaptive_avg_pool2d(ab, size)


def check_scale_reference(reference: str) -> None:
    """The views ``scale_consistency`` can hold fixed; anything else is a clear error."""
    if reference not in SCALE_REFERENCES:
        raise SettingsError(f"scale_consistency_reference must be one of {', '.join(SCALE_REFERENCES)}, "
                            f"not {reference!r}")


def scale_consistency(raw_small: torch.Tensor, raw_large: torch.Tensor, reference: str = "small") -> torch.Tensor:
    """How far the color distributions a classification model predicts for a photo at one size
    (``raw_large``: logits, ``N x Q x H x W``) are from those it predicts for the same photo at
    half that size (``raw_small``, ``N x Q x h x w``), the large one's probabilities averaged over
    each cell of the small grid: the mean KL divergence per cell. ``reference`` is the view held
    fixed (no gradient) that the other is pulled toward: ``"small"`` (KL(small || large), the
    large view trained) or ``"large"`` (KL(large || small), the small view trained: the model's
    more detailed view sets the colors). 0 when the model sees the photo the same at both sizes
    (the blotches that flip with the working size come from where it does not)."""
    check_scale_reference(reference)
    q = F.softmax(raw_small.float(), dim=1)
    p = F.adaptive_avg_pool2d(F.softmax(raw_large.float(), dim=1), raw_small.shape[-2:])
    if reference == "small":
        q = q.detach()
    else:
        q, p = p.detach(), q
    return (q * (torch.log(q.clamp_min(1e-8)) - torch.log(p.clamp_min(1e-8)))).sum(1).mean()


class MSEObjective:
    """The seed's loss: MSE in the network's scaled units (ab / 110)."""

    name = "mse"

    def __init__(self, scaling):
        self.scaling = scaling

    def loss(self, raw: torch.Tensor, true_ab: torch.Tensor) -> torch.Tensor:
        target = downsample_ab(true_ab, raw.shape[-2:])
        return F.mse_loss(raw.float(), self.scaling.normalize_ab(target))

    def state(self) -> tuple[dict[str, torch.Tensor], dict]:
        return {}, {"name": "mse"}


class ClassificationObjective:
    """Rebalanced cross-entropy over the model's ab bins against soft-encoded targets."""

    name = "classification"

    def __init__(self, bins: torch.Tensor, prior: torch.Tensor, config: ObjectiveConfig = ObjectiveConfig("classification")):
        if prior.shape != (len(bins),):
            raise ValueError(f"prior has {tuple(prior.shape)} values for {len(bins)} bins")
        self.bins = bins.float()
        self.prior = prior.double().cpu()
        self.config = config
        self.weights = rebalance_weights(self.prior, config.rebalance_lambda)

    def loss(self, raw: torch.Tensor, true_ab: torch.Tensor) -> torch.Tensor:
        """``raw``: ``N x Q x h x w`` logits (h, w: the head's resolution); ``true_ab`` full size."""
        target_ab = downsample_ab(true_ab, raw.shape[-2:])
        bins = self.bins.to(raw.device)
        with torch.no_grad():
            target = soft_encode(target_ab, bins, self.config.soft_neighbours, self.config.soft_sigma)
            pixel_w = self.weights.to(raw.device)[target.argmax(1)]  # N x h x w
        logp = F.log_softmax(raw.float(), dim=1)
        ce = -(target * logp).sum(1)  # N x h x w
        return (ce * pixel_w).mean()

    def state(self) -> tuple[dict[str, torch.Tensor], dict]:
        """What a checkpoint keeps: the prior as a tensor, the settings as JSON."""
        c = self.config
        return ({"objective/prior": self.prior.float()},
                {"name": "classification", "rebalance_lambda": c.rebalance_lambda, "soft_neighbours": c.soft_neighbours,
                 "soft_sigma": c.soft_sigma, "prior_sigma": c.prior_sigma, "bins": len(self.bins)})


def prior_from_batches(batches, bins: torch.Tensor, sigma: float = PRIOR_SIGMA) -> torch.Tensor:
    """The smoothed empirical prior of the ab in ``batches`` (an iterable of ``N x 2 x H x W`` ab,
    counted on the batches' device)."""
    counts = torch.zeros(len(bins), dtype=torch.float64)
    for ab in batches:
        counts += bin_histogram(ab, bins.to(ab.device))
    if counts.sum() == 0:
        raise SettingsError("no pixels to estimate the ab prior from")
    return empirical_prior(counts, bins.cpu(), sigma)


__all__ = [
    "ObjectiveConfig", "MSEObjective", "ClassificationObjective", "gamut_bins", "soft_encode", "annealed_mean",
    "empirical_prior", "rebalance_weights", "prior_from_batches", "bin_histogram", "nearest_bins",
]
