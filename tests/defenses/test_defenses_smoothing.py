"""Randomized smoothing and Smooth-Reduce (core/defenses/smoothing.py): the certificate on
closed-form cases, Clopper–Pearson against scipy's own exact interval, the R_max formula and
table, PREDICT, the patch ensemble, shared noise, EOT gradients."""
from __future__ import annotations

import math

import pytest
import torch
from scipy.stats import binomtest, norm
from torch import nn

from core.defenses.smoothing import (PatchEnsemble, RandomizedSmoothing, SmoothReduce, certified_radius, certify,
                                     clopper_pearson_lower, max_certifiable_radius, predict_from_counts,
                                     sample_counts)

torch.set_num_threads(1)


class LinearTwoClass(nn.Module):
    """f(x) = class 1 iff w·x + b > 0 (logits [0, w·x + b]); under N(0, σ²I) noise
    p(class 1) = Φ((w·x + b)/(σ‖w‖)) exactly."""

    def __init__(self, w: torch.Tensor, b: float) -> None:
        super().__init__()
        self.register_buffer("w", w)
        self.b = b

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.flatten(1) @ self.w.flatten() + self.b
        return torch.stack([torch.zeros_like(s), s], 1)


class Constant(nn.Module):
    def __init__(self, cls: int = 2, classes: int = 5) -> None:
        super().__init__()
        self.cls, self.classes = cls, classes
        self.dummy = nn.Parameter(torch.zeros(()), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.zeros(x.shape[0], self.classes)
        out[:, self.cls] = 1.0
        return out + 0 * x.flatten(1).sum(1, keepdim=True)


class ChannelMeans(nn.Module):
    """Logits = the mean of each colour channel (3 classes); differentiable and tiny."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3)) * 10


def _linear_case(p_a: float, sigma: float):
    g = torch.Generator().manual_seed(0)
    w = torch.randn(3, 4, 4, generator=g)
    x = torch.rand(1, 3, 4, 4, generator=g)
    # choose b so that (w·x + b)/(σ‖w‖) = Φ⁻¹(p_a)
    b = float(norm.ppf(p_a) * sigma * w.norm() - (w.flatten() @ x.flatten()))
    dist = float((w.flatten() @ x.flatten() + b) / w.norm())  # distance to the decision boundary
    return LinearTwoClass(w, b), x, dist


@pytest.mark.parametrize("p_a", [0.8, 0.95])
def test_certificate_matches_closed_form_linear_classifier(p_a):
    sigma, n, alpha = 0.25, 20_000, 0.001
    model, x, dist = _linear_case(p_a, sigma)
    assert dist == pytest.approx(sigma * norm.ppf(p_a), rel=1e-5)  # the true radius of g at x
    r = certify(model, x, sigma=sigma, n0=100, n=n, alpha=alpha, batch_size=1000, seed=3)
    assert r.predicted == 1 and r.c_hat == 1
    # the empirical frequency is within 4 standard deviations of the exact p_A
    assert abs(r.n_a / n - p_a) < 4 * math.sqrt(p_a * (1 - p_a) / n)
    # p̲_A is a lower bound and close to p_A; the radius never exceeds the true distance
    assert r.p_lower < p_a
    assert r.p_lower > p_a - 6 * math.sqrt(p_a * (1 - p_a) / n)
    assert r.radius == pytest.approx(sigma * norm.ppf(r.p_lower))
    assert r.radius < dist
    assert r.radius > 0.85 * dist


def test_constant_classifier_reaches_the_ceiling_exactly():
    sigma, n, alpha = 0.5, 200, 0.001
    r = certify(Constant(cls=2), torch.rand(1, 3, 8, 8), sigma=sigma, n0=10, n=n, alpha=alpha, batch_size=64)
    assert r.predicted == 2 and r.n_a == n
    assert r.p_lower == pytest.approx(alpha ** (1 / n), rel=1e-9)
    assert r.radius == pytest.approx(max_certifiable_radius(n, alpha, sigma), rel=1e-9)


def test_coin_flip_classifier_abstains():
    # p_A = 1/2 exactly (x on the boundary): the lower bound stays below 1/2
    model, x, _ = _linear_case(0.5, 0.25)
    r = certify(model, x, sigma=0.25, n0=50, n=2000, alpha=0.001, batch_size=500, seed=1)
    assert r.predicted == -1 and r.radius == 0.0
    assert r.p_lower < 0.5


@pytest.mark.parametrize("k,n,alpha", [(1, 10, 0.05), (7, 10, 0.001), (95, 100, 0.001), (100, 100, 0.001),
                                       (500, 1000, 0.01), (99_000, 100_000, 0.001)])
def test_clopper_pearson_against_scipy_exact_interval(k, n, alpha):
    # the one-sided (1-α) bound is the lower end of scipy's two-sided exact interval at level 1-2α
    ref = binomtest(k, n).proportion_ci(confidence_level=1 - 2 * alpha, method="exact").low
    assert clopper_pearson_lower(k, n, alpha) == pytest.approx(ref, rel=1e-9, abs=1e-12)


def test_clopper_pearson_edge_cases():
    assert clopper_pearson_lower(0, 10, 0.01) == 0.0
    assert clopper_pearson_lower(50, 50, 0.01) == pytest.approx(0.01 ** (1 / 50))
    with pytest.raises(ValueError):
        clopper_pearson_lower(11, 10, 0.01)


@pytest.mark.parametrize("n,ratio", [(100, 1.50), (200, 1.83), (1000, 2.46), (100_000, 3.81)])
def test_rmax_table(n, ratio):
    assert max_certifiable_radius(n, 0.001, 1.0) == pytest.approx(ratio, abs=0.006)
    assert max_certifiable_radius(n, 0.001, 0.25) == pytest.approx(0.25 * max_certifiable_radius(n, 0.001, 1.0))
    # the ceiling is what a unanimous vote certifies: scipy's binomial test gives the same
    # one-sided Clopper–Pearson bound for n successes out of n (an independent computation)
    p_low = binomtest(n, n, alternative="greater").proportion_ci(confidence_level=1 - 0.001).low
    assert max_certifiable_radius(n, 0.001, 1.0) == pytest.approx(norm.ppf(p_low), rel=1e-6)


def test_radius_is_zero_at_or_below_one_half():
    assert certified_radius(0.5, 1.0) == 0.0 and certified_radius(0.3, 1.0) == 0.0
    assert certified_radius(norm.cdf(1.0), 0.5) == pytest.approx(0.5)


def test_predict_binomial_test():
    # binomtest(60, 100, 0.5) has p ~ 0.057: not significant at 0.05; 70/100 is
    assert predict_from_counts(torch.tensor([60, 40, 0]), 0.05)[0] == -1
    cls, p = predict_from_counts(torch.tensor([0, 30, 70]), 0.05)
    assert cls == 2 and p == pytest.approx(binomtest(70, 100, 0.5).pvalue)
    # only the top two counts enter the test
    assert predict_from_counts(torch.tensor([70, 30, 900]), 0.05)[0] == 2


def test_sample_counts_total_and_determinism():
    model, x, _ = _linear_case(0.7, 0.25)
    gen = torch.Generator().manual_seed(5)
    c1, kept = sample_counts(model, x, 0.25, 130, batch_size=32, gen=gen, keep=3)
    c2, _ = sample_counts(model, x, 0.25, 130, batch_size=32, gen=torch.Generator().manual_seed(5))
    assert int(c1.sum()) == 130 and torch.equal(c1, c2)
    assert kept.shape == (3, 3, 4, 4)


def test_patch_grid_and_reductions():
    ens = PatchEnsemble(ChannelMeans(), patch=16, stride=4, resize=20, reduction="mean")
    assert ens.grid((16, 16)) == [(0, 0), (0, 4), (4, 0), (4, 4)]
    x = torch.rand(2, 3, 16, 16)
    big = torch.nn.functional.interpolate(x, size=(20, 20), mode="bilinear", align_corners=False)
    crops = torch.stack([ChannelMeans()(big[:, :, t:t + 16, l:l + 16]) for t, l in ens.grid((16, 16))], 1)
    assert torch.allclose(ens(x), crops.mean(1), atol=1e-6)
    ens_max = PatchEnsemble(ChannelMeans(), patch=16, stride=4, resize=20, reduction="max")
    assert torch.allclose(ens_max(x), crops.amax(1), atol=1e-6)
    # ImageNet default: 256 -> 224 patches, stride 32 -> 2x2
    assert len(PatchEnsemble(ChannelMeans(), patch=224, stride=32, resize=256).grid((224, 224))) == 4


class Recording(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[torch.Tensor] = []

    def forward(self, x):
        self.seen.append(x.clone())
        return x.mean(dim=(2, 3))


def test_smooth_reduce_noise_is_shared_by_overlapping_patches():
    rec = Recording()
    ens = PatchEnsemble(rec, patch=12, stride=4, resize=None)
    x = torch.full((1, 3, 16, 16), 0.5)
    sample_counts(ens, x, 0.5, 2, batch_size=2, gen=torch.Generator().manual_seed(0))
    p = rec.seen[0].view(2, 4, 3, 12, 12)  # (samples, patches, C, P, P)
    # patch (0,0) and patch (0,4) overlap on columns 4..11 of the image: identical noisy pixels
    assert torch.equal(p[0, 0][..., 4:12], p[0, 1][..., 0:8])
    # different noisy samples differ
    assert not torch.equal(p[0, 0], p[1, 0])


def test_smoothing_defense_output_and_eot_gradient():
    d = RandomizedSmoothing(ChannelMeans(), sigma=0.1, n0=8, n=32, alpha=0.01, eot_samples=4, keep_samples=3)
    x = torch.rand(2, 3, 8, 8)
    out = d.defend(x, seed=0)
    assert out.logits.shape == (2, 3) and out.certificate is not None
    assert out.diagnostics["counts"].sum(1).tolist() == [32, 32]
    assert out.diagnostics["noisy_samples"].shape == (2, 3, 3, 8, 8)
    # σ·Φ⁻¹(α^(1/n)) for σ = 0.1, n = 32, α = 0.01: 0.01^(1/32) = 0.865964, Φ⁻¹ = 1.107515
    assert out.certificate.details["max_radius"] == pytest.approx(0.1107515, abs=1e-6)
    for adaptive in (True, False):
        xa = x.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(d.as_model(adaptive=adaptive)(xa)[:, 0].sum(), xa)
        assert g.shape == x.shape and torch.isfinite(g).all() and g.abs().sum() > 0
    # EOT logits are log-probabilities
    assert torch.allclose(d.as_model(adaptive=True)(x).exp().sum(1), torch.ones(2), atol=1e-5)


def test_smooth_reduce_defense_runs_with_its_patch_count():
    d = SmoothReduce(ChannelMeans(), sigma=0.1, n0=4, n=16, patch=16, stride=4, resize=20)
    assert d.num_patches() == 4 and d.forward_cost() == 4
    out = d.defend(torch.rand(1, 3, 16, 16))
    assert out.diagnostics["patch_grid"] == [(0, 0), (0, 4), (4, 0), (4, 4)]
    assert int(out.diagnostics["counts"].sum()) == 16


class CheckedChannelMeans(ChannelMeans):
    """ChannelMeans that enforces the per-pass pixel limit like the app's model wrappers."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from core.runtime import limits

        limits.check_batch_pixels(x)
        return super().forward(x)


@pytest.mark.parametrize("make", [
    lambda m: RandomizedSmoothing(m, sigma=0.1, n0=4, n=16, eot_samples=8),
    lambda m: SmoothReduce(m, sigma=0.1, n0=4, n=16, patch=16, stride=4, resize=20, eot_samples=4)])
def test_attacker_views_stay_within_the_pass_limit_with_the_same_logits(make, monkeypatch):
    from core.runtime import limits

    d = make(CheckedChannelMeans())
    x = torch.rand(6, 3, 16, 16, generator=torch.Generator().manual_seed(0)).requires_grad_(True)
    want = d.as_model(adaptive=True, seed=3)(x)  # generous default limits: one pass
    naive = d.as_model(adaptive=False, seed=3)(x)
    # now at most 8 patch-sized images per pass (two images' 4 patches for Smooth-Reduce), where
    # one pass of all of them would be refused
    monkeypatch.setattr(limits, "MAX_GRAD_PIXELS", 8 * 16 * 16)
    monkeypatch.setattr(limits, "MAX_FORWARD_PIXELS", 8 * 16 * 16)
    with pytest.raises(ValueError, match="one pass would put"):
        CheckedChannelMeans()(x.detach().repeat(2, 1, 1, 1))
    got = d.as_model(adaptive=True, seed=3)(x)
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(d.as_model(adaptive=False, seed=3)(x), naive)
    (g,) = torch.autograd.grad(got.sum(), x)  # gradients still flow through the chunks
    assert g.abs().sum() > 0
