"""What the zoo page computes: per-model attacks on one image, live curves, CIFS masks."""
from __future__ import annotations

import pytest
import torch

from core.models.zoo.net import build_model
from core.data import fashion_mnist as zdata
from core.evaluation.zoo.cards import accuracy_curve
from core.evaluation.zoo.under_attack import attack_each, cifs_masks, live_curves, zoo_threat

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    a = build_model().eval()
    torch.manual_seed(1)
    b = build_model(cifs=True).eval()
    return {"a": a, "b": b}


@pytest.fixture(scope="module")
def images():
    x, y, _ = zdata.load_test_subset()
    sel = torch.arange(0, 1000, 125)
    return zdata.to_float(x[sel]), y[sel]


@pytest.mark.parametrize("attack", ["FGSM", "PGD", "APGD-CE"])
def test_attack_each_respects_budget_and_reports(models, images, attack):
    x, y = images
    eps = 0.1
    outs = attack_each(models, x[:1], int(y[0]), attack, eps, steps=5, seed=3)
    assert [o.name for o in outs] == ["a", "b"]
    for o, m in zip(outs, models.values()):
        d = (o.x_adv - x[:1]).abs().max()
        assert float(d) <= eps + 1e-6 and float(o.x_adv.min()) >= 0 and float(o.x_adv.max()) <= 1
        with torch.no_grad():
            torch.testing.assert_close(o.adv_probs, m(o.x_adv).softmax(1)[0])
            torch.testing.assert_close(o.clean_probs, m(x[:1]).softmax(1)[0])
        assert o.held == (o.clean_pred == o.label and o.adv_pred == o.label)
    # same seed, same result; ε = 0 leaves the image alone
    again = attack_each(models, x[:1], int(y[0]), attack, eps, steps=5, seed=3)
    assert all(torch.equal(p.x_adv, q.x_adv) for p, q in zip(outs, again))
    still = attack_each(models, x[:1], int(y[0]), attack, 0.0, steps=5)
    assert all(torch.equal(o.x_adv, x[:1]) for o in still)


def test_zoo_threat():
    assert zoo_threat("PGD", 0.1, 20).step == pytest.approx(0.0125)
    assert zoo_threat("FGSM", 0.2).steps == 1
    with pytest.raises(ValueError):
        zoo_threat("CW-L2", 0.1)


def test_live_curves_equal_accuracy_curve(models, images):
    x, y = images
    eps = (0.0, 0.05, 0.1)
    live = live_curves(models, x, y, eps, steps=3)
    for name, m in models.items():
        ref = accuracy_curve(m, x, y, eps, steps=3, batch_size=len(y))
        assert live[name] == ref
        assert live[name][0]["accuracy"] == pytest.approx(float((m(x).argmax(1) == y).float().mean()))


def test_cifs_masks(models, images):
    x, _ = images
    masks = cifs_masks(models["b"], x[:2])
    assert set(masks) == {"conv3", "conv4"}
    assert masks["conv3"].shape == (2, 64) and masks["conv4"].shape == (2, 128)
    torch.testing.assert_close(masks["conv4"].sum(1), torch.full((2,), 128.0))
    with pytest.raises(ValueError):
        cifs_masks(models["a"], x[:1])
