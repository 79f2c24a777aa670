"""The Defenses and Certify pages driven headless with Streamlit's AppTest (light settings)."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

pytestmark = pytest.mark.slow
TIMEOUT = 90
PAGES = Path(__file__).resolve().parents[2] / "views"
DEFENSES_PAGE = str(PAGES / "defenses.py")
CERTIFY_PAGE = str(PAGES / "certify.py")


def _texts(at) -> str:
    parts = []
    for kind in ("markdown", "success", "error", "warning", "info", "caption"):
        parts += [e.value for e in getattr(at, kind)]
    return "\n".join(str(p) for p in parts)


def test_defenses_page_non_adaptive_then_adaptive():
    at = AppTest.from_file(DEFENSES_PAGE, default_timeout=TIMEOUT).run()
    assert not at.exception, at.exception
    assert at.multiselect(key="def_names").value == ["JPEG", "Bit-depth reduction"]
    at.slider(key="def_steps").set_value(3).run()
    at.button(key="def_run").click().run()
    assert not at.exception, at.exception
    text = _texts(at)
    assert "Non-adaptive attack" in text  # the warning is visible
    assert "No defense" in text and "JPEG" in text and "Bit-depth reduction" in text
    assert "defense:" in text  # times are shown
    at.radio(key="def_mode").set_value("Adaptive").run()
    assert "settings changed" in _texts(at)
    at.button(key="def_run").click().run()
    assert not at.exception, at.exception
    text = _texts(at)
    assert "Non-adaptive attack" not in text
    assert "BPDA" in text


def test_defenses_page_with_purification_and_smoothing():
    at = AppTest.from_file(DEFENSES_PAGE, default_timeout=TIMEOUT).run()
    at.multiselect(key="def_names").set_value(["Equivariance purification", "Randomized smoothing"]).run()
    assert not at.exception, at.exception
    at.slider(key="def_equivariance_purification_steps").set_value(2).run()
    at.slider(key="def_randomized_smoothing_n").set_value(16).run()
    at.slider(key="def_randomized_smoothing_n0").set_value(4).run()
    at.slider(key="def_steps").set_value(2).run()
    at.button(key="def_run").click().run()
    assert not at.exception, at.exception
    text = _texts(at)
    assert "Equivariance purification" in text and "Randomized smoothing" in text
    assert ("certified L2 radius" in text) or ("abstains" in text)  # the smoothing card
    charts = at.get("plotly_chart")
    assert len(charts) >= 2  # the purification trajectory and the summary chart
    assert any("loss and top-1 class per step" in c.proto.spec for c in charts)


def test_certify_page_light():
    at = AppTest.from_file(CERTIFY_PAGE, default_timeout=TIMEOUT).run()
    assert not at.exception, at.exception
    assert "R_max" in _texts(at)
    at.slider(key="cert_n0").set_value(4).run()
    at.slider(key="cert_n").set_value(16).run()
    at.checkbox(key="cert_sr").check().run()  # Smooth-Reduce is off by default (the slow one)
    at.slider(key="cert_sr_n0").set_value(4).run()
    at.slider(key="cert_sr_n").set_value(16).run()
    at.button(key="cert_run").click().run()
    assert not at.exception, at.exception
    text = _texts(at)
    assert ("Abstains" in text) or ("Certified" in text)
    labels = [m.label for m in at.metric]
    assert labels.count("p̲A") == 2 and labels.count("R_max") == 2
    # R_max for n = 16, α = 0.001, σ = 0.25
    from core.defenses.smoothing import max_certifiable_radius
    assert f"{max_certifiable_radius(16, 0.001, 0.25):.3f}" in [m.value for m in at.metric]
