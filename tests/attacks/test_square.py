"""Square Attack (core/attacks/square.py): the paper's schedule and pattern, invariants, a model
without gradients, and torchattacks' Square as an independent oracle."""
from __future__ import annotations

import pytest
import torch

from audit_toys import LinearToy, QuantisedToy, linear_robust, toy_data
from core.runtime import limits
from core.attacks import ATTACKS, Goal, ThreatModel, default_threat, make_attack
from core.attacks.pgd import PGD
from core.attacks.square import Square, eta_pattern, p_schedule, square_side
from oracles import require_torchattacks


def test_p_schedule_is_the_papers_piecewise_halving():
    # 10,000 queries: p_init up to iteration 10, then halved at 10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000
    got = [p_schedule(i, 10_000, 0.8) for i in (0, 10, 11, 50, 51, 200, 201, 500, 501, 1000, 1001, 2000, 2001,
                                                   4000, 4001, 6000, 6001, 8000, 8001, 9999)]
    want = [0.8, 0.8, 0.4, 0.4, 0.2, 0.2, 0.1, 0.1, 0.05, 0.05, 0.025, 0.025, 0.0125, 0.0125, 0.00625,
            0.00625, 0.003125, 0.003125, 0.0015625, 0.0015625]
    assert got == pytest.approx(want)
    # rescaled to 1,000 queries: iteration i behaves like 10·i
    assert p_schedule(2, 1000, 0.8) == pytest.approx(0.4) and p_schedule(1, 1000, 0.8) == pytest.approx(0.8)


def test_square_side_and_l2_pattern():
    assert square_side(0.05, 224, 224, "linf") == 50  # √(0.05·224²) = 50.09
    assert square_side(1e-6, 28, 28, "linf") == 1
    assert square_side(1e-6, 28, 28, "l2") == 3 and square_side(0.1, 28, 28, "l2") % 2 == 1
    assert square_side(1.0, 28, 28, "linf") == 28
    for s in (3, 5, 8):
        e = eta_pattern(s, flip=False)
        assert e.pow(2).sum().item() == pytest.approx(1.0, abs=1e-6)
        top, bottom = e[: s // 2], e[s // 2:]
        assert (top >= 0).all() and (bottom <= 0).all()  # positive rings above, negative below
        assert torch.equal(eta_pattern(s, flip=True), e.t())
    # the centre of each half carries the largest weight (rings weighted 1/(k+1)²)
    e = eta_pattern(7, flip=False)
    assert e[1, 3] == e[:3].max() and e[5, 3] == e[3:].min()


@pytest.mark.parametrize("norm,eps", [("linf", 0.15), ("l2", 2.0)])
def test_square_stays_in_the_ball_and_box_and_is_seeded(norm, eps):
    x, y = toy_data(16)
    m = LinearToy()
    a = Square(ThreatModel(norm=norm, eps=eps), n_queries=60, p_init=0.3)
    r = a.run(m, x, y, seed=3)
    assert (r.x_adv >= 0).all() and (r.x_adv <= 1).all()
    size = r.linf if norm == "linf" else r.l2
    assert (size <= eps * (1 + 1e-5)).all()
    q = torch.tensor(r.params["queries"])
    assert (q >= 0).all() and (q <= 60).all()
    assert (q[r.success] < 60).any() or not r.success.any()
    r2 = a.run(m, x, y, seed=3)
    assert torch.equal(r.x_adv, r2.x_adv)
    assert not torch.equal(r.x_adv, a.run(m, x, y, seed=4).x_adv)
    # the objective of the best point never decreases (a candidate is kept only if it is better)
    obj = torch.stack([s.loss for s in r.trajectory])
    assert (obj[1:] >= obj[:-1] - 1e-6).all()


def test_square_needs_no_gradient_and_breaks_a_gradient_masked_model():
    x, y = toy_data(16)
    masked = QuantisedToy()  # zero input gradient everywhere
    pgd = PGD(ThreatModel(eps=0.4, step=0.05, steps=20)).run(masked, x, y)
    sq = Square(ThreatModel(eps=0.4), n_queries=200, p_init=0.5).run(masked, x, y)
    assert pgd.success.float().mean() < 0.2  # gradient attack is blind
    assert sq.success.all()  # at ε = 0.4 every toy image can be flipped (linear_robust says 0 %)
    assert not linear_robust(LinearToy(), x, y, 0.4).any()

    class NoGrad(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.m = LinearToy()
            self.eval()

        def forward(self, z):
            assert not torch.is_grad_enabled(), "Square must only read output scores"
            return self.m(z)

    Square(ThreatModel(eps=0.1), n_queries=20).run(NoGrad(), x, y)


def test_square_targeted_reaches_the_target_and_fooled_images_cost_nothing():
    x, y = toy_data(12)
    m = LinearToy()
    tgt = (y + 1) % 4
    r = Square(ThreatModel(eps=0.45), n_queries=300, p_init=0.5).run(m, x, y, Goal("targeted", target_class=0))
    assert r.targets is not None and (r.adv_pred[r.targets != y] == 0).float().mean() > 0.9
    # an image the model already gets wrong is not attacked
    y_wrong = tgt
    a = Square(ThreatModel(eps=0.1), n_queries=30)
    xa, _ = a.perturb(m, x, y_wrong)
    assert torch.equal(xa, x) and (a.last_queries == 0).all()


def test_square_registry_defaults_and_limits():
    assert ATTACKS["Square"] is Square
    assert default_threat("Square").norm == "linf" and default_threat("Square", "l2").norm == "l2"
    a = make_attack("Square", n_queries=10)
    assert a.p_init == 0.05 and Square(ThreatModel(norm="l2", eps=1.0)).p_init == 0.1  # the paper's ImageNet values
    with pytest.raises(ValueError):
        Square(n_queries=limits.MAX_SQUARE_QUERIES + 1)
    with pytest.raises(ValueError):
        Square(p_init=0.0)


@pytest.mark.parametrize("norm,eps,ta_norm", [("linf", 0.1, "Linf"), ("l2", 1.5, "L2")])
def test_square_agrees_with_torchattacks_on_a_zoo_model(norm, eps, ta_norm):
    torchattacks = require_torchattacks()
    from core.data.fashion_mnist import load_test_subset, to_float
    from core.models.zoo.catalogue import load_zoo_model

    xs, ys, _ = load_test_subset()
    x, y = to_float(xs)[:100], ys[:100].long()
    model = load_zoo_model("fmnist-standard")
    ours = Square(ThreatModel(norm=norm, eps=eps), n_queries=300, p_init=0.8).run(model, x, y, seed=0)
    ref = torchattacks.Square(model, norm=ta_norm, eps=eps, n_queries=300, p_init=0.8, seed=0)(x, y)
    with torch.no_grad():
        clean = model(x).argmax(1) == y
        ref_rob = (model(ref).argmax(1) == y) & clean
    our_rob = (ours.adv_pred == y) & clean
    # same algorithm, different random draws: robust accuracy within 4 points on 100 images
    assert abs(int(our_rob.sum()) - int(ref_rob.sum())) <= 4, (int(our_rob.sum()), int(ref_rob.sum()))
