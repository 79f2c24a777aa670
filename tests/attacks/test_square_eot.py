"""Square-EOT (core/attacks/square_eot.py) on a randomized toy whose noise plain Square cannot see
through, with exactly known expected behaviour; and its place in the "rand" worst case."""
from __future__ import annotations

import pytest
import torch

from core.attacks.base import ThreatModel
from core.attacks.square import Square
from core.attacks.square_eot import SquareEOT
from core.evaluation.ensemble import EnsembleConfig, worst_case

N, SIDE, EPS, MARGIN, SIGMA = 6, 12, 0.125, 4.0, 10.0


class Linear2(torch.nn.Module):
    """Two classes; the true margin z₀ − z₁ = MARGIN − w·(x − ½) with a fixed ±1 pattern w, so an
    L∞ perturbation of ε = 1/8 can lower it by up to 144/8 = 18 (class 0 is not robust). Every
    number is a multiple of 1/8, so float arithmetic is exact and ties compare as ties."""

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(11)
        self.register_buffer("w", torch.randint(0, 2, (1, 1, SIDE, SIDE), generator=g).float() * 2 - 1)
        self.eval()

    def margin(self, x: torch.Tensor) -> torch.Tensor:
        return MARGIN - (self.w * (x - 0.5)).flatten(1).sum(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([self.margin(x), torch.zeros(x.shape[0])], 1)


class Antithetic(Linear2):
    """The same model with output noise: call 2k adds ξₖ ~ N(0, σ²) to class 1's logit (one draw per
    call, as a model that draws its noise per forward pass) and call 2k + 1 adds −ξₖ. One draw swings the margin by σ = 10 > MARGIN; the mean of two consecutive
    draws is exactly the noise-free margin, so the expected result of an EOT attack with an even
    number of draws is known exactly: that of Square on the noise-free model."""

    def __init__(self) -> None:
        super().__init__()
        self.g = torch.Generator().manual_seed(5)
        self.calls = 0
        self.xi = 0.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.calls % 2 == 0:
            self.xi = round(8 * SIGMA * float(torch.randn((), generator=self.g))) / 8  # exact in float32
            noise = self.xi
        else:
            noise = -self.xi
        self.calls += 1
        return super().forward(x) + torch.tensor([0.0, noise])


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    return torch.full((N, 1, SIDE, SIDE), 0.5), torch.zeros(N, dtype=torch.long)


def test_plain_square_is_fooled_by_the_noise_and_square_eot_is_not():
    x, y = _data()
    threat = ThreatModel(norm="linf", eps=EPS)
    truth = Linear2()
    # Plain Square on the noisy model stops each image once one draw shows class 1 on top:
    # after a few queries, at points the model still classifies correctly (true margin > 0).
    plain = Square(threat, n_queries=200, p_init=0.8)
    adv_plain, _ = plain.perturb(Antithetic(), x, y, seed=0)
    assert (truth.margin(adv_plain) > 0).all()
    assert (plain.last_queries < 20).all()
    # Square-EOT with two draws sees the exact margin: it is Square on the noise-free model, point
    # for point, and reaches examples that are wrong in expectation.
    eot = SquareEOT(threat, n_queries=200, p_init=0.8, eot_samples=2)
    adv_eot, _ = eot.perturb(Antithetic(), x, y, seed=0)
    ref = Square(threat, n_queries=200, p_init=0.8)
    adv_ref, _ = ref.perturb(truth, x, y, seed=0)
    assert torch.allclose(adv_eot, adv_ref, atol=0)
    assert (truth.margin(adv_eot) <= 0).all()
    assert ((adv_eot - x).abs().amax() <= EPS + 1e-6)
    assert torch.equal(eot.last_queries, 2 * ref.last_queries)  # forward passes: candidates × draws
    assert eot.params()["eot_samples"] == 2


def test_one_draw_is_plain_square_and_settings_are_checked():
    x, y = _data()
    threat = ThreatModel(norm="l2", eps=1.0)
    a, _ = SquareEOT(threat, n_queries=30, eot_samples=1).perturb(Linear2(), x, y, seed=3)
    b, _ = Square(threat, n_queries=30).perturb(Linear2(), x, y, seed=3)
    assert torch.equal(a, b)
    for bad in (0, 10_000, 2.5):
        with pytest.raises(ValueError):
            SquareEOT(threat, eot_samples=bad)


def test_rand_worst_case_runs_square_eot_last():
    x, y = _data()
    cfg = EnsembleConfig(eps=EPS, version="rand", apgd_steps=5, eot_samples=2, verdict_evals=2, square_queries=50)
    assert cfg.attack_names() == ["APGD-CE (EOT)", "APGD-DLR (EOT)", "Square (EOT)"]
    r = worst_case(Antithetic(), x, y, cfg, seed=0)
    assert [b["attack"] for b in r.breakdown()] == cfg.attack_names()
    assert not r.robust.any()  # ε = 1/8 fools every image in expectation
    assert not EnsembleConfig(version="rand", square_queries=0).attack_names()[-1].startswith("Square")
