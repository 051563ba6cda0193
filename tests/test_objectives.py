"""The classification objective's pieces (Zhang et al. 2016), each on its own, and on real photos."""

import numpy as np
import pytest
import torch
from PIL import Image

from huenet.color import rgb_to_lab
from huenet.objectives import (
    ClassificationObjective, MSEObjective, ObjectiveConfig, annealed_mean, bin_histogram, empirical_prior,
    gamut_bins, nearest_bins, prior_from_batches, rebalance_weights, soft_encode,
)
from huenet.color import LabScaling

from conftest import photos


def real_ab(n: int = 4, size: int = 96) -> torch.Tensor:
    """ab of real photos, ``n x 2 x size x size``."""
    rgb = []
    for p in photos("diverse/val", n):
        im = Image.open(p).convert("RGB").resize((size, size), Image.BICUBIC)
        rgb.append(torch.from_numpy(np.asarray(im).copy()).permute(2, 0, 1).float() / 255)
    return rgb_to_lab(torch.stack(rgb))[:, 1:]


def test_gamut_bins_cover_every_srgb_color_and_nothing_else():
    bins = gamut_bins()
    assert bins.shape == (261, 2)
    assert torch.all(bins % 10 == 0)  # the 10-unit grid
    # every 8-bit color (sampled) lands on a kept bin...
    v = torch.linspace(0, 1, 18)
    r, g, b = torch.meshgrid(v, v, v, indexing="ij")
    ab = rgb_to_lab(torch.stack([r, g, b]).reshape(3, -1, 1))[1:].reshape(2, -1).T
    d, _ = torch.cdist(ab, bins).min(1)
    assert d.max() <= 5 * 2**0.5 + 1e-4
    # ...and the grid's corners (no color there) are not kept
    assert not ((bins[:, 0] == 110) & (bins[:, 1] == 110)).any()
    assert not ((bins[:, 0] == -110) & (bins[:, 1] == -110)).any()


def test_soft_encoding_round_trip_on_real_photos():
    bins = gamut_bins()
    ab = real_ab()
    target = soft_encode(ab, bins)  # N x Q x H x W
    assert target.shape == (ab.shape[0], 261, *ab.shape[2:])
    assert torch.allclose(target.sum(1), torch.ones(1), atol=1e-5)
    assert ((target > 0).sum(1) == 5).all()  # 5 nearest bins
    # decoding the soft target (its mean) gives back the color within a fraction of a bin
    back = torch.einsum("nqhw,qc->nchw", target, bins)
    err = (back - ab).norm(dim=1)
    assert err.mean() < 1.5 and err.max() < 6.0, (err.mean(), err.max())
    # the heaviest bin is the nearest one
    _, idx = nearest_bins(ab, bins, 1)
    assert torch.equal(target.argmax(1), idx[:, 0])


def test_rebalancing_weights_sum_and_shape():
    bins = gamut_bins()
    prior = empirical_prior(bin_histogram(real_ab(), bins), bins)
    assert prior.shape == (261,) and abs(prior.sum().item() - 1) < 1e-9 and (prior > 0).all()
    for lam in (0.0, 0.5, 1.0):
        w = rebalance_weights(prior, lam)
        assert w.shape == (261,)
        assert torch.isfinite(w).all() and (w > 0).all()
        assert abs((prior * w.double()).sum().item() - 1) < 1e-5  # a pixel's expected weight is 1
    assert torch.allclose(rebalance_weights(prior, 1.0), torch.ones(261))  # lambda 1: no rebalancing
    w = rebalance_weights(prior, 0.5)
    rare, common = prior.argmin(), prior.argmax()
    assert w[rare] > w[common]  # rare colors weigh more
    with pytest.raises(ValueError):
        rebalance_weights(prior, 1.5)


def test_smoothed_prior_peaks_near_gray_on_real_photos():
    bins = gamut_bins()
    prior = prior_from_batches([real_ab(8)], bins)
    peak = bins[prior.argmax()]
    assert peak.norm() <= 20, peak  # natural photos: mostly low chroma


def test_annealed_mean_is_the_mean_at_t1_and_the_mode_at_small_t():
    bins = gamut_bins()
    torch.manual_seed(0)
    logits = torch.randn(2, 261, 3, 4) * 2
    logits.scatter_add_(1, logits.argmax(1, keepdim=True), torch.ones(2, 1, 3, 4))  # a clear mode everywhere
    p = torch.softmax(logits, 1)
    mean = torch.einsum("nqhw,qc->nchw", p, bins)
    assert torch.allclose(annealed_mean(logits, bins, 1.0), mean, atol=1e-4)
    mode = bins[logits.argmax(1)].permute(0, 3, 1, 2)
    assert torch.allclose(annealed_mean(logits, bins, 0.01), mode, atol=1e-3)
    # in between: chroma grows as T falls (from the mean toward the mode)
    chroma = [annealed_mean(logits, bins, t).norm(dim=1).mean().item() for t in (1.0, 0.38, 0.1)]
    assert chroma[0] < chroma[1] < chroma[2]
    with pytest.raises(ValueError):
        annealed_mean(logits, bins, 0.0)


def test_annealed_mean_with_restraint_is_its_definition_on_channels_last_and_bf16_logits():
    """The decoder's one-product form against the definition in float64: softmax(z / T) over the
    bins' ab, times R^k with R = |E[ab]| / E[|ab|] under softmax(z); for logits laid out as the
    network leaves them (channels last, bf16 under autocast) and plainly (float32, contiguous)."""
    bins = gamut_bins()
    torch.manual_seed(1)
    logits = torch.randn(2, 261, 5, 7) * 3
    z = logits.double()
    b = bins.double()
    pt, p1 = torch.softmax(z / 0.7, 1), torch.softmax(z, 1)
    ab = torch.einsum("nqhw,qc->nchw", pt, b)
    r = torch.einsum("nqhw,qc->nchw", p1, b).norm(dim=1, keepdim=True) / torch.einsum("nqhw,q->nhw", p1, b.norm(dim=1))[:, None]
    want = ab * r.clamp(0, 1) ** 0.5
    got = annealed_mean(logits, bins, 0.7, 0.5)
    assert got.shape == (2, 2, 5, 7) and torch.allclose(got.double(), want, atol=1e-3)
    cl = logits.contiguous(memory_format=torch.channels_last)
    assert torch.allclose(annealed_mean(cl, bins, 0.7, 0.5).double(), want, atol=1e-3)
    lb = logits.bfloat16()
    wb = annealed_mean(lb.double(), bins, 0.7, 0.5)  # the same bf16 logits, decoded in float64
    assert torch.allclose(annealed_mean(lb.contiguous(memory_format=torch.channels_last), bins, 0.7, 0.5).double(), wb, atol=1e-3)
    assert (r < 0.9).float().mean() > 0.2  # restraint had work to do on these logits


def test_classification_loss_prefers_the_true_colors():
    bins = gamut_bins()
    ab = real_ab(2, 32)
    prior = prior_from_batches([ab], bins)
    obj = ClassificationObjective(bins, prior, ObjectiveConfig("classification", 0.5))
    good = torch.log(soft_encode(ab, bins) + 1e-6)  # logits that put the mass on the true bins
    flat = torch.zeros_like(good)
    assert obj.loss(good, ab) < obj.loss(flat, ab)
    # a head at 1/4 resolution is scored against the area-averaged truth
    small = torch.zeros(2, 261, 8, 8, requires_grad=True)
    obj.loss(small, ab).backward()
    assert small.grad.abs().sum() > 0
    tensors, meta = obj.state()
    assert tensors["objective/prior"].shape == (261,) and meta["rebalance_lambda"] == 0.5


def test_mse_objective_matches_the_seeds_loss():
    ab = real_ab(2, 32)
    obj = MSEObjective(LabScaling())
    pred = ab * 0.5 / 110
    assert torch.allclose(obj.loss(pred, ab), ((ab / 110 - pred) ** 2).mean())
    with pytest.raises(ValueError):
        ObjectiveConfig("perceptual")


def test_scale_consistency_is_zero_for_the_same_view_and_trains_only_the_large_one():
    """The shipped model's logits for real photos at 64 and 128 px: a positive divergence (the
    model does not see them alike); the small view's logits repeated 2x2 as the 'large' view
    give 0; the gradient reaches the large view only."""
    from huenet.checkpoints import load_model
    from huenet.objectives import scale_consistency
    from huenet.weights import default_weights_path

    model, _ = load_model(default_weights_path())
    rgb = []
    for p in photos("bsds500/test", 2):
        im = Image.open(p).convert("RGB").resize((128, 128), Image.BICUBIC)
        rgb.append(torch.from_numpy(np.asarray(im).copy()).permute(2, 0, 1).float() / 255)
    L = rgb_to_lab(torch.stack(rgb))[:, :1]
    small = model.raw(torch.nn.functional.interpolate(L, scale_factor=0.5, mode="bilinear", antialias=True))
    large = model.raw(L).detach().requires_grad_(True)
    small = small.detach().requires_grad_(True)
    d = scale_consistency(small, large)
    assert d.item() > 0.05
    d.backward()
    assert small.grad is None and large.grad is not None and large.grad.abs().sum() > 0
    same = small.detach().repeat_interleave(2, -2).repeat_interleave(2, -1)
    assert scale_consistency(small.detach(), same).item() < 1e-5
    # the other way round: the large (more detailed) view is the reference, the small one trained
    small.grad = large.grad = None
    d_large = scale_consistency(small, large, reference="large")
    assert d_large.item() > 0.05 and abs(d_large.item() - d.item()) > 1e-3  # KL is not symmetric
    d_large.backward()
    assert large.grad is None and small.grad is not None and small.grad.abs().sum() > 0
    assert scale_consistency(small.detach(), same, reference="large").item() < 1e-5
    with pytest.raises(ValueError, match="reference"):
        scale_consistency(small, large, reference="both")
