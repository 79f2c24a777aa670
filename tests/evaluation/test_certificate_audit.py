"""The certificate audit on toys whose smoothed classifier is known exactly (linear base models)."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from core.evaluation.audit.certificates import (AuditSettings, ImageSmoothed, audit_input, clopper_pearson_upper,
                                    promised_share, summarize)
from core.defenses.smooth_reduce_sequences import SmoothedSequenceClassifier
from core.defenses.smoothing import RandomizedSmoothing, certify

SIGMA = 0.25
FAST = AuditSettings(steps=12, eot=8, screen_n=256, confirm_n=1000)


class Linear2(nn.Module):
    """Logits [k·(w·x − b), −k·(w·x − b)], w a unit vector: the smoothed classifier is sign(w·x − b)
    and the exact radius is |w·x − b|."""

    def __init__(self, w: torch.Tensor, b: float, k: float = 20.0) -> None:
        super().__init__()
        self.w, self.b, self.k = w / w.norm(), b, k

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.k * ((x.flatten(1) * self.w).sum(1) - self.b)
        return torch.stack([s, -s], 1)


def _toy():
    g = torch.Generator().manual_seed(0)
    w = torch.randn(16, generator=g)
    model = Linear2(w, 0.0)
    xs = []
    for d in (0.4, 0.6, 0.8, 1.0):  # distance to the boundary in units of σ, all on class 0's side
        x = torch.full((1, 1, 4, 4), 0.5)
        x = x + ((d * SIGMA - float((x.flatten() * model.w).sum())) * model.w).view(1, 1, 4, 4)
        xs.append(x)
    return model, xs


@pytest.mark.parametrize("inflate", [1.0, 3.0])
def test_audit_finds_the_planted_flaw_and_none_in_the_sound_certificate(inflate):
    model, xs = _toy()
    clf = ImageSmoothed(RandomizedSmoothing(model, sigma=SIGMA))
    audits = []
    for i, x in enumerate(xs):
        r = certify(model, x, sigma=SIGMA, n0=16, n=2000, alpha=0.001, seed=i)
        assert r.predicted == 0 and 0 < r.radius < float((x.flatten() * model.w).sum())  # sound
        audits.append(audit_input(clf, x, r.predicted, inflate * r.radius, r.p_lower, FAST, seed=10 + i))
    s = summarize("toy", audits)
    assert s.certified == 4
    if inflate == 1.0:
        assert s.flips == 0 and s.violations == 0
        assert s.flips_ci95[0] == 0.0 and s.flips_ci95[1] > 0.3  # none of 4: the interval is still wide
    else:
        assert s.flips == 4 and s.violations == 4
        for a in audits:
            assert a.distance <= FAST.shrink * a.radius + 1e-6 and a.p_upper < 0.5
            assert 0 <= float(a.x_adv.min()) and float(a.x_adv.max()) <= 1


class LinearSeq(nn.Module):
    """Two-class logits of a sequence (N, L, 1, 2, 2): ±k·(mean over frames of u·frame − b); small k keeps
    the softmax linear, so the independent-noise vote is a linear rule with less noise than its radius
    assumes."""

    def __init__(self, b: float, k: float = 0.05) -> None:
        super().__init__()
        self.b, self.k = b, k
        self.u = torch.full((4,), 0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.k * ((x.flatten(2) * self.u).sum(2).mean(1) - self.b)
        return torch.stack([s, -s], 1)


def test_independent_noise_certificate_breaks_on_a_linear_toy_and_one_draw_holds():
    model = LinearSeq(b=1.0)
    x = torch.full((1, 16, 1, 2, 2), 0.5)  # w·x − b: the score's distance to the boundary
    x[:, :, :, 0, 0] = 0.56  # u·frame − b = 0.03: a little on class 0's side
    flips = {}
    for variant in ("independent", "one_draw"):
        clf = SmoothedSequenceClassifier(model, variant, "mean", sigma=SIGMA, length=8, stride=2)
        c = clf.certify(x, n0=16, n=4000, alpha=0.001, batch_size=500, seed=1)
        assert c.predicted == 0
        a = audit_input(clf, x, c.predicted, c.radius, c.result.p_lower, FAST, seed=2)
        flips[variant] = a.flipped
        if variant == "independent":
            # the stacked copy moves √m = 2 times as far: the sound radius is half the paper's
            b = audit_input(clf, x, c.predicted, c.sound_radius, c.result.p_lower, FAST, seed=3)
            assert not b.flipped
    assert flips == {"independent": True, "one_draw": False}


def test_bounds():
    assert clopper_pearson_upper(10, 10, 0.001) == 1.0
    assert clopper_pearson_upper(0, 1000, 0.001) == pytest.approx(1 - 0.001 ** (1 / 1000))
    r = 0.25 * 1.2815515655446004  # Cohen's radius for p̲A = 0.9 at σ = 0.25
    assert promised_share(r, 0.0, 0.25) == pytest.approx(0.9)
    assert promised_share(r, r, 0.25) == pytest.approx(0.5, abs=1e-12)
