"""Tests of the attack engine (core/attacks): exact values on hand-made models, invariants,
determinism, goals, restarts, progress, the APGD schedule and an independent reference
(torchattacks 3.5.1, installed with --no-deps).

Almost everything runs on tiny models; one test uses the real Lite0 at 64 px.
"""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from core.attacks import (APGD, ATTACK_INFO, ATTACKS, CWL2, DEFAULT_L2_THREATS, DEFAULT_THREATS, FGSM, PGD,
                          Goal, ThreatModel, TradesKL, apgd_checkpoints, apgd_should_halve, default_threat, dlr_loss,
                          make_attack)
from core.attacks.base import Recorder
from core.attacks.trades import kl_to_clean
from core.runtime.progress import Cancelled
from oracles import require_torchattacks

# (name, norm) pairs of every registered attack and every norm it supports.
ATTACK_NORMS = [(name, norm) for name, cls in ATTACKS.items() for norm in cls.norms]
RANDOM_ATTACKS = [("PGD", "linf"), ("PGD", "l2"), ("N-FGSM", "linf"), ("TRADES-KL", "linf"),
                  ("TRADES-KL", "l2"), ("APGD-CE", "linf"), ("APGD-DLR", "l2")]


# ----------------------------------------------------------------------------- tiny models

def linear_model(w: torch.Tensor, b: torch.Tensor) -> nn.Module:
    """f(x) = W·flatten(x) + b, frozen like the shared models."""
    m = nn.Sequential(nn.Flatten(), nn.Linear(w.shape[1], w.shape[0]))
    with torch.no_grad():
        m[1].weight.copy_(w)
        m[1].bias.copy_(b)
    return m.eval().requires_grad_(False)


def conv_net(seed: int = 0, classes: int = 10) -> nn.Module:
    """A small random conv net on 3x16x16 images whose predictions vary across inputs."""
    g = torch.Generator().manual_seed(seed)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU(),
                        nn.Conv2d(8, 8, 3, stride=2, padding=1), nn.ReLU(),
                        nn.Flatten(), nn.Linear(8 * 4 * 4, classes))
    with torch.no_grad():
        for p in net.parameters():
            if p.dim() > 1:
                p.copy_(torch.randn(p.shape, generator=g) * 3.0 / p[0].numel() ** 0.5)
            else:
                p.zero_()
    return net.eval().requires_grad_(False)


def images(n: int, size: int = 16, seed: int = 1, lo: float = 0.0, hi: float = 1.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return lo + (hi - lo) * torch.rand(n, 3, size, size, generator=g)


def objective_of(attack, model, x_clean, x_adv, y) -> torch.Tensor:
    """The untargeted objective an attack ascends, evaluated at x_adv (for restart tests)."""
    with torch.no_grad():
        logits = model(x_adv)
        if isinstance(attack, TradesKL):
            return kl_to_clean(F.log_softmax(model(x_clean), 1), logits)
        if isinstance(attack, APGD):
            return attack.objective(logits, y, None)
        return F.cross_entropy(logits, y, reduction="none")


def threat_for(name: str, norm: str, **kw) -> ThreatModel:
    base = default_threat(name, norm)
    fields = dict(norm=base.norm, eps=base.eps, step=base.step, steps=base.steps,
                  random_start=base.random_start, restarts=base.restarts)
    fields.update(kw)
    return ThreatModel(**fields)


# ----------------------------------------------------------------------------- exact FGSM

@pytest.fixture(scope="module")
def lin5():
    g = torch.Generator().manual_seed(3)
    w = torch.randn(5, 48, generator=g)
    b = torch.randn(5, generator=g) * 0.1
    x = images(6, size=4, seed=4)
    return linear_model(w, b), w.double(), b.double(), x


def _ce_grad(w, b, x, cls):
    """Closed form ∇ₓ CE(Wx + b, cls) = Wᵀ(softmax(Wx + b) − e_cls), in float64."""
    xf = x.flatten(1).double()
    p = torch.softmax(xf @ w.T + b, dim=1)
    return (p - F.one_hot(cls, w.shape[0]).double()) @ w


def test_fgsm_exact_on_linear_model(lin5):
    model, w, b, x = lin5
    y = torch.tensor([0, 1, 2, 3, 4, 0])
    eps = 0.1
    g = _ce_grad(w, b, x, y)
    assert g.abs().min() > 1e-6  # signs are unambiguous in float32
    want = (x.flatten(1).double() + eps * g.sign()).clamp(0, 1).view_as(x)
    got = FGSM(ThreatModel(norm="linf", eps=eps)).perturb(model, x, y)[0]
    torch.testing.assert_close(got.double(), want, atol=1e-6, rtol=0)
    # some pixels were clipped by the box, so the clip is exercised too
    assert ((x.flatten(1).double() + eps * g.sign()) > 1).any() or ((x.flatten(1).double() + eps * g.sign()) < 0).any()

    # targeted: descend the CE of the target class
    t = torch.full((6,), 2)
    gt = _ce_grad(w, b, x, t)
    want_t = (x.flatten(1).double() - eps * gt.sign()).clamp(0, 1).view_as(x)
    got_t = FGSM(ThreatModel(norm="linf", eps=eps)).perturb(model, x, y, Goal("targeted", 2))[0]
    torch.testing.assert_close(got_t.double(), want_t, atol=1e-6, rtol=0)

    # L2: a step of length eps along the normalised gradient (inputs away from the box edges)
    xm = images(6, size=4, seed=5, lo=0.3, hi=0.7)
    g2 = _ce_grad(w, b, xm, y)
    eps2 = 0.5
    want2 = (xm.flatten(1).double() + eps2 * g2 / g2.norm(dim=1, keepdim=True)).view_as(xm)
    got2 = FGSM(ThreatModel(norm="l2", eps=eps2)).perturb(model, xm, y)[0]
    torch.testing.assert_close(got2.double(), want2, atol=1e-6, rtol=0)
    assert torch.allclose((got2 - xm).flatten(1).norm(dim=1), torch.full((6,), eps2), atol=1e-5)


# ----------------------------------------------------------------------------- PGD/APGD corner

@pytest.fixture(scope="module")
def lin2():
    """Two classes: ∇ₓ CE(f(x), 0) = p₁(w₁ − w₀), a fixed direction u = w₁ − w₀."""
    g = torch.Generator().manual_seed(7)
    w = torch.randn(2, 48, generator=g) * 0.2
    model = linear_model(w, torch.zeros(2))
    u = (w[1] - w[0]).view(1, 3, 4, 4)
    x = images(4, size=4, seed=8, lo=0.3, hi=0.7)
    return model, u, x, torch.zeros(4, dtype=torch.long)


@pytest.mark.parametrize("random_start", [False, True])
def test_pgd_linf_reaches_the_corner_of_the_ball(lin2, random_start):
    model, u, x, y = lin2
    eps = 0.05
    tm = ThreatModel(norm="linf", eps=eps, step=0.012, steps=10, random_start=random_start)
    got = PGD(tm).perturb(model, x, y, seed=3)[0]
    torch.testing.assert_close(got, x + eps * u.sign(), atol=1e-7, rtol=0)


def test_pgd_l2_reaches_the_ball_along_the_gradient(lin2):
    model, u, _, y = lin2
    x = torch.full((4, 3, 4, 4), 0.5)
    eps = 0.3
    tm = ThreatModel(norm="l2", eps=eps, step=0.07, steps=6, random_start=False)
    got = PGD(tm).perturb(model, x, y)[0]
    torch.testing.assert_close(got, x + eps * u / u.norm(), atol=1e-6, rtol=0)


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_apgd_reaches_the_optimum_of_a_linear_model(lin2, norm):
    model, u, x, y = lin2
    if norm == "l2":
        x = torch.full((4, 3, 4, 4), 0.5)
    eps = 0.05 if norm == "linf" else 0.3
    want = x + (eps * u.sign() if norm == "linf" else eps * u / u.norm())
    # (an L2 random start on the sphere would only converge to the optimum, not land on it)
    tm = ThreatModel(norm=norm, eps=eps, steps=12, random_start=norm == "linf")
    got = APGD(tm, loss="ce").perturb(model, x, y, seed=5)[0]
    torch.testing.assert_close(got, want, atol=1e-6, rtol=0)


# ----------------------------------------------------------------------------- invariants

@pytest.fixture(scope="module")
def conv():
    model = conv_net()
    x = images(4)
    with torch.no_grad():
        y = model(x).argmax(1)
    return model, x, y


def _norms(delta):
    flat = delta.flatten(1)
    return flat.abs().amax(1), flat.norm(dim=1)


@pytest.mark.parametrize("name,norm", ATTACK_NORMS)
def test_result_stays_in_the_ball_and_the_box(conv, name, norm):
    model, x, y = conv
    tm = threat_for(name, norm, steps=5) if name != "FGSM" else threat_for(name, norm)
    params = {"respect_eps": True, "binary_steps": 1, "iterations": 8} if name == "CW-L2" else {}
    if name == "CW-L2":
        tm = threat_for(name, norm, eps=0.05)  # small enough that the projection is active
    res = make_attack(name, tm, **params).run(model, x, y, seed=2)
    assert res.x_adv.shape == x.shape and res.x_adv.dtype == x.dtype
    assert res.x_adv.min() >= 0 and res.x_adv.max() <= 1
    linf, l2 = _norms(res.x_adv - x)
    bound = linf if norm == "linf" else l2
    if name == "N-FGSM":
        assert (linf <= 3 * tm.eps + 1e-6).all()
        assert (linf > tm.eps + 1e-6).any()  # by default it does leave the eps-ball
    else:
        assert (bound <= tm.eps + 1e-6).all(), (name, bound, tm.eps)
    if name == "CW-L2":
        assert (l2 > tm.eps - 1e-4).any()  # the projection was active


def test_nfgsm_clip_to_eps_stays_in_the_ball(conv):
    model, x, y = conv
    tm = threat_for("N-FGSM", "linf")
    a = make_attack("N-FGSM", tm, clip_to_eps=True)
    assert a.clip_to_eps and a.max_linf() == tm.eps
    x_adv = a.perturb(model, x, y, seed=4)[0]
    assert (_norms(x_adv - x)[0] <= tm.eps + 1e-6).all()
    assert x_adv.min() >= 0 and x_adv.max() <= 1


def test_cw_is_a_minimum_norm_attack_without_respect_eps(lin2):
    """Unconstrained CW on a 2-class linear model: it succeeds, and its L2 is at least the exact
    distance to the decision boundary, |w·x + b|/‖w₁ − w₀‖ (it cannot beat the optimum)."""
    model, u, _, y = lin2
    x = torch.full((4, 3, 4, 4), 0.5) + 0.05 * torch.randn(4, 3, 4, 4, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        z = model(x)
    y = z.argmax(1)
    assert (z[:, 0] != z[:, 1]).all()
    dist = (z[:, 0] - z[:, 1]).abs() / u.norm()
    res = CWL2(ThreatModel(norm="l2", eps=0.01), binary_steps=4, iterations=60).run(model, x, y)
    assert res.success.all()
    assert (res.l2 >= dist - 1e-5).all()
    assert (res.l2 <= 1.5 * dist + 1e-3).all()  # and close to it
    assert (res.l2 > 0.01).any()  # eps was not a constraint


def test_cw_binary_search_raises_a_too_small_c(lin2):
    """With c₀ = 1e-4 the distance term dominates and a single round fails; the search multiplies
    c by 10 after each failure until the attack succeeds."""
    model, u, _, _ = lin2
    x = torch.full((4, 3, 4, 4), 0.5) + 0.05 * torch.randn(4, 3, 4, 4, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        y = model(x).argmax(1)
    one = CWL2(ThreatModel(norm="l2", eps=1.0), binary_steps=1, iterations=40, c_init=1e-4).run(model, x, y)
    assert not one.success.any()
    assert not torch.equal(one.x_adv, x)  # the last iterate, not the clean image
    many = CWL2(ThreatModel(norm="l2", eps=1.0), binary_steps=6, iterations=40, c_init=1e-4).run(model, x, y)
    assert many.success.all()


# ----------------------------------------------------------------------------- determinism

@pytest.mark.parametrize("name,norm", RANDOM_ATTACKS)
def test_same_seed_same_result_different_seed_different(conv, name, norm):
    model, x, y = conv
    a = make_attack(name, threat_for(name, norm, steps=3))
    x1 = a.perturb(model, x, y, seed=11)[0]
    x2 = a.perturb(model, x, y, seed=11)[0]
    x3 = a.perturb(model, x, y, seed=12)[0]
    assert torch.equal(x1, x2)
    assert not torch.equal(x1, x3)


@pytest.mark.parametrize("name", ["FGSM", "CW-L2"])
def test_deterministic_attacks_ignore_the_seed(conv, name):
    model, x, y = conv
    params = {"binary_steps": 1, "iterations": 3} if name == "CW-L2" else {}
    a = make_attack(name, default_threat(name), **params)
    assert torch.equal(a.perturb(model, x, y, seed=1)[0], a.perturb(model, x, y, seed=2)[0])


def test_batched_equals_per_example(conv):
    """Per-example results of a deterministic attack do not depend on the rest of the batch."""
    model, x, y = conv
    a = make_attack("APGD-DLR", threat_for("APGD-DLR", "linf", steps=6, random_start=False))
    batch = a.perturb(model, x, y)[0]
    for i in range(len(x)):
        one = a.perturb(model, x[i:i + 1], y[i:i + 1])[0]
        torch.testing.assert_close(one[0], batch[i], atol=1e-6, rtol=0)


# ----------------------------------------------------------------------------- goals

GOAL_CASES = [("FGSM", "linf"), ("PGD", "linf"), ("PGD", "l2"), ("N-FGSM", "linf"), ("TRADES-KL", "linf"),
              ("APGD-CE", "linf"), ("APGD-DLR", "linf"), ("APGD-CE", "l2"), ("CW-L2", "l2")]


@pytest.fixture(scope="module")
def easy():
    """An easy 5-class linear model on 3x8x8 images near mid-grey: zero-sum weight rows, so the
    clean logit gaps are small compared with what an eps = 0.05 perturbation can do."""
    g = torch.Generator().manual_seed(13)
    w = torch.randn(5, 192, generator=g)
    w = w - w.mean(1, keepdim=True)
    x = 0.5 + 0.1 * (2 * torch.rand(8, 3, 8, 8, generator=g) - 1)
    return linear_model(w, torch.zeros(5)), x


@pytest.mark.parametrize("mode", ["targeted", "least_likely"])
@pytest.mark.parametrize("name,norm", GOAL_CASES)
def test_targeted_goals_reach_the_target_on_an_easy_model(easy, name, norm, mode):
    model, x = easy
    with torch.no_grad():
        clean = model(x)
    y = clean.argmax(1)
    goal = Goal(mode, 3 if mode == "targeted" else None)
    eps = 0.05 if norm == "linf" else 1.0
    tm = ThreatModel(norm=norm, eps=eps, step=eps / 4, steps=10)
    res = make_attack(name, tm).run(model, x, y, goal, seed=1)
    want = torch.full((8,), 3) if mode == "targeted" else clean.argmin(1)
    assert torch.equal(res.targets, want)
    assert (want != y).sum() >= 6  # the goal is not trivially met
    if name == "APGD-DLR":
        # The paper's targeted DLR ascends z_t − z_y (scaled): it puts the target above the true
        # class, which need not make the target the top class (AutoAttack uses it to find any
        # misclassification).
        z = res.adv_logits
        gap = (z.gather(1, want[:, None]) - z.gather(1, y[:, None]))[:, 0]
        assert (gap[want != y] > 0).all(), gap
        assert res.success.sum() >= 1
    else:
        assert res.success.all(), (name, res.adv_pred, want)
    if name != "TRADES-KL":  # label-free KL ascent need not change the class
        assert make_attack(name, tm).run(model, x, y, seed=1).success.all()


# ----------------------------------------------------------------------------- restarts

@pytest.mark.parametrize("name,norm", [("PGD", "linf"), ("TRADES-KL", "linf"), ("APGD-CE", "linf"),
                                       ("APGD-DLR", "l2")])
def test_restarts_keep_the_best_per_example(name, norm):
    """Restart 1 of a 4-restart run is the 1-restart run (same seed), so keeping the best per
    example can only raise each example's objective; at least one example must gain."""
    model = conv_net(seed=2)
    x = images(16, seed=3)
    with torch.no_grad():
        y = model(x).argmax(1)
    eps = 1 / 255 if norm == "linf" else 0.1
    one = make_attack(name, ThreatModel(norm=norm, eps=eps, step=eps / 2, steps=2, restarts=1))
    four = make_attack(name, ThreatModel(norm=norm, eps=eps, step=eps / 2, steps=2, restarts=4))
    x1 = one.perturb(model, x, y, seed=21)[0]
    x4, traj = four.perturb(model, x, y, seed=21)
    assert len(traj) == 8
    o1, o4 = objective_of(one, model, x, x1, y), objective_of(four, model, x, x4, y)
    assert (o4 >= o1 - 1e-6).all()
    assert (o4 > o1 + 1e-6).any()


def test_apgd_restarts_pick_the_best_run_per_example(conv):
    """The combined APGD result equals, per example, the best of the individual runs drawn from
    the same generator."""
    model, x, y = conv
    tm = ThreatModel(norm="linf", eps=2 / 255, steps=4, restarts=3)
    a = APGD(tm, loss="dlr")
    got = a.perturb(model, x, y, seed=5)[0]
    gen = torch.Generator().manual_seed(5)
    runs = [a._single_run(model, x, y, None, gen, Recorder(100, None, False)) for _ in range(3)]
    losses = torch.stack([r[1] for r in runs])  # (3, N)
    pick = losses.argmax(0)
    want = torch.stack([runs[int(k)][0][i] for i, k in enumerate(pick)])
    assert torch.equal(got, want)
    assert len(set(pick.tolist())) > 1 or torch.unique(losses, dim=0).shape[0] > 1


# ----------------------------------------------------------------------------- progress

@pytest.mark.parametrize("name", list(ATTACKS))
def test_trajectory_length_and_progress_calls(conv, name):
    model, x, y = conv
    params = {"binary_steps": 2, "iterations": 3} if name == "CW-L2" else {"n_queries": 8} if name == "Square" else {}
    tm = default_threat(name)
    if name in ("PGD", "TRADES-KL", "APGD-CE", "APGD-DLR"):
        tm = threat_for(name, tm.norm, steps=4, restarts=2)
    a = make_attack(name, tm, **params)
    calls = []
    res = a.run(model, x, y, seed=0, progress=lambda d, t, m: calls.append((d, t)), record_images=True)
    n = a.total_steps()
    assert n == {"FGSM": 1, "N-FGSM": 1, "CW-L2": 6}.get(name, 8)
    assert len(res.trajectory) == n
    assert calls == [(i, n) for i in range(1, n + 1)]
    for k, s in enumerate(res.trajectory):
        assert s.step == k and s.loss.shape == (4,) and s.topk_probs.shape == (4, 5)
        assert s.image is not None and s.image.dtype == torch.uint8
        assert torch.isfinite(s.loss).all()


@pytest.mark.parametrize("name", list(ATTACKS))
def test_cancelled_from_the_progress_callback_propagates(conv, name):
    model, x, y = conv
    params = {"binary_steps": 1, "iterations": 5} if name == "CW-L2" else {}
    a = make_attack(name, default_threat(name), **params)
    stop_at = min(2, a.total_steps())
    seen = []

    def progress(done, total, msg):
        seen.append(done)
        if done == stop_at:
            raise Cancelled()

    with pytest.raises(Cancelled):
        a.run(model, x, y, progress=progress)
    assert seen == list(range(1, stop_at + 1))


# ----------------------------------------------------------------------------- APGD details

def test_apgd_checkpoints_follow_the_paper_recurrence():
    # p = 0, .22, .41, .57, .70, .80, .87, .93, .99 (next 1.05 > 1); w_j = ceil(p_j N)
    assert apgd_checkpoints(100) == [0, 22, 41, 57, 70, 80, 87, 93, 99]
    assert apgd_checkpoints(20) == [0, 5, 9, 12, 14, 16, 18, 19]
    assert apgd_checkpoints(10) == [0, 3, 5, 6, 7, 8, 9]
    assert apgd_checkpoints(1000) == [0, 220, 410, 570, 700, 800, 870, 930, 990]
    assert apgd_checkpoints(1) == [0]
    for n in range(1, 300):
        w = apgd_checkpoints(n)
        assert w[0] == 0 and all(a < b for a, b in zip(w, w[1:])) and w[-1] < n
    with pytest.raises(ValueError):
        apgd_checkpoints(0)


def test_dlr_loss_exact_values():
    z = torch.tensor([[3.0, 1.0, 2.0, 0.0], [0.0, 4.0, 1.0, 3.0]], requires_grad=True)
    y = torch.tensor([0, 2])
    # untargeted: −(z_y − max_{i≠y} z_i)/(z_π1 − z_π3)
    assert torch.allclose(dlr_loss(z, y), torch.tensor([-(3 - 2) / (3 - 1), -(1 - 4) / (4 - 1)]))
    # targeted: −(z_y − z_t)/(z_π1 − (z_π3 + z_π4)/2)
    t = torch.tensor([3, 1])
    assert torch.allclose(dlr_loss(z, y, t), torch.tensor([-(3 - 0) / (3 - 0.5), -(1 - 4) / (4 - 0.5)]))
    # invariant to shifting and positive scaling of the logits
    assert torch.allclose(dlr_loss(2.5 * z + 7, y), dlr_loss(z, y))
    with pytest.raises(ValueError):
        dlr_loss(torch.zeros(1, 3), torch.tensor([0]), torch.tensor([1]))


def test_apgd_halving_conditions():
    rho = 0.75
    f = torch.tensor
    no, yes = f([False]), f([True])
    # 4 steps, 3 increases: not fewer than 0.75·4 (the paper's strict '<'), best improved -> keep
    w = f([[0.0], [1.0], [2.0], [1.5], [3.0]])
    assert not apgd_should_halve(w, rho, f([3.0]), f([0.0]), no)
    # 4 steps, 2 increases < 3 -> condition (i) halves
    w = f([[0.0], [1.0], [0.5], [0.4], [3.0]])
    assert apgd_should_halve(w, rho, f([3.0]), f([0.0]), yes)
    # (i) counts strict increases: equal values do not count
    assert apgd_should_halve(f([[1.0], [1.0], [1.0], [2.0], [3.0]]), rho, f([3.0]), f([1.0]), yes)
    # (ii): enough increases, but no improvement of the best since the last checkpoint ...
    w = f([[0.0], [1.0], [2.0], [3.0], [4.0]])
    assert apgd_should_halve(w, rho, f([5.0]), f([5.0]), no)
    # ... only when the step was not halved at the last checkpoint
    assert not apgd_should_halve(w, rho, f([5.0]), f([5.0]), yes)
    # per example
    w = torch.stack([f([0.0, 0.0]), f([1.0, -1.0]), f([2.0, -2.0])])
    assert apgd_should_halve(w, rho, f([2.0, 0.0]), f([0.0, 0.0]), f([False, False])).tolist() == [False, True]


def test_apgd_step_size_schedule_on_a_flat_objective():
    """With a constant objective nothing ever increases, so η = 2ε is halved at every checkpoint."""

    class Flat(nn.Module):
        def forward(self, x):
            return torch.zeros(x.shape[0], 3) + 0 * x.flatten(1)[:, :1]

    x = torch.full((2, 3, 2, 2), 0.5)
    eps, n = 0.1, 20
    a = APGD(ThreatModel(norm="linf", eps=eps, steps=n, random_start=False))
    a.perturb(Flat().eval(), x, torch.zeros(2, dtype=torch.long))
    ck = apgd_checkpoints(n)[1:]
    want = [2 * eps / 2 ** sum(w <= i for w in ck) for i in range(n)]
    got = [float(e[0]) for e in a.last_step_sizes]
    assert got == pytest.approx(want, rel=1e-6)
    assert torch.equal(a.last_step_sizes[-1], torch.full((2,), want[-1], dtype=torch.float32))


class Peak(nn.Module):
    """Two logits [0, −k(s − s*)²] with s the mean pixel: CE of class 0 peaks at s = s*, inside
    the ball. Every pixel's gradient has the same sign, so a sign step moves s by ±η."""

    def __init__(self, s_star: float, k: float = 50.0) -> None:
        super().__init__()
        self.s_star, self.k = s_star, k

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.flatten(1).mean(1)
        return torch.stack([torch.zeros_like(s), -self.k * (s - self.s_star) ** 2], 1)


def test_apgd_step_halving_converges_to_an_interior_peak():
    """A fixed step of 2ε oscillates around the peak; APGD's halving at the checkpoints and its
    restarts from the best point home in on it."""
    model = Peak(0.537).eval()
    x = torch.full((1, 3, 2, 2), 0.5)
    y = torch.zeros(1, dtype=torch.long)
    tm = ThreatModel(norm="linf", eps=0.1, steps=20, random_start=False)
    x_apgd = APGD(tm).perturb(model, x, y)[0]
    x_pgd = PGD(ThreatModel(norm="linf", eps=0.1, step=0.2, steps=20, random_start=False)).perturb(model, x, y)[0]
    assert abs(x_apgd.mean().item() - 0.537) < 0.002
    assert abs(x_pgd.mean().item() - 0.537) > 0.05
    assert (x_apgd - x).abs().max() <= 0.1 + 1e-6


def test_apgd_finds_adversarials_at_least_as_often_as_pgd():
    model = conv_net(seed=4)
    x = images(64, seed=6)
    with torch.no_grad():
        y = model(x).argmax(1)
    eps = 1 / 255
    pgd = PGD(ThreatModel(norm="linf", eps=eps, step=eps / 4, steps=10)).run(model, x, y, seed=0)
    apgd = make_attack("APGD-CE", ThreatModel(norm="linf", eps=eps, steps=10)).run(model, x, y, seed=0)
    n_pgd, n_apgd = int(pgd.success.sum()), int(apgd.success.sum())
    assert 5 <= n_pgd <= 59  # the comparison is not trivial
    assert n_apgd >= n_pgd, (n_apgd, n_pgd)


# ----------------------------------------------------------------------------- TRADES, CW details

def test_trades_kl_objective_and_label_free(conv):
    model, x, y = conv
    tm = threat_for("TRADES-KL", "linf", steps=3)
    x_adv, traj = TradesKL(tm).perturb(model, x, y, seed=1)
    # label-free: any labels give the same result
    x_other, _ = TradesKL(tm).perturb(model, x, (y + 1) % 10, seed=1)
    assert torch.equal(x_adv, x_other)
    with torch.no_grad():
        kl = kl_to_clean(F.log_softmax(model(x), 1), model(x_adv))
        ref = F.kl_div(F.log_softmax(model(x_adv), 1), F.softmax(model(x), 1), reduction="none").sum(1)
    torch.testing.assert_close(kl, ref, atol=1e-6, rtol=1e-5)
    assert (kl > traj[0].loss).all()  # the attack raised the KL from its noisy start


def test_cw_leaves_model_parameters_alone():
    model = conv_net(seed=5).requires_grad_(True)  # even a model whose parameters require grad
    x = images(2, seed=2)
    with torch.no_grad():
        y = model(x).argmax(1)
    CWL2(binary_steps=1, iterations=3).run(model, x, y)
    assert all(p.grad is None for p in model.parameters())


# ----------------------------------------------------------------------------- registry

def test_registry_defaults_and_params():
    assert set(ATTACKS) == {"FGSM", "PGD", "N-FGSM", "TRADES-KL", "APGD-CE", "APGD-DLR", "CW-L2", "Square"}
    assert set(ATTACK_INFO) == set(ATTACKS) == set(DEFAULT_THREATS)
    assert all(len(v) > 40 for v in ATTACK_INFO.values())
    for name in ATTACKS:
        a = make_attack(name, DEFAULT_THREATS[name])  # no extra kwargs needed
        assert a.name == name and a.paper
        assert make_attack(name).threat == DEFAULT_THREATS[name]
    for name, tm in DEFAULT_L2_THREATS.items():
        assert tm.norm == "l2" and default_threat(name, "l2") == tm
    assert DEFAULT_THREATS["PGD"] == ThreatModel("linf", 4 / 255, 1 / 255, 10, True, 1)
    assert DEFAULT_THREATS["N-FGSM"].eps == 8 / 255 and DEFAULT_THREATS["APGD-CE"].steps == 20
    assert make_attack("APGD-DLR").loss == "dlr" and make_attack("APGD-CE").loss == "ce"
    assert make_attack("N-FGSM", clip_to_eps=True, k=1.5).params() == {"k": 1.5, "alpha": 8 / 255,
                                                                       "clip_to_eps": True}
    assert make_attack("CW-L2", kappa=2.0, iterations=10).total_steps() == 20
    assert make_attack("APGD-CE", rho=0.5).rho == 0.5
    with pytest.raises(TypeError):
        make_attack("APGD-CE", loss="dlr")
    with pytest.raises(KeyError):
        make_attack("nope")
    with pytest.raises(ValueError):
        make_attack("N-FGSM", ThreatModel(norm="l2", eps=1.0))
    with pytest.raises(ValueError):
        make_attack("CW-L2", ThreatModel(norm="linf"))
    with pytest.raises(ValueError):
        make_attack("CW-L2", binary_steps=100, iterations=100)
    with pytest.raises(ValueError):
        default_threat("N-FGSM", "l2")


# ----------------------------------------------------------------------------- reference

def test_fgsm_and_pgd_agree_with_torchattacks(conv):
    torchattacks = require_torchattacks()
    model, x, y = conv
    eps, alpha = 8 / 255, 2 / 255

    ref = torchattacks.FGSM(model, eps=eps)(x, y)
    ours = FGSM(ThreatModel(norm="linf", eps=eps)).perturb(model, x, y)[0]
    torch.testing.assert_close(ours, ref, atol=1e-6, rtol=0)

    ta = torchattacks.FGSM(model, eps=eps)
    ta.set_mode_targeted_by_function(lambda images, labels: torch.full_like(labels, 7), quiet=True)
    ref_t = ta(x, y)
    ours_t = FGSM(ThreatModel(norm="linf", eps=eps)).perturb(model, x, y, Goal("targeted", 7))[0]
    torch.testing.assert_close(ours_t, ref_t, atol=1e-6, rtol=0)

    ref = torchattacks.PGD(model, eps=eps, alpha=alpha, steps=10, random_start=False)(x, y)
    ours = PGD(ThreatModel(norm="linf", eps=eps, step=alpha, steps=10, random_start=False)).perturb(model, x, y)[0]
    torch.testing.assert_close(ours, ref, atol=1e-6, rtol=0)
    assert not torch.allclose(ours, x, atol=1e-3)

    ref = torchattacks.PGDL2(model, eps=0.5, alpha=0.1, steps=10, random_start=False)(x, y)
    ours = PGD(ThreatModel(norm="l2", eps=0.5, step=0.1, steps=10, random_start=False)).perturb(model, x, y)[0]
    torch.testing.assert_close(ours, ref, atol=1e-6, rtol=0)


# ----------------------------------------------------------------------------- real model

def test_new_attacks_on_lite0_at_64px():
    from core.models import load_model
    model = load_model("EfficientNet-Lite0")
    dev = next(model.parameters()).device
    x = images(1, size=64, seed=10).to(dev)
    with torch.no_grad():
        y = model(x).argmax(1)
    for name, params in [("N-FGSM", {}), ("TRADES-KL", {}), ("APGD-DLR", {}),
                         ("CW-L2", {"binary_steps": 1, "iterations": 3})]:
        tm = default_threat(name)
        if name in ("TRADES-KL", "APGD-DLR"):
            tm = threat_for(name, tm.norm, steps=3)
        a = make_attack(name, tm, **params)
        res = a.run(model, x, y, goal=Goal("least_likely") if name == "APGD-DLR" else Goal())
        assert len(res.trajectory) == a.total_steps()
        assert res.x_adv.min() >= 0 and res.x_adv.max() <= 1
        assert all(torch.isfinite(s.loss).all() for s in res.trajectory)
        if name in ("TRADES-KL", "APGD-DLR"):
            assert res.linf.max() <= tm.eps + 1e-6
