"""The shipped zoo: weights load strictly, are registered, are small, and the evaluation on the
shipped subset reproduces the numbers of the model cards."""
from __future__ import annotations

import pytest
import torch

from core.models import list_models, load_model
from core.models.zoo.catalogue import ZOO, build, load_card, load_zoo_model
from core.data import fashion_mnist as zdata
from core.evaluation.zoo.cards import CURVE_EPS, EVAL_EPS, accuracy_curve, evaluate

torch.set_num_threads(1)
SHIPPED = [e for e in ZOO if e.weights_path.exists()]
EVALUATED = [e for e in SHIPPED if "subset" in load_card(e.name).get("evaluation", {})]
# Same seeds and batches give identical counts on one machine; another CPU's float rounding
# may flip an image at a decision boundary, so allow a few of the 1,000.
TOL_IMAGES = 3
# LT-NODE's counts over the 1,000 images move by a few images between runs (2 draws of T per pass)
RAND_TOL_IMAGES = 15


@pytest.fixture(scope="module")
def subset():
    x, y, _ = zdata.load_test_subset()
    return zdata.to_float(x), y


def test_every_zoo_model_is_shipped():
    assert [e.name for e in SHIPPED] == [e.name for e in ZOO]
    assert [e.name for e in EVALUATED] == [e.name for e in ZOO]


@pytest.mark.parametrize("entry", SHIPPED, ids=[e.name for e in SHIPPED])
def test_weights_load_strictly_and_are_small(entry):
    assert entry.weights_path.stat().st_size < 1_000_000
    sd = torch.load(entry.weights_path, map_location="cpu", weights_only=True)
    fresh = build(entry.name)
    assert set(sd) == set(fresh.state_dict())
    model = load_zoo_model(entry.name)
    for k, v in model.state_dict().items():
        assert torch.equal(v, sd[k]), k
    bad = dict(sd)
    bad.pop(next(iter(bad)))
    with pytest.raises(RuntimeError):
        fresh.load_state_dict(bad, strict=True)
    card = load_card(entry.name)
    assert card["name"] == entry.name and card["architecture"]["parameters"] == sum(p.numel() for p in model.parameters())
    from core.train.common import TrainConfig

    if "train_config_note" in card:  # an own budget, stated on the card (the sNODEs: tools/train_snode.py)
        assert card["train_config"]["seed"] == 0 and card["training"]["command"].startswith("python tools/")
        return
    assert card["train_config"] == {**TrainConfig().as_dict(), "threads": card["train_config"]["threads"]}


def test_registry_has_the_zoo(subset):
    specs = {s.name: s for s in list_models("fashion-mnist")}
    assert set(specs) == {e.name for e in SHIPPED}
    m = load_model("fmnist-standard", device="cpu")
    assert not m.training and not any(p.requires_grad for p in m.parameters())
    with pytest.raises(RuntimeError):
        m.train()
    x = subset[0][:8]
    with torch.no_grad():
        torch.testing.assert_close(m(x.expand(-1, 3, -1, -1)), m(x))


@pytest.mark.parametrize("entry", EVALUATED, ids=[e.name for e in EVALUATED])
def test_clean_and_fgsm_reproduce_card(entry, subset):
    card = load_card(entry.name)["evaluation"]
    assert card["eps"] == EVAL_EPS
    got = evaluate(load_zoo_model(entry.name), *subset, batch_size=card["batch_size"], metrics=("clean", "fgsm"))
    # a randomized model (LT-NODE: a new end time per pass) gives other counts on every run
    tol_clean, tol_fgsm = (RAND_TOL_IMAGES, RAND_TOL_IMAGES) if entry.randomized else (1, TOL_IMAGES)
    assert got["clean"]["correct"] == pytest.approx(card["subset"]["clean"]["correct"], abs=tol_clean)
    assert got["fgsm"]["correct"] == pytest.approx(card["subset"]["fgsm"]["correct"], abs=tol_fgsm)
    if "full_test" not in card:  # subset only (the ODE models): the card says why
        assert "too slow" in card["full_test_skipped"]
        return
    # the full-test-set numbers exist and are consistent with the subset's (same model, same attack)
    full = card["full_test"]
    assert full["clean"]["n"] == 10_000
    assert abs(full["clean"]["accuracy"] - card["subset"]["clean"]["accuracy"]) < 0.05


def test_pgd_apgd_and_curve_reproduce_card(subset):
    name = "fmnist-pgd-at"
    card = load_card(name)["evaluation"]
    model = load_zoo_model(name)
    got = evaluate(model, *subset, batch_size=card["batch_size"], metrics=("pgd20", "apgd_ce"))
    for m in ("pgd20", "apgd_ce"):
        assert got[m]["correct"] == pytest.approx(card["subset"][m]["correct"], abs=TOL_IMAGES), m
    # one point of the stored curve (ε = 0.05), recomputed alone
    pts = {p["eps"]: p for p in card["curve_subset"]["points"]}
    assert sorted(pts) == sorted(CURVE_EPS)
    again = accuracy_curve(model, *subset, (0.05,), batch_size=card["batch_size"])[0]
    assert again["correct"] == pytest.approx(pts[0.05]["correct"], abs=TOL_IMAGES)
    # robust accuracy cannot exceed clean, and the curve falls with ε
    accs = [pts[e]["accuracy"] for e in sorted(pts)]
    assert all(a >= b - 0.005 for a, b in zip(accs, accs[1:]))


def _check_worst_case_block(block: dict, n: int) -> None:
    """A worst-case block's numbers hang together: each attack runs on the images the previous
    left robust, the quoted view is the lowest, and the fractions match the counts."""
    views = {k: block[k] for k in ("as_shipped", "through_mask") if k in block}
    assert views and block["n"] == n
    for v in views.values():
        assert v["n"] == n and v["clean_accuracy"] == pytest.approx(v["clean_correct"] / n)
        left = v["clean_correct"]
        for b in v["breakdown"]:
            assert b["ran_on"] == left and 0 <= b["fooled"] <= left
            left = b["robust_after"]
            assert left == b["ran_on"] - b["fooled"] and b["robust_accuracy_after"] == pytest.approx(left / n)
        assert v["robust"] == left and v["robust_accuracy"] == pytest.approx(left / n)
    assert block["robust_accuracy"] == min(v["robust_accuracy"] for v in views.values())
    assert block["robust_accuracy"] == views[block["quoted_view"]]["robust_accuracy"]


@pytest.mark.parametrize("entry", SHIPPED, ids=lambda e: e.name)
def test_worst_case_blocks_are_consistent_and_below_every_single_attack(entry):
    card = load_card(entry.name)
    if "worst_case" not in card:  # the sNODE cards quote an L2 worst case (tools/train_snode.py), no L∞ one yet
        wc = card["worst_case_l2"]
        _check_worst_case_block(wc, wc["n"])
        # the ensemble at ε is at least as strong as the paper's DeepFool at the same L2 budget
        df = card["sensitivity_deepfool"]
        assert df["budget_l2"] == wc["eps"] and wc["robust"] <= df["deepfool_l2_correct_at_budget"]["correct"]
        return
    wc = card["worst_case"]
    _check_worst_case_block(wc, wc["n"])
    if wc["n"] == 1000:  # the same images as the card's single attacks on the subset
        for m in ("fgsm", "pgd20", "apgd_ce"):
            assert wc["robust_accuracy"] <= card["evaluation"]["subset"][m]["accuracy"] + 1e-9, m
    full = wc.get("full_test_set")
    if full is not None:  # the whole test set: the same images as the card's full-test figures
        _check_worst_case_block(full, 10_000)
        for m in ("fgsm", "pgd20", "apgd_ce"):
            assert full["robust_accuracy"] <= card["evaluation"]["full_test"][m]["accuracy"] + 1e-9, m
        assert full["clean_accuracy"] == pytest.approx(card["evaluation"]["full_test"]["clean"]["accuracy"], abs=0.003)
