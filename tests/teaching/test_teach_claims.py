"""The surprising presets' claims, computed with the core functions and the presets' own values:
JPEG (quality 25) and 3-bit colour depth keep "espresso" against PGD made on the bare model, and
lose it to the same PGD run through them with BPDA (the Attack Lab's and the Defenses page's code
paths)."""
from __future__ import annotations

import pytest
import torch

from core.attacks import Goal, ThreatModel, make_attack
from core.defenses import make_defense
from core.defenses.side_by_side import compare_defenses
from core.data.images import load_sample, prepare_for_model, to_tensor
from core.models import get_spec, load_model
from core.teaching.presets import get_preset

pytestmark = pytest.mark.slow


def _setup(values: dict, p: str):
    name = values[f"{p}_model"]
    model = load_model(name)
    x = to_tensor(prepare_for_model(load_sample(values[f"{p}_sample"]), get_spec(name)))
    assert values[f"{p}_attack"] == "PGD" and values[f"{p}_norm"] == "linf" and values[f"{p}_goal"] == "untargeted"
    threat = ThreatModel(norm="linf", eps=values[f"{p}_eps_linf"] / 255, step=values[f"{p}_step"] / 255,
                         steps=values[f"{p}_steps"], random_start=values[f"{p}_rs"], restarts=values[f"{p}_restarts"])
    return model, x, threat, int(values[f"{p}_label"]), int(values[f"{p}_seed"])


def _lab_outcome(ref: str) -> tuple[bool, bool]:
    """What the Attack Lab computes for a preset: (bare model fooled, defense still correct)."""
    v = get_preset(ref).widget_values()
    model, x, threat, label, seed = _setup(v, "lab")
    defense_name = v["lab_defense"]
    kw = {"quality": v["lab_def_quality"]} if defense_name == "JPEG" else {"bits": v["lab_def_bits"]}
    defense = make_defense(defense_name, model, **kw)
    target = defense.as_model(adaptive=True, seed=seed) if v["lab_adaptive"] else model
    res = make_attack("PGD", threat).run(target, x, torch.tensor([label]), Goal(), seed=seed)
    with torch.no_grad():
        bare_fooled = int(model(res.x_adv).argmax()) != label
    defended = defense.defend(res.x_adv, seed=seed)
    return bare_fooled, int(defended.logits.argmax()) == label


def test_jpeg_holds_against_the_non_adaptive_attacker_and_falls_to_bpda():
    assert _lab_outcome("lab/jpeg_holds") == (True, True)
    assert _lab_outcome("lab/jpeg_falls")[1] is False


def test_bit_depth_falls_to_bpda():
    assert _lab_outcome("lab/bits_falls")[1] is False


def test_defenses_page_transforms_both_modes():
    for ref, adaptive, expected in (("def/transforms_nonadaptive", False, True), ("def/transforms_bpda", True, False)):
        v = get_preset(ref).widget_values()
        model, x, threat, label, seed = _setup(v, "def")
        assert (v["def_mode"] == "Adaptive") is adaptive
        defenses = {"JPEG": make_defense("JPEG", model, quality=v["def_jpeg_quality"]),
                    "Bit-depth reduction": make_defense("Bit-depth reduction", model,
                                                        bits=v["def_bit_depth_reduction_bits"])}
        cmp = compare_defenses(model, x, label, defenses, attack_name="PGD", threat=threat, seed=seed,
                               adaptive=adaptive)
        assert int(cmp.base_attack.adv_logits.argmax()) != label  # the bare model is fooled either way
        assert [r.correct for r in cmp.rows] == [expected, expected], ref
