"""The certification presets' claims, computed with the core functions and the presets' values:
randomized smoothing certifies the coffee cup with a radius larger than the L2 budget of the
Defenses preset, PGD with that budget fools the bare model but not the smoothed vote (attacked
through EOT), and σ = 1 makes smoothing abstain on the cat."""
from __future__ import annotations

import pytest
import torch

from core.attacks import Goal, ThreatModel
from core.defenses import RandomizedSmoothing, make_defense
from core.defenses.side_by_side import compare_defenses
from core.defenses.smoothing import max_certifiable_radius
from core.data.images import load_sample, prepare_for_model, to_tensor
from core.models import get_spec, load_model
from core.teaching.presets import get_preset

pytestmark = pytest.mark.slow
CATS = range(281, 286)  # ImageNet's domestic cats


def _x(sample: str, model_name: str) -> torch.Tensor:
    return to_tensor(prepare_for_model(load_sample(sample), get_spec(model_name)))


def test_certificate_holds_while_pgd_fools_the_bare_model():
    c = get_preset("cert/coffee_certified").widget_values()
    d = get_preset("def/smoothing_holds").widget_values()
    model = load_model(c["cert_model"])
    x = _x(c["cert_sample"], c["cert_model"])
    assert d["def_sample"] == c["cert_sample"] and d["def_model"] == c["cert_model"]

    # 1. The Certify page's certificate (same call as the page).
    smooth = RandomizedSmoothing(model, sigma=c["cert_sigma"], n0=c["cert_n0"], n=c["cert_n"], alpha=c["cert_alpha"],
                                 batch_size=32)
    cert = smooth.defend(x, seed=c["cert_seed"]).certificate
    radius = float(cert.radius[0])
    assert int(cert.predicted[0]) == d["def_label"] == 967
    assert radius == pytest.approx(max_certifiable_radius(c["cert_n"], c["cert_alpha"], c["cert_sigma"]))  # unanimous
    eps = d["def_eps_l2"]
    assert eps < radius  # the attack of the Defenses preset lies inside the certified ball

    # 2. The Defenses page's comparison: PGD-L2 at that ε, adaptive (EOT through the vote).
    defense = make_defense("Randomized smoothing", model, sigma=d["def_randomized_smoothing_sigma"],
                           n0=d["def_randomized_smoothing_n0"], n=d["def_randomized_smoothing_n"],
                           alpha=d["def_randomized_smoothing_alpha"],
                           eot_samples=d["def_randomized_smoothing_eot_samples"])
    threat = ThreatModel(norm="l2", eps=eps, step=d["def_step_l2"], steps=d["def_steps"], random_start=d["def_rs"],
                         restarts=d["def_restarts"])
    cmp = compare_defenses(model, x, d["def_label"], {"Randomized smoothing": defense}, attack_name="PGD",
                           threat=threat, goal=Goal(), seed=d["def_seed"], adaptive=True)
    assert int(cmp.base_attack.adv_logits.argmax()) != 967  # PGD fools the bare model
    (row,) = cmp.rows
    assert row.attacker == "PGD via EOT (averaged over noise)"
    assert float((row.attack.x_adv - x).flatten().norm()) <= eps + 1e-4
    assert row.correct and row.pred == 967  # … but not the smoothed classifier


def test_too_much_noise_abstains():
    v = get_preset("cert/too_much_noise").widget_values()
    model = load_model(v["cert_model"])
    x = _x(v["cert_sample"], v["cert_model"])
    out = RandomizedSmoothing(model, sigma=v["cert_sigma"], n0=v["cert_n0"], n=v["cert_n"], alpha=v["cert_alpha"],
                              batch_size=32).defend(x, seed=v["cert_seed"])
    assert int(out.certificate.predicted[0]) == -1  # abstains
    top = int(out.diagnostics["counts"][0].argmax())
    assert top not in CATS  # the noisy copies no longer look like a cat to the model
