"""Robustness curves (core/evaluation/curves.py) and the per-example ε of the attack engine: every row of a
batched run equals a single-ε run at the same seed; bisection finds a threshold known in closed
form; the certified-radius curve is randomized smoothing's CERTIFY at each σ. Tiny models only."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from core.attacks import ATTACKS, FGSM, PGD, Goal, ThreatModel, default_threat, make_attack
from core.evaluation.curves import (NO_DEFENSE, CurveAttack, attack_over_eps, certified_radius_curve, check_eps_list,
                         min_flip_eps, min_flip_from_curve, robustness_curves, threat_at)
from core.defenses import RandomizedSmoothing, make_defense
from core.runtime.progress import Cancelled

EPS = [0.0, 0.5 / 255, 1 / 255, 2 / 255, 4 / 255, 8 / 255]


def conv_net(seed: int = 0, classes: int = 10) -> nn.Module:
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


def image(seed: int = 3, size: int = 16) -> torch.Tensor:
    return torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def conv():
    model = conv_net(0)
    x = image()
    with torch.no_grad():
        y = int(model(x).argmax(1))
    return model, x, y


def _single(name, tm, model, x, y, seed, **params):
    return make_attack(name, tm, **params).run(model, x, torch.tensor([y]), seed=seed)


# ----------------------------------------------------------------------------- engine
CASES = [("FGSM", "linf", False), ("PGD", "linf", False), ("PGD", "linf", True), ("APGD-CE", "linf", True),
         ("FGSM", "l2", False), ("PGD", "l2", True), ("APGD-DLR", "l2", False)]


@pytest.mark.parametrize("name,norm,rs", CASES)
def test_each_row_equals_a_single_eps_run_at_the_same_seed(conv, name, norm, rs):
    model, x, y = conv
    scale = 1.0 if norm == "linf" else 40.0  # L2 budgets of a comparable size on 16x16 images
    template = ThreatModel(norm=norm, eps=4 / 255 * scale, step=1 / 255 * scale, steps=5, random_start=rs)
    eps = [e * scale for e in EPS]
    sweep = attack_over_eps(model, x, y, CurveAttack(name, template), eps, seed=11)
    assert sweep.batched and sweep.x_adv.shape == (len(eps), 3, 16, 16)
    for i, e in enumerate(eps):
        one = _single(name, threat_at(template, e), model, x, y, seed=11).x_adv[0]
        if norm == "linf":
            # sign(∇) absorbs the last-bit differences of a batched forward pass: identical images
            assert torch.equal(one, sweep.x_adv[i]), (name, e)
        else:
            torch.testing.assert_close(one, sweep.x_adv[i], atol=1e-6, rtol=0)
    # ε = 0 leaves the image alone; every row stays in its own ball and the box
    assert torch.equal(sweep.x_adv[0], x[0])
    d = (sweep.x_adv - x).flatten(1)
    n = d.abs().amax(1) if norm == "linf" else d.norm(dim=1)
    assert (n <= torch.tensor(eps) + 1e-6).all()
    assert sweep.x_adv.min() >= 0 and sweep.x_adv.max() <= 1


def test_shared_start_differs_from_independent_rows_and_is_documented_behaviour(conv):
    """Without shared_start row i draws the i-th block of the generator; with it every row
    draws the single-image noise (so row 0 agrees either way, the others only with it)."""
    model, x, y = conv
    k = 3
    xs, ys = x.repeat(k, 1, 1, 1), torch.tensor([y] * k)
    eps = torch.full((k,), 4 / 255, dtype=torch.float64)
    tm = ThreatModel(eps=4 / 255, step=1 / 255, steps=2, random_start=True)
    shared = PGD(tm).perturb(model, xs, ys, seed=3, eps_per_example=eps, step_per_example=eps / 4, shared_start=True)[0]
    indep = PGD(tm).perturb(model, xs, ys, seed=3, eps_per_example=eps, step_per_example=eps / 4)[0]
    assert torch.equal(shared[0], shared[1]) and torch.equal(shared[1], shared[2])
    assert torch.equal(indep[0], shared[0])
    assert not torch.equal(indep[1], shared[1])


def test_per_example_arguments_are_validated_and_refused_where_unsupported(conv):
    model, x, y = conv
    xs, ys = x.repeat(2, 1, 1, 1), torch.tensor([y, y])
    with pytest.raises(ValueError, match="shape"):
        FGSM().perturb(model, xs, ys, eps_per_example=torch.tensor([0.1, 0.2, 0.3]))
    with pytest.raises(ValueError, match="finite"):
        FGSM().perturb(model, xs, ys, eps_per_example=torch.tensor([0.1, float("nan")]))
    with pytest.raises(ValueError, match="above 1"):
        FGSM().perturb(model, xs, ys, eps_per_example=torch.tensor([0.1, 1.5]))
    with pytest.raises(ValueError, match="needs eps_per_example"):
        PGD().perturb(model, xs, ys, step_per_example=torch.tensor([0.1, 0.1]))
    for name in ("N-FGSM", "TRADES-KL", "CW-L2"):
        assert not ATTACKS[name].per_example_eps
        with pytest.raises(ValueError, match="per-example"):
            make_attack(name).perturb(model, xs, ys, eps_per_example=torch.tensor([0.01, 0.02]))
    assert all(ATTACKS[n].per_example_eps for n in ("FGSM", "PGD", "APGD-CE", "APGD-DLR"))
    # the attack object is left as it was: a later plain call uses threat.eps again
    a = FGSM(ThreatModel(eps=0.02))
    a.perturb(model, xs, ys, eps_per_example=torch.tensor([0.0, 0.0]))
    assert a.eps == 0.02 and a._row_eps is None
    assert torch.equal(a.perturb(model, x, torch.tensor([y]))[0], FGSM(ThreatModel(eps=0.02)).perturb(model, x, torch.tensor([y]))[0])


def test_run_records_per_example_budgets(conv):
    model, x, y = conv
    res = FGSM(ThreatModel(eps=0.1)).run(model, x.repeat(2, 1, 1, 1), torch.tensor([y, y]),
                                         eps_per_example=torch.tensor([0.01, 0.03]))
    assert res.params["eps_per_example"] == pytest.approx([0.01, 0.03])
    assert res.linf[0] <= 0.01 + 1e-7 and res.linf[1] <= 0.03 + 1e-7


# ----------------------------------------------------------------------------- curves
def test_curves_agree_with_single_runs_and_with_defenses(conv):
    model, x, y = conv
    atks = [CurveAttack("FGSM", default_threat("FGSM")), CurveAttack("PGD", ThreatModel(eps=4 / 255, step=1 / 255,
                                                                                       steps=4, random_start=True)),
            CurveAttack("N-FGSM", default_threat("N-FGSM"), (("clip_to_eps", True),))]
    jpeg = make_defense("JPEG", model, quality=50)
    res = robustness_curves(model, x, y, EPS, atks, {"JPEG": jpeg}, seed=5)
    assert [(s.attack, s.defense) for s in res.series] == [
        ("FGSM", NO_DEFENSE), ("FGSM", "JPEG"), ("PGD", NO_DEFENSE), ("PGD", "JPEG"), ("N-FGSM", NO_DEFENSE),
        ("N-FGSM", "JPEG")]
    assert [s.batched for s in res.series[::2]] == [True, True, False]
    for atk in atks:
        bare, defended = res.get(atk.name), res.get(atk.name, "JPEG")
        for i, e in enumerate(EPS):
            single = _single(atk.name, threat_at(atk.threat, e), model, x, y, 5, **atk.kwargs)
            p = single.adv_logits.softmax(1)[0]
            assert bare.verdicts.pred[i] == int(p.argmax())
            assert bare.verdicts.confidence[i] == pytest.approx(float(p[y]), abs=1e-5)
            assert bare.verdicts.correct[i] == (int(p.argmax()) == y)
            dj = jpeg.defend(single.x_adv, seed=6).logits.softmax(1)[0]
            assert defended.verdicts.pred[i] == int(dj.argmax())
            assert defended.verdicts.confidence[i] == pytest.approx(float(dj[y]), abs=1e-5)
    # the clean point is the clean prediction, and this model is fooled within 8/255
    assert res.get("FGSM").verdicts.correct[0] and not res.get("FGSM").verdicts.correct[-1]
    hi, lo = res.first_flip("FGSM")
    assert hi is not None and lo < hi
    assert len(res.rows()) == len(res.series) * len(EPS)


def test_adaptive_curves_attack_through_the_defense(conv):
    model, x, y = conv
    bits = make_defense("Bit-depth reduction", model, bits=3)
    atk = CurveAttack("PGD", ThreatModel(eps=4 / 255, step=1 / 255, steps=3, random_start=False))
    res = robustness_curves(model, x, y, EPS[:4], [atk], {"Bits": bits}, adaptive=True, seed=0)
    s = res.get("PGD", "Bits")
    assert "BPDA" in s.attacker
    # the adversarial images of the defended series come from the attack through the defense
    through = attack_over_eps(bits.as_model(adaptive=True, seed=0), x, y, atk, EPS[:4], seed=0)
    assert torch.equal(s.x_adv, through.x_adv)


def test_targeted_curve_counts_success_as_reaching_the_target(conv):
    model, x, y = conv
    res = robustness_curves(model, x, y, [0.0, 8 / 255, 32 / 255], [CurveAttack("FGSM", default_threat("FGSM"))],
                            goal=Goal("least_likely"))
    assert res.target is not None and res.target != y
    v = res.get("FGSM").verdicts
    assert v.success == [p == res.target for p in v.pred]


def test_progress_and_cancel(conv):
    model, x, y = conv
    calls = []
    atks = [CurveAttack("PGD", ThreatModel(eps=4 / 255, step=1 / 255, steps=3, random_start=False))]
    robustness_curves(model, x, y, EPS, atks, progress=lambda d, t, m: calls.append((d, t)))
    assert calls[-1][0] == calls[-1][1] and all(d <= t for d, t in calls)

    def stop(d, t, m):
        raise Cancelled()

    with pytest.raises(Cancelled):
        robustness_curves(model, x, y, EPS, atks, progress=stop)


def test_eps_lists_are_validated():
    assert check_eps_list([4 / 255, 0, 4 / 255, 1 / 255], "linf") == [0.0, 1 / 255, 4 / 255]
    for bad in ([], [float("nan")], [-0.1], [1.5], [i / 255 for i in range(40)]):
        with pytest.raises(ValueError):
            check_eps_list(bad, "linf")
    assert check_eps_list([2.0], "l2") == [2.0]
    tm = ThreatModel(eps=4 / 255, step=1 / 255, steps=10)
    assert threat_at(tm, 8 / 255).step == pytest.approx(2 / 255)
    assert threat_at(tm, 8 / 255, "fixed").step == tm.step


# ----------------------------------------------------------------------------- bisection
def _two_class_linear(margin: float):
    """f(x) = [0, u·(x − ½)] + [margin, 0] on 3x4x4 images at mid-grey: class 0 wins by
    ``margin``; FGSM L∞ at ε raises the gap by ε·‖u‖₁ (no clipping near ½), so the label flips
    exactly at ε* = margin / ‖u‖₁."""
    g = torch.Generator().manual_seed(2)
    u = torch.randn(48, generator=g)
    lin = nn.Linear(48, 2)
    with torch.no_grad():
        lin.weight.copy_(torch.stack([torch.zeros(48), u]))
        lin.bias.copy_(torch.tensor([margin, -float(u.sum()) * 0.5]))
    model = nn.Sequential(nn.Flatten(), lin).eval().requires_grad_(False)
    x = torch.full((1, 3, 4, 4), 0.5)
    return model, x, margin / float(u.abs().sum())


def test_bisection_finds_the_closed_form_threshold():
    model, x, eps_star = _two_class_linear(0.3)
    assert 0 < eps_star < 0.05
    atk = CurveAttack("FGSM", ThreatModel(eps=0.05, step=0.05, steps=1, random_start=False))
    b = min_flip_eps(model, x, 0, atk, lo=0.0, hi=0.05, tol=1e-5, rel_tol=0.0)
    assert b.eps is not None and eps_star <= b.eps <= eps_star + 1e-5
    assert b.lo < eps_star <= b.hi
    # bracketed by a curve: same answer, and the curve's points are not recomputed
    curve = robustness_curves(model, x, 0, [0.0, 0.01, 0.02, 0.04], [atk])
    hi, lo = curve.first_flip("FGSM")
    assert lo < eps_star <= hi
    b2 = min_flip_from_curve(model, x, curve, atk, tol=1e-5, rel_tol=0.0)
    assert eps_star <= b2.eps <= eps_star + 1e-5
    # the bracket's two points come from the curve (first two evaluations); every new run lies inside
    assert b2.evaluations[:2] == [(hi, True), (lo, False)]
    assert all(lo < e < hi for e, _ in b2.evaluations[2:])
    # no grid ε succeeds: no answer, no extra runs
    curve_small = robustness_curves(model, x, 0, [0.0, eps_star / 2], [atk])
    b3 = min_flip_from_curve(model, x, curve_small, atk)
    assert b3.eps is None and b3.evaluations == []


# ----------------------------------------------------------------------------- certified radius
def test_certified_radius_curve_is_certify_at_each_sigma(conv):
    model, x, y = conv
    pts = certified_radius_curve(model, x, y, [0.5, 0.05, 0.2], n0=8, n=64, alpha=0.01, seed=4)
    assert [p.sigma for p in pts] == [0.05, 0.2, 0.5]
    for p in pts:
        ref = RandomizedSmoothing(model, sigma=p.sigma, n0=8, n=64, alpha=0.01, keep_samples=0).defend(x, seed=4)
        assert p.predicted == int(ref.certificate.predicted[0])
        assert p.radius == pytest.approx(float(ref.certificate.radius[0]))
        assert p.max_radius == pytest.approx(RandomizedSmoothing(model, sigma=p.sigma, n=64, alpha=0.01).max_radius())
        assert p.radius <= p.max_radius + 1e-9
        assert (p.predicted < 0) == (p.radius == 0)
    # a small σ barely changes this image: certified, as its clean class
    assert pts[0].predicted == y and pts[0].correct
    with pytest.raises(ValueError):
        certified_radius_curve(model, x, y, [], n=16)


@pytest.mark.parametrize("name,norm,params", [("TRADES-KL", "linf", ()), ("CW-L2", "l2", (("respect_eps", True),
                                                                                      ("binary_steps", 1),
                                                                                      ("iterations", 3)))])
def test_attacks_without_per_example_eps_run_once_per_eps(conv, name, norm, params):
    model, x, y = conv
    template = threat_at(default_threat(name, norm), 0.5 if norm == "l2" else 4 / 255)
    if name == "TRADES-KL":
        template = ThreatModel(eps=4 / 255, step=1 / 255, steps=2)
    atk = CurveAttack(name, template, params)
    eps = [0.0, 0.25, 1.0] if norm == "l2" else [0.0, 2 / 255, 8 / 255]
    sweep = attack_over_eps(model, x, y, atk, eps, seed=2)
    assert not sweep.batched
    for i, e in enumerate(eps):
        one = _single(name, threat_at(template, e), model, x, y, 2, **dict(params)).x_adv[0]
        assert torch.equal(one, sweep.x_adv[i])
    d = (sweep.x_adv - x).flatten(1)
    n = d.norm(dim=1) if norm == "l2" else d.abs().amax(1)
    assert (n <= torch.tensor(eps) + 1e-5).all()


# ----------------------------------------------------------------------------- worst case as a curve
def test_worst_case_curve_flips_at_the_closed_form_threshold_and_says_who_found_it():
    from core.evaluation.curves import WORST_CASE, worst_case_rows

    model, x, eps_star = _two_class_linear(0.3)
    grid = [0.0, 0.5 * eps_star, 0.9 * eps_star, 1.1 * eps_star, 2 * eps_star]
    atk = CurveAttack(WORST_CASE, ThreatModel(eps=0.05, step=0.05, steps=10),
                      (("n_targets", 1), ("square_queries", 50)))
    assert not atk.batched
    sweep = attack_over_eps(model, x, 0, atk, grid, seed=0)
    d = (sweep.x_adv - x).flatten(1).abs().max(1).values
    assert (d <= torch.tensor(grid) + 1e-6).all()  # every point inside its own ε-ball
    assert sweep.x_adv.min() >= 0 and sweep.x_adv.max() <= 1
    curve = robustness_curves(model, x, 0, grid, [atk])
    s = curve.get(WORST_CASE)
    # No attack can flip a linear model below ε*; the ensemble must above it (APGD-CE alone does).
    assert s.verdicts.correct == [True, True, True, False, False]
    assert s.found_by[:3] == ["", "", ""] and s.found_by[3] == "APGD-CE"
    assert worst_case_rows(curve) == [{"classified by": NO_DEFENSE, "correct up to ε": round(0.9 * eps_star, 4),
                                       "first fooled at ε": round(1.1 * eps_star, 4), "found by": "APGD-CE"}]
    assert all("found_by" in r for r in curve.rows())
    # bisection through the ensemble brackets the same threshold
    b = min_flip_from_curve(model, x, curve, atk, tol=1e-4, rel_tol=0.0)
    assert eps_star <= b.eps <= eps_star + 1e-4 + 1e-6
    # untargeted only, its own parameters only
    with pytest.raises(ValueError, match="untargeted"):
        attack_over_eps(model, x, 0, atk, grid, goal=Goal("targeted", 1))
    with pytest.raises(ValueError, match="takes"):
        CurveAttack(WORST_CASE, ThreatModel(eps=0.05), (("respect_eps", True),))


def test_worst_case_is_never_above_any_single_attack_on_the_curve(conv):
    from core.evaluation.curves import WORST_CASE

    model, x, y = conv
    eps = [0.0, 1 / 255, 2 / 255, 4 / 255]
    atks = [CurveAttack("PGD", ThreatModel(eps=4 / 255, step=1 / 255, steps=5, random_start=True)),
            CurveAttack(WORST_CASE, ThreatModel(eps=4 / 255, step=1 / 255, steps=5),
                        (("n_targets", 2), ("square_queries", 30)))]
    curve = robustness_curves(model, x, y, eps, atks)
    pgd, wc = curve.get("PGD"), curve.get(WORST_CASE)
    # Not a theorem for one image (different random starts), but APGD-CE with as many steps is at
    # least as strong as PGD here: an image PGD fools is fooled by the ensemble too.
    assert all(w or not p for p, w in zip(pgd.verdicts.success, wc.verdicts.success))
    assert wc.verdicts.correct[0] and wc.found_by[0] == ""


def test_page_curve_attacks_follow_the_settings():
    from core.evaluation.curves import CURVE_PARAMS, WORST_CASE, curve_attacks_for

    atks = curve_attacks_for(["FGSM", "PGD", "N-FGSM", WORST_CASE], "linf", steps=7, step_ratio=0.5, random_start=True,
                             worst_case=(("n_targets", 2), ("square_queries", 40)))
    by = {a.name: a for a in atks}
    assert all(a.threat.eps == 4 / 255 and a.threat.step == 2 / 255 and a.threat.steps == 7 for a in atks)
    assert by["PGD"].threat.random_start and by[WORST_CASE].threat.random_start
    assert by["FGSM"].threat.random_start == default_threat("FGSM", "linf").random_start
    assert by["N-FGSM"].params == CURVE_PARAMS["N-FGSM"]
    assert by[WORST_CASE].ensemble_config(0.01).square_queries == 40 and by[WORST_CASE].ensemble_config(0.01).n_targets == 2
    l2 = curve_attacks_for(["PGD"], "l2", steps=3, step_ratio=0.25, random_start=False)[0]
    assert l2.threat.eps == 1.0 and l2.threat.step == 0.25 and not l2.threat.random_start


def test_flip_rows_scale_the_bracket_and_say_when_no_eps_flipped():
    from core.evaluation.curves import flip_rows
    from core.explain.feature_maps import Bisection

    flips = {("PGD", NO_DEFENSE): Bisection(3 / 255, 2 / 255, 3 / 255, [(4 / 255, True), (2 / 255, False),
                                                                        (3 / 255, True)]),
             ("FGSM", "JPEG"): Bisection(None, 0.4, 1.0, [])}
    assert flip_rows(flips, 255) == [
        {"attack": "PGD", "classified by": NO_DEFENSE, "smallest flipping ε": "3", "bracket": "2 … 3", "ε tried": 3},
        {"attack": "FGSM", "classified by": "JPEG", "smallest flipping ε": "not within the largest ε",
         "bracket": "102 … 255", "ε tried": 0}]
    assert flip_rows({}, 255) == []


def test_curve_figure_stacks_the_flip_labels_so_close_flips_do_not_overlap():
    from core.viz.curves import curve_figure

    model, x, eps_star = _two_class_linear(0.3)
    atks = [CurveAttack(a, ThreatModel(eps=0.05, step=0.05, steps=2, random_start=False)) for a in ("FGSM", "PGD")]
    curve = robustness_curves(model, x, 0, [0.0, 2 * eps_star], atks)
    flips = {("FGSM", NO_DEFENSE): 1.02 * eps_star, ("PGD", NO_DEFENSE): eps_star, ("PGD", "JPEG"): None}
    fig = curve_figure(curve, ["a", "b"], flips)
    notes = fig.layout.annotations[-2:]  # after the title
    assert [n.text for n in notes] == [f"PGD: {eps_star * 255:.3g}", f"FGSM: {1.02 * eps_star * 255:.3g}"]
    assert notes[0].y != notes[1].y  # one line of text each, not on top of each other
    assert [s.x0 for s in fig.layout.shapes] == pytest.approx([eps_star * 255, 1.02 * eps_star * 255])
