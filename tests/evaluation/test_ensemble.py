"""The worst-case ensemble (core/evaluation/ensemble.py): exact robust accuracy of a linear model, its
bookkeeping, never above a single attack, the "rand" variant, and torchattacks' AutoAttack
as an oracle."""
from __future__ import annotations

import pytest
import torch

from audit_toys import LinearToy, linear_robust, toy_data
from core.attacks.apgd import APGDCE
from core.evaluation.ensemble import EnsembleConfig, EOTModel, worst_case
from oracles import require_torchattacks

CFG = EnsembleConfig(eps=0.1, apgd_steps=20, n_targets=3, square_queries=60)


def test_ensemble_finds_exactly_the_non_robust_images_of_a_linear_model():
    x, y = toy_data(40)
    m = LinearToy()
    exact = linear_robust(m, x, y, 0.1)  # closed form, no attack
    assert 0 < exact.float().mean() < 1  # some robust, some not: the test can fail both ways
    r = worst_case(m, x, y, CFG)
    assert torch.equal(r.robust, exact)
    assert r.robust_accuracy == pytest.approx(float(exact.float().mean()))


def test_bookkeeping_first_success_and_breakdown():
    x, y = toy_data(40)
    y = y.clone()
    y[0] = (y[0] + 1) % 4  # one image the model gets wrong without attack
    m = LinearToy()
    r = worst_case(m, x, y, CFG)
    assert r.found_by[0] == "clean" and not r.clean_correct[0] and not r.robust[0]
    names = {b["attack"] for b in r.breakdown()}
    assert names == {"APGD-CE", "APGD-T", "Square"}
    fooled = [i for i, f in enumerate(r.found_by) if f in names]
    assert len(fooled) == sum(b["fooled"] for b in r.breakdown())
    assert int(r.clean_correct.sum()) - len(fooled) == int(r.robust.sum())
    with torch.no_grad():
        pred = m(r.x_adv).argmax(1)
    for i in fooled:
        assert pred[i] != y[i]  # the kept example does fool the model
        assert (r.x_adv[i] - x[i]).abs().max() <= 0.1 + 1e-6
    for i in torch.nonzero(r.robust).flatten().tolist():
        assert r.found_by[i] == "" and torch.equal(r.x_adv[i], x[i])
    # each attack ran only on what the previous ones left
    b = r.breakdown()
    for prev, cur in zip(b, b[1:]):
        assert cur["ran_on"] == prev["robust_after"]


def test_ensemble_is_never_above_its_first_attack_alone():
    from core.data.fashion_mnist import load_test_subset, to_float
    from core.models.zoo.catalogue import load_zoo_model

    xs, ys, _ = load_test_subset()
    x, y = to_float(xs)[:48], ys[:48].long()
    m = load_zoo_model("fmnist-pgd-at")
    cfg = EnsembleConfig(eps=0.1, apgd_steps=10, n_targets=2, square_queries=50)
    r = worst_case(m, x, y, cfg, batch_size=64, seed=5)
    # APGD-CE alone, same images (the clean-correct ones, in one batch) and seed
    idx = torch.nonzero(r.clean_correct).flatten()
    adv, _ = APGDCE(cfg.threat()).perturb(m, x[idx], y[idx], seed=5)
    with torch.no_grad():
        alone = int((m(adv).argmax(1) == y[idx]).sum())
    assert int(r.robust.sum()) <= alone
    assert r.breakdown()[0]["robust_after"] == alone  # the first stage is exactly that run


def test_rand_variant_votes_and_eot():
    x, y = toy_data(12)

    class Noisy(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.m = LinearToy()
            self.g = torch.Generator().manual_seed(0)
            self.eval()

        def forward(self, z):
            return self.m(z + 0.05 * torch.randn(z.shape, generator=self.g))

    noisy = Noisy()
    e = EOTModel(noisy, 4)
    with torch.no_grad():
        assert e(x).shape == (12, 4)
    with pytest.raises(RuntimeError):
        e.train()
    cfg = EnsembleConfig(eps=0.1, version="rand", apgd_steps=10, eot_samples=4, verdict_evals=5)
    r = worst_case(noisy, x, y, cfg)
    assert [b["attack"] for b in r.breakdown()] == ["APGD-CE (EOT)", "APGD-DLR (EOT)", "Square (EOT)"]
    assert r.vote_spread is not None and r.vote_spread.shape == (12,)
    exact_lo = linear_robust(LinearToy(), x, y, 0.15).float().mean()  # noise 0.05 on top of ε = 0.1
    exact_hi = linear_robust(LinearToy(), x, y, 0.05).float().mean()
    assert exact_lo - 0.1 <= r.robust_accuracy <= exact_hi + 0.1


def test_config_limits():
    with pytest.raises(ValueError):
        EnsembleConfig(n_targets=20)
    with pytest.raises(ValueError):
        EnsembleConfig(square_queries=10**6)
    with pytest.raises(ValueError):
        EnsembleConfig(version="plus")
    with pytest.raises(ValueError):
        EnsembleConfig(apgd_steps=10_000)
    assert EnsembleConfig(n_targets=0, square_queries=0).attack_names() == ["APGD-CE"]


def test_ensemble_agrees_with_torchattacks_autoattack_on_a_linear_model():
    torchattacks = require_torchattacks()
    x, y = toy_data(24, seed=4)
    m = LinearToy()
    ours = worst_case(m, x, y, CFG)
    aa = torchattacks.AutoAttack(m, norm="Linf", eps=0.1, version="standard", n_classes=4, seed=0)
    adv = aa(x, y)
    with torch.no_grad():
        ref = (m(adv).argmax(1) == y) & (m(x).argmax(1) == y)
    # both should find the exact answer on a linear model; allow one image of slack for AutoAttack
    assert abs(int(ours.robust.sum()) - int(ref.sum())) <= 1
    assert torch.equal(ours.robust, linear_robust(m, x, y, 0.1))


def test_eot_view_does_not_touch_the_model():
    m = LinearToy()
    before = {k: v.clone() for k, v in m.state_dict().items()}
    x, y = toy_data(8)
    worst_case(EOTModel(m, 2), x, y, EnsembleConfig(eps=0.05, apgd_steps=5, n_targets=1, square_queries=5))
    assert all(torch.equal(before[k], v) for k, v in m.state_dict().items()) and not m.training
