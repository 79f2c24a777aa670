"""Equivariance purification (core/defenses/equivariance*.py): views and their inverses, the loss
at its minimum for an exactly equivariant map, budget and box, determinism, BPDA gradients, the
paper's adaptive objective and the error heatmap."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from core.attacks import Goal, ThreatModel
from core.attacks.base import attack_objective
from core.defenses.equivariance import (EquivarianceAwarePGD, EquivariancePurification, equivariance_aware_objective,
                                        equivariance_error_map, equivariance_error_summary, equivariance_loss,
                                        min_equivariance_loss, purify)
from core.defenses.equivariance_views import (CPU_VIEWS, PAPER_VIEWS, View, dense_views, rotate, sample_views)
from core.models import load_model

torch.set_num_threads(1)


class IdentityFeatures(nn.Module):
    """forward_features returns the image itself (+ an optional fixed spatial pattern, which
    breaks equivariance under flips); the "head" averages it to three logits."""

    stage_names = ["head"]

    def __init__(self, pattern: torch.Tensor | None = None) -> None:
        super().__init__()
        self.pattern = pattern

    def forward_features(self, x, keep=()):
        f = x if self.pattern is None else x + self.pattern
        return f, {"head": f}

    def forward_head(self, fmap):
        return fmap.mean(dim=(2, 3))

    def forward(self, x):
        return self.forward_head(self.forward_features(x)[0])


@pytest.fixture(scope="module")
def lite0():
    return load_model("EfficientNet-Lite0", device="cpu")


def test_loss_minimum_for_an_exactly_equivariant_map():
    x = torch.rand(2, 3, 16, 16)
    gen = torch.Generator().manual_seed(0)
    for k in (1, 3, 5):
        views = sample_views(("hflip",) * k, gen)
        loss, _ = equivariance_loss(IdentityFeatures(), x, views, "head")
        assert min_equivariance_loss(k) == -k * (k + 1) / 2
        assert torch.allclose(loss, torch.full((2,), -k * (k + 1) / 2), atol=1e-5)
    # a map that is not equivariant under flips has a larger loss
    ramp = torch.linspace(0, 3, 16).view(1, 1, 1, 16)
    views = sample_views(("hflip",) * 3, gen)
    loss, _ = equivariance_loss(IdentityFeatures(ramp), x, views, "head")
    assert (loss > -6 + 1e-3).all()
    # ... while the invariance baseline (pooled features) cannot see the difference
    inv, _ = equivariance_loss(IdentityFeatures(ramp), x, views, "head", method="invariance")
    assert torch.allclose(inv, torch.full((2,), -6.0), atol=1e-5)


def test_view_inverses():
    x = torch.rand(1, 2, 20, 20)
    flip = View(name="f", flip=True)
    assert torch.equal(flip.invert(flip.apply(x), (20, 20)), x)
    rs = View(name="r", scale=(0.75, 0.9))
    assert rs.apply(x).shape[-2:] == (15, 18)
    assert rs.invert(rs.apply(x), (20, 20)).shape[-2:] == (20, 20)
    # a smooth image rotated by +θ then −θ comes back inside the valid mask
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, 64), torch.linspace(-1, 1, 64), indexing="ij")
    img = torch.stack([torch.sin(2 * xx) + torch.cos(3 * yy), xx * yy, xx + yy]).unsqueeze(0)
    rot = View(name="rot", angle=10.0)
    back = rot.invert(rot.apply(img), (64, 64))
    mask = rot.valid_mask((64, 64), (64, 64), (64, 64))
    assert mask[0, 0, 32, 32] == 1 and mask[0, 0, 0, 0] == 0 and mask[0, 0, 0, 63] == 0
    err = ((back - img).abs() * mask).amax()
    assert err < 0.05
    # rotation by 90° of a square map is exact: clockwise on screen = torch.rot90 with k = -1
    assert torch.allclose(rotate(img, 90.0), torch.rot90(img, -1, dims=(-2, -1)), atol=1e-5)


def test_dense_views_batches_like_single_calls():
    x = torch.rand(2, 3, 32, 32)
    views = sample_views(("hflip", "resize0.75", "rotate10", "color"), torch.Generator().manual_seed(1))
    fn = lambda im: F.avg_pool2d(im, 4)  # a dense "model": 1/4 resolution
    back, mask = dense_views(fn, x, views)
    assert len(back) == 5 and back[0].shape == (2, 3, 8, 8) and mask.shape == (1, 1, 8, 8)
    for v, b in zip(views, back):
        assert torch.allclose(b, v.invert(fn(v.apply(x)), (8, 8)), atol=1e-6)


def test_views_are_reproducible_and_differentiable():
    a = sample_views(PAPER_VIEWS, torch.Generator().manual_seed(3))
    b = sample_views(PAPER_VIEWS, torch.Generator().manual_seed(3))
    assert a == b and len(a) == 9 and a[0].is_identity
    x = torch.rand(1, 3, 32, 32, requires_grad=True)
    sum(v.apply(x).sum() for v in a).backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_purification_stays_in_budget_and_box(lite0):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 64, 64, generator=g)
    x[:, :, :8] = 1.0  # saturated rows: the box clip must act
    x[:, :, -8:] = 0.0
    eps_v = 6 / 255
    r = purify(lite0, x, steps=2, eps_v=eps_v, seed=1)
    assert r.v.abs().max() <= eps_v + 1e-6
    assert r.x_purified.min() >= 0 and r.x_purified.max() <= 1
    assert torch.allclose(r.x_purified, x + r.v)
    assert len(r.trajectory) == 3 and r.trajectory[0].loss.shape == (2,)
    # every loss lies between its minimum and its maximum (K = 3: -6 .. 6)
    for s in r.trajectory:
        assert (s.loss >= -6 - 1e-4).all() and (s.loss <= 6).all()
    # deterministic for a seed; a different seed gives a different v
    r2 = purify(lite0, x, steps=2, eps_v=eps_v, seed=1)
    assert torch.equal(r.v, r2.v)
    assert not torch.equal(r.v, purify(lite0, x, steps=2, eps_v=eps_v, seed=2).v)
    # the random-reversal baseline: uniform v, no optimisation, same budget
    rr = purify(lite0, x, eps_v=eps_v, method="random", seed=1)
    assert rr.v.abs().max() <= eps_v + 1e-6 and len(rr.trajectory) == 1


def test_a_batch_over_the_pass_limit_is_purified_in_chunks(lite0, monkeypatch):
    from core.runtime import limits

    g = torch.Generator().manual_seed(3)
    x = torch.rand(5, 3, 64, 64, generator=g)
    # 4 passes (3 views + identity) of 64×64: two images per chunk fit 2·4·4096 = 32,768 pixels
    monkeypatch.setattr(limits, "MAX_GRAD_PIXELS", 2 * 4 * 64 * 64)
    whole = purify(lite0, x, steps=2, seed=1)
    parts = [purify(lite0, x[i:i + 2], steps=2, seed=1) for i in (0, 2, 4)]
    assert torch.equal(whole.v, torch.cat([p.v for p in parts]))
    assert torch.equal(whole.logits, torch.cat([p.logits for p in parts]))
    assert len(whole.trajectory) == 3 and whole.trajectory[1].loss.shape == (5,)
    assert torch.equal(whole.trajectory[1].top1_class, torch.cat([p.trajectory[1].top1_class for p in parts]))
    # the defense (and the attacker's view of it) goes through the same path
    d = EquivariancePurification(lite0, steps=2)
    assert d.as_model(adaptive=True)(x).shape == (5, 1000)


def test_purification_lowers_the_loss_without_noise(lite0):
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(4))
    r = purify(lite0, x, views=("hflip",), steps=4, eps_v=16 / 255, noise="off", random_init=False, seed=0,
               stage="stage5")
    losses = [float(s.loss[0]) for s in r.trajectory]
    assert losses[-1] < losses[0]


def test_paper_settings(lite0):
    d = EquivariancePurification.paper_settings(lite0)
    p = d.params()
    assert len(p["views"]) == 8 and p["steps"] == 20 and p["step_size"] == 1.0 and p["noise"] == "paper"
    assert p["eps_v"] == pytest.approx(6 / 255)
    cpu = EquivariancePurification(lite0).params()
    assert cpu["views"] == list(CPU_VIEWS) and cpu["steps"] == 5 and cpu["step_size"] == pytest.approx(1.5 / 255)


def test_defense_output_and_bpda_gradient(lite0):
    d = EquivariancePurification(lite0, steps=1)
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    out = d.defend(x, seed=0)
    assert out.logits.shape == (2, 1000) and out.x_classified.shape == x.shape
    traj = out.diagnostics["trajectory"]
    assert traj["loss"].shape == (2, 2) and traj["top1_class"].shape == (2, 2)
    xa = x.clone().requires_grad_(True)
    logits = d.as_model(adaptive=True)(xa)
    (g,) = torch.autograd.grad(logits[:, 0].sum(), xa)
    assert g.shape == x.shape and torch.isfinite(g).all() and g.abs().sum() > 0


def test_adaptive_objective_and_attack(lite0):
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(5))
    y = lite0(x).argmax(1)
    views = sample_views(CPU_VIEWS, torch.Generator().manual_seed(0))
    obj0, logits = equivariance_aware_objective(lite0, x, y, None, views, lam=0.0)
    assert torch.allclose(obj0, attack_objective(lite0(x), y, None), atol=1e-4)
    obj1, _ = equivariance_aware_objective(lite0, x, y, None, views, lam=1.0)
    l_equi, _ = equivariance_loss(lite0, x, views)
    assert torch.allclose(obj1, obj0 - l_equi, atol=1e-4)
    atk = EquivarianceAwarePGD(ThreatModel(eps=4 / 255, step=1 / 255, steps=2), lam=1.0)
    res = atk.run(lite0, x, y, Goal(), seed=0)
    assert res.linf.max() <= 4 / 255 + 1e-6 and len(res.trajectory) == 2


def test_error_map(lite0):
    x = torch.rand(1, 3, 64, 64)
    err, mask = equivariance_error_map(lite0, x, stage="stage5", seed=0)
    assert err.shape == (1, 4, 4) and mask.shape == (4, 4)
    assert (err >= -1e-6).all() and (err <= 2 + 1e-6).all()
    assert math.isfinite(float(err.sum()))
    summary = equivariance_error_summary(lite0, {"a": x, "b": x.flip(-1)}, stage="stage5", seed=0)
    assert set(summary) == {"a", "b"} and summary["a"][1].shape == (4, 4)
    assert summary["a"][0] == pytest.approx(float(err[0].sum() / mask.sum()), rel=1e-5)
