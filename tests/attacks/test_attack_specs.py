"""Each attack's settings come from one description (core.attacks.specs.ATTACK_SPECS): the
sidebar widgets (ui.common.attack_picker, run in AppTest), the shared link's parameters
(ui.urlstate.attack_picker_params), the presets' base values (core.attacks.specs.attack_base,
core.teaching.presets) and the command line agree with it."""
from __future__ import annotations

import shlex

import pytest
from streamlit.testing.v1 import AppTest

from core.teaching import presets
from core.attacks import ATTACK_INFO, ATTACKS, default_threat
from core.attacks.specs import ATTACK_SPECS, attack_base, build_settings
from core.cli.commands import _settings, attack_keyword_options, build_parser, cli_command
from core.evaluation.batch.evaluate import WORST_CASE_CLI
from ui.urlstate import attack_picker_params


def _picker_script():
    import streamlit as st

    from ui.common import attack_picker

    c = attack_picker("t", [f"class {i}" for i in range(10)])
    st.session_state["_choice"] = c


def _widgets(at) -> dict:
    """Widget key -> (kind, min, max, value) of every attack_picker widget shown."""
    out = {}
    for kind in ("slider", "number_input", "checkbox", "select_slider", "radio", "selectbox"):
        for w in getattr(at, kind):
            if w.key and w.key.startswith("t_"):
                lo = getattr(w, "min", None)
                hi = getattr(w, "max", None)
                out[w.key] = (kind, lo, hi, w.value)
    return out


def test_every_registered_attack_is_described_and_has_a_summary():
    assert set(ATTACK_SPECS) == set(ATTACKS)
    for name, cls in ATTACKS.items():
        assert len(cls.summary) > 40, name
        assert ATTACK_INFO[name] == cls.summary


@pytest.mark.parametrize("name", list(ATTACKS))
def test_widgets_url_and_presets_agree_with_the_description(name):
    base = attack_base("t", name)
    at = AppTest.from_function(_picker_script, default_timeout=30)
    for k, v in base.items():
        at.session_state[k] = v
    at.run()
    assert not at.exception, at.exception
    shown = _widgets(at)
    norm = default_threat(name).norm
    spec_params = ATTACK_SPECS[name].for_norm(norm)
    common = {"t_attack", "t_goal", "t_seed", f"t_eps_{norm}"} | ({"t_norm"} if len(ATTACKS[name].norms) > 1 else set())
    # 1. widgets: exactly the common ones and the description's, each showing the description's default
    assert set(shown) == common | {f"t_{p.key}" for p in spec_params}
    for p in spec_params:
        kind, lo, hi, value = shown[f"t_{p.key}"]
        assert value == pytest.approx(p.default) if p.kind != "bool" else value is p.default
        if p.kind in ("int", "float") and kind == "slider":
            assert (lo, hi) == (p.lo, p.upper({q.key: q.default for q in spec_params}))
    # 2. presets: attack_base sets every widget the picker shows, to the value it shows
    assert {k for k in base if k != "t_target"} == set(shown)
    for k, v in base.items():
        assert shown[k][3] == pytest.approx(v) if isinstance(v, float) else shown[k][3] == v
    # 3. the resulting threat is the attack's CPU default threat (ε and steps, step, random start)
    choice = at.session_state["_choice"]
    d = default_threat(name)
    assert (choice.threat.norm, choice.threat.steps, choice.threat.random_start) == (d.norm, d.steps, d.random_start)
    assert choice.threat.eps == pytest.approx(d.eps, abs=0.5 / 255)
    assert choice.threat.step == pytest.approx(d.eps if d.steps == 1 else d.step, rel=1e-6)
    # 4. URL: the parameters that apply now are the common ones and the description's, on the same keys,
    #    with the description's ranges
    state = {k: v[3] for k, v in shown.items()}
    url = [p for p in attack_picker_params("t") if p.applies(state)]
    assert {p.widget_key({}) for p in url if p.name != "target"} == set(shown)
    by_key = {p.widget_key({}): p for p in url}
    for p in spec_params:
        u = by_key[f"t_{p.key}"]
        assert u.name == p.url
        if p.kind in ("int", "float"):
            assert (u.lo, u.hi) == (p.lo, p.hi)


def test_build_settings_sends_each_value_where_the_description_says():
    threat, kw = build_settings("CW-L2", "l2", 0.5, {"bs": 3, "iters": 40, "c": 0.1, "respect": True})
    assert kw == {"binary_steps": 3, "iterations": 40, "c_init": 0.1, "respect_eps": True}
    assert threat["eps"] == 0.5
    threat, kw = build_settings("PGD", "linf", 8 / 255, {"steps": 7, "step": 2.0, "rs": False, "restarts": 3})
    assert (threat["steps"], threat["random_start"], threat["restarts"]) == (7, False, 3)
    assert threat["step"] == pytest.approx(2 / 255)
    threat, _ = build_settings("FGSM", "linf", 3 / 255, {})
    assert threat["step"] == pytest.approx(3 / 255)  # one step of size ε


def test_presets_use_the_description_and_the_command_line_offers_every_attack():
    assert {k: v for k, v in presets.BASE["lab"].items() if k in attack_base("lab")} == attack_base("lab")
    action = next(a for a in build_parser()._subparsers._group_actions[0].choices["evaluate"]._actions
                  if "--attack" in a.option_strings)
    # every described attack, and the worst-case ensemble (not an attack class of its own)
    assert list(action.choices) == list(ATTACK_SPECS) + [WORST_CASE_CLI]
    # every constructor keyword of the description is an option, for the attacks that take it
    kws = {(p.field[3:], a) for a, s in ATTACK_SPECS.items() for p in s.params if p.field.startswith("kw:")}
    assert {(opt[2:].replace("-", "_"), a) for opt, (_, attacks) in attack_keyword_options().items()
            for a in attacks} == kws
    args = build_parser().parse_args(shlex.split(
        "evaluate bundled --attack CW-L2 --binary-steps 3 --iterations 40 --c-init 0.1 --respect-eps --out o"))
    s = _settings(args)
    assert dict(s.attack_params) == {"binary_steps": 3, "iterations": 40, "c_init": 0.1, "respect_eps": True}
    again = _settings(build_parser().parse_args(shlex.split(cli_command(s, out="o"))[3:]))
    assert again == s  # the command the app prints gives the same settings
    with pytest.raises(ValueError, match="--clip-to-eps applies to N-FGSM, not PGD"):
        _settings(build_parser().parse_args(shlex.split("evaluate bundled --attack PGD --clip-to-eps --out o")))
