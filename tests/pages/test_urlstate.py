"""Shareable views (ui/urlstate.py): URL values are validated and clamped, hostile values fall
back to the defaults with a warning, and the settings survive a round trip through the URL
(AppTest: set query params, run, check the widgets; reopen the URL the page wrote)."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.runtime import limits
from ui.urlstate import UrlParam, UrlValueError, format_value, parse_value

PAGES = Path(__file__).resolve().parents[2] / "views"
LAB = str(PAGES / "attack_lab.py")
CURVES = str(PAGES / "curves.py")
BATCH = str(PAGES / "batch.py")
TIMEOUT = 90


# ----------------------------------------------------------------------------- parsing
INT = UrlParam("steps", "k", "int", lo=1, hi=200)
FLOAT = UrlParam("step", "k", "float", lo=0.25, hi=8.0, grid=0.25)
BOOL = UrlParam("rs", "k", "bool")
CHOICE = UrlParam("goal", "k", "choice", choices=["untargeted", "targeted"])
ICHOICE = UrlParam("ratio", "k", "choice", choices=[0.1, 0.25])
LIST = UrlParam("eps", "k", "list", item="float", lo=0.0, hi=64.0, max_items=3)
LCHOICE = UrlParam("attacks", "k", "list", item="choice", choices=["FGSM", "PGD"])


@pytest.mark.parametrize("p,raw,want", [
    (INT, "12", 12), (INT, " +7 ", 7), (INT, "0", 1), (INT, "999999", 200), (INT, "-3", 1),
    (FLOAT, "1.1", 1.0), (FLOAT, "1.13", 1.25), (FLOAT, "100", 8.0), (FLOAT, "1e-9", 0.25),
    (BOOL, "1", True), (BOOL, "FALSE", False), (BOOL, "on", True),
    (CHOICE, "targeted", "targeted"), (ICHOICE, "0.25", 0.25),
    (LIST, "4,1,1,2", [4.0, 1.0, 2.0]), (LIST, "1,2,3,4,5", [1.0, 2.0, 3.0]), (LIST, "1,x,nan,2", [1.0, 2.0]),
    (LIST, "100,-1", [64.0, 0.0]), (LCHOICE, "PGD,<b>,FGSM", ["PGD", "FGSM"]),
])
def test_parse_valid_and_clamped(p, raw, want):
    v, notes = parse_value(raw, p)
    assert v == want
    assert type(v) is type(want)
    if p.kind in ("int", "float") and float(raw) != float(want):
        assert notes or p.grid  # clamping is reported; rounding to the grid is silent


@pytest.mark.parametrize("p,raw", [
    (INT, "1.5"), (INT, "1e3"), (INT, "abc"), (INT, ""), (INT, "9" * 40), (INT, "0x10"),
    (FLOAT, "nan"), (FLOAT, "inf"), (FLOAT, "-inf"), (FLOAT, "1e309"), (FLOAT, "one"),
    (BOOL, "maybe"), (BOOL, "2"), (CHOICE, "<script>alert(1)</script>"), (CHOICE, "Targeted"),
    (ICHOICE, "0.250"), (LIST, "x,y"), (LCHOICE, "../../etc"),
    (INT, "1" * (limits.MAX_URL_VALUE_CHARS + 1)),
])
def test_parse_hostile_values_raise_a_user_error(p, raw):
    with pytest.raises(UrlValueError):
        parse_value(raw, p)


def test_notes_say_what_was_changed_and_format_round_trips():
    _, notes = parse_value("500", INT)
    assert notes and "200" in notes[0]
    _, notes = parse_value("1,x", LIST)
    assert "x" in notes[0]
    for p, v in ((INT, 12), (FLOAT, 1.25), (BOOL, False), (CHOICE, "targeted"), (ICHOICE, 0.1),
                 (LIST, [0.5, 2.0]), (LCHOICE, ["FGSM"])):
        assert parse_value(format_value(v, p), p)[0] == v


# ----------------------------------------------------------------------------- pages
def _run(page: str, params: dict[str, str]) -> AppTest:
    at = AppTest.from_file(page, default_timeout=TIMEOUT)
    for k, v in params.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, at.exception
    return at


def _warnings(at: AppTest) -> str:
    return "\n".join(w.value for w in at.warning)


LAB_PARAMS = {"sample": "coffee", "model": "EfficientNet-Lite0", "attack": "PGD", "norm": "linf", "eps": "2",
              "steps": "3", "step": "0.5", "rs": "0", "restarts": "2", "goal": "targeted", "target": "7",
              "seed": "1234", "defense": "JPEG", "adaptive": "1"}


def _lab_widgets(at: AppTest) -> dict:
    return {"sample": at.selectbox(key="lab_sample").value, "model": at.selectbox(key="lab_model").value,
            "attack": at.selectbox(key="lab_attack").value, "norm": at.radio(key="lab_norm").value,
            "eps": at.slider(key="lab_eps_linf").value, "steps": at.slider(key="lab_steps").value,
            "step": at.slider(key="lab_step").value, "rs": at.checkbox(key="lab_rs").value,
            "restarts": at.slider(key="lab_restarts").value, "goal": at.radio(key="lab_goal").value,
            "target": at.selectbox(key="lab_target").value, "seed": at.number_input(key="lab_seed").value,
            "defense": at.selectbox(key="lab_defense").value, "adaptive": at.toggle(key="lab_adaptive").value}


@pytest.mark.slow
def test_attack_lab_url_round_trip_and_write_back():
    at = _run(LAB, LAB_PARAMS)
    want = {"sample": "coffee", "model": "EfficientNet-Lite0", "attack": "PGD", "norm": "linf", "eps": 2, "steps": 3,
            "step": 0.5, "rs": False, "restarts": 2, "goal": "targeted", "target": 7, "seed": 1234,
            "defense": "JPEG", "adaptive": True}
    assert _lab_widgets(at) == want
    assert "could not be used" not in _warnings(at)
    # the page writes its view back: the URL it holds now reopens the same view
    written = dict(at.query_params)
    assert {k: written[k] for k in LAB_PARAMS} == LAB_PARAMS
    again = _run(LAB, written)
    assert _lab_widgets(again) == want
    # changing a widget updates the URL; settings that no longer apply leave it
    again.slider(key="lab_eps_linf").set_value(5).run()
    again.radio(key="lab_goal").set_value("untargeted").run()
    assert again.query_params["eps"] == "5" and "target" not in again.query_params
    again.selectbox(key="lab_attack").set_value("CW-L2").run()
    q = again.query_params
    assert q["attack"] == "CW-L2" and "steps" not in q and "norm" not in q and q["eps"] == "1"  # L2 ε


@pytest.mark.slow
def test_attack_lab_hostile_url_falls_back_to_defaults():
    hostile = {"sample": "../../etc/passwd", "model": "<script>alert(1)</script>", "attack": "PGD'; DROP",
               "eps": "1e309", "steps": "99999999", "step": "nan", "seed": "-1", "goal": "targeted",
               "target": "-20", "defense": "rm -rf", "adaptive": "maybe", "restarts": "x" * 5000, "evil": "1"}
    at = _run(LAB, hostile)
    w = _warnings(at)
    assert "could not be used" in w
    # (adaptive= is not even read: with no valid defense the switch is not shown)
    for name in ("sample", "model", "attack", "eps", "step", "defense", "restarts", "evil", "steps", "seed"):
        assert name in w, name
    assert at.selectbox(key="lab_sample").value == "coffee"  # the default photo
    assert at.selectbox(key="lab_attack").value == "PGD"
    assert at.slider(key="lab_eps_linf").value == 4
    assert at.slider(key="lab_steps").value == limits.MAX_ATTACK_STEPS  # clamped, not refused
    assert at.number_input(key="lab_seed").value == 0
    assert at.selectbox(key="lab_target").value == 0
    assert at.selectbox(key="lab_defense").value == "None"
    q = at.query_params
    assert "evil" not in q and q["sample"] == "coffee" and q["attack"] == "PGD" and q["steps"] == str(limits.MAX_ATTACK_STEPS)


@pytest.mark.slow
def test_curves_and_batch_pages_round_trip():
    params = {"sample": "rocket", "attacks": "PGD,APGD-CE", "norm": "l2", "eps": "0,0.5,2", "steps": "4",
              "ratio": "0.5", "rs": "0", "goal": "least_likely", "seed": "9", "defenses": "JPEG,Median filter",
              "adaptive": "1", "bisect": "0", "certify": "1", "sigmas": "0.25,0.5", "n": "32", "label": "3"}
    at = _run(CURVES, params)
    got = {"sample": at.selectbox(key="cur_sample").value, "attacks": at.multiselect(key="cur_attacks").value,
           "norm": at.radio(key="cur_norm").value, "eps": at.text_input(key="cur_eps_l2").value,
           "steps": at.slider(key="cur_steps").value, "ratio": at.select_slider(key="cur_ratio").value,
           "rs": at.checkbox(key="cur_rs").value, "goal": at.radio(key="cur_goal").value,
           "seed": at.number_input(key="cur_seed").value, "defenses": at.multiselect(key="cur_def_names").value,
           "adaptive": at.toggle(key="cur_adaptive").value, "bisect": at.checkbox(key="cur_bisect").value,
           "certify": at.checkbox(key="cur_cert").value, "sigmas": at.text_input(key="cur_sigmas").value,
           "n": at.slider(key="cur_cert_n").value, "label": at.selectbox(key="cur_label").value}
    assert got == {"sample": "rocket", "attacks": ["PGD", "APGD-CE"], "norm": "l2", "eps": "0, 0.5, 2", "steps": 4,
                   "ratio": 0.5, "rs": False, "goal": "least_likely", "seed": 9,
                   "defenses": ["JPEG", "Median filter"], "adaptive": True, "bisect": False, "certify": True,
                   "sigmas": "0.25, 0.5", "n": 32, "label": 3}
    assert {k: at.query_params[k] for k in params} == params
    again = _run(CURVES, dict(at.query_params))
    assert again.text_input(key="cur_eps_l2").value == "0, 0.5, 2"
    assert again.multiselect(key="cur_def_names").value == ["JPEG", "Median filter"]

    bparams = {"src": "bundled", "samples": "coffee,chelsea", "attack": "PGD", "norm": "linf", "eps": "1,3",
               "steps": "2", "seed": "4", "max": "5", "defenses": "JPEG"}
    bt = _run(BATCH, bparams)
    assert bt.multiselect(key="bat_samples").value == ["coffee", "chelsea"]
    assert bt.text_input(key="bat_eps_linf").value == "1, 3"
    assert bt.slider(key="bat_steps").value == 2 and bt.slider(key="bat_max").value == 5
    assert {k: bt.query_params[k] for k in bparams} == bparams
    bad = _run(BATCH, {"src": "ftp", "eps": "1,nan,1e400,,-4", "max": "100000"})
    assert "could not be used" in _warnings(bad) or bad.text_input(key="bat_eps_linf").value == "0, 1"
    assert bad.slider(key="bat_max").value == limits.MAX_EVAL_IMAGES
    assert bad.radio(key="bat_src").value == "Bundled photos"
