"""Adaptive attackers against non-differentiable and randomised defenses: on a small seeded
example, PGD through the naive module of JPEG or bit-depth reduction changes nothing (the
gradient is zero), while BPDA brings robust accuracy down; EOT does the same for smoothing."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from core.attacks import PGD, Goal, ThreatModel
from core.defenses import BitDepthDefense, JPEGDefense, MedianFilterDefense, RandomizedSmoothing

torch.set_num_threads(1)


def conv_net(seed: int = 0, classes: int = 10) -> nn.Module:
    """A small random conv net on 3x16x16 images whose predictions vary across inputs."""
    g = torch.Generator().manual_seed(seed)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU(),
                        nn.Conv2d(8, 8, 3, stride=2, padding=1), nn.ReLU(),
                        nn.Flatten(), nn.Linear(8 * 4 * 4, classes))
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * (0.5 if p.dim() > 1 else 0.1))
    return net.eval().requires_grad_(False)


def _data(n: int = 24, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 16), torch.linspace(0, 1, 16), indexing="ij")
    base = torch.stack([xx, yy, (xx + yy) / 2])  # smooth images survive JPEG
    x = (0.5 * base + 0.5 * torch.rand(n, 3, 1, 1, generator=g)).clamp(0, 1)
    return x


def _robust_accuracy(defense, x, y, adaptive: bool, threat: ThreatModel) -> float:
    x_adv = PGD(threat).run(defense.as_model(adaptive=adaptive), x, y, Goal(), seed=0).x_adv
    with torch.no_grad():
        pred = defense.defend(x_adv).logits.argmax(1)
    return float((pred == y).float().mean())


@pytest.mark.parametrize("cls,kw", [(BitDepthDefense, {"bits": 4}), (JPEGDefense, {"quality": 75})])
def test_bpda_breaks_what_the_naive_attack_cannot(cls, kw):
    model = conv_net()
    d = cls(model, **kw)
    x = _data()
    with torch.no_grad():
        y = d.defend(x).logits.argmax(1)  # labels: the defended clean predictions
    assert len(set(y.tolist())) > 1
    # JPEG at 16 px blurs a lot: the perturbation needs a larger budget to survive the codec
    threat = ThreatModel(eps=16 / 255, step=4 / 255, steps=10, random_start=False)
    naive = _robust_accuracy(d, x, y, adaptive=False, threat=threat)
    adaptive = _robust_accuracy(d, x, y, adaptive=True, threat=threat)
    assert naive == 1.0  # zero gradient: the naive attacker never moves
    assert adaptive <= 0.5  # BPDA goes through
    # the naive gradient is zero but has the right shape; BPDA's is not zero
    xa = x[:2].clone().requires_grad_(True)
    (g0,) = torch.autograd.grad(d.as_model(adaptive=False)(xa)[:, 0].sum(), xa)
    (g1,) = torch.autograd.grad(d.as_model(adaptive=True)(xa)[:, 0].sum(), xa)
    assert g0.shape == g1.shape == xa.shape
    assert g0.abs().sum() == 0 and g1.abs().sum() > 0


def test_median_filter_bpda_gradient_shape():
    d = MedianFilterDefense(conv_net(), kernel=3)
    xa = _data(2).requires_grad_(True)
    (g,) = torch.autograd.grad(d.as_model(adaptive=True)(xa)[:, 0].sum(), xa)
    assert g.shape == xa.shape and g.abs().sum() > 0


def test_eot_attack_lowers_smoothed_accuracy():
    model = conv_net(seed=2)
    d = RandomizedSmoothing(model, sigma=0.12, n0=8, n=64, alpha=0.01, eot_samples=8, batch_size=64)
    x = _data(16, seed=3)
    with torch.no_grad():
        y = d.defend(x, seed=0).diagnostics["counts"].argmax(1)
    threat = ThreatModel(eps=16 / 255, step=4 / 255, steps=8, random_start=False)
    x_adv = PGD(threat).run(d.as_model(adaptive=True), x, y, Goal(), seed=0).x_adv
    with torch.no_grad():
        votes = d.defend(x_adv, seed=1).diagnostics["counts"].argmax(1)
    assert float((votes == y).float().mean()) <= 0.5
    xa = x[:2].clone().requires_grad_(True)
    (g,) = torch.autograd.grad(d.as_model(adaptive=True)(xa)[:, 0].sum(), xa)
    assert g.shape == xa.shape


def test_compare_defenses_non_adaptive_and_adaptive():
    from core.defenses.side_by_side import compare_defenses

    model = conv_net()
    x = _data(1)
    with torch.no_grad():
        label = int(model(x).argmax(1))
    ds = {"Bit-depth": BitDepthDefense(model, bits=4), "JPEG": JPEGDefense(model, quality=75)}
    threat = ThreatModel(eps=16 / 255, step=4 / 255, steps=10, random_start=False)
    calls = []
    naive = compare_defenses(model, x, label, ds, attack_name="PGD", threat=threat, adaptive=False,
                             classify_clean=True, progress=lambda d, t, m: calls.append((d, t)))
    assert [r.name for r in naive.rows] == ["Bit-depth", "JPEG"]
    assert all(r.attack is naive.base_attack for r in naive.rows)  # one attack on the undefended model
    assert all("non-adaptive" in r.attacker for r in naive.rows)
    assert all(r.clean_pred is not None for r in naive.rows)
    assert calls and calls[-1][0] == calls[-1][1] and all(d <= t for d, t in calls)
    adaptive = compare_defenses(model, x, label, ds, attack_name="PGD", threat=threat, adaptive=True)
    assert all("BPDA" in r.attacker for r in adaptive.rows)
    assert all(r.attack is not adaptive.base_attack for r in adaptive.rows)
    for r in adaptive.rows:
        assert r.attack.linf.max() <= 16 / 255 + 1e-6
        assert 0.0 <= r.p_ref <= 1.0 and r.correct == (r.pred == label)
