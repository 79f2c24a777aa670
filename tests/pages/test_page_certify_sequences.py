"""The Certify page's sequence mode driven headless with Streamlit's AppTest (light settings)."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

pytestmark = pytest.mark.slow
TIMEOUT = 90
CERTIFY_PAGE = str(Path(__file__).resolve().parents[2] / "views" / "certify.py")


def _texts(at) -> str:
    parts = []
    for kind in ("markdown", "success", "error", "warning", "info", "caption"):
        parts += [e.value for e in getattr(at, kind)]
    return "\n".join(str(p) for p in parts)


def test_sequence_mode_certifies_and_shows_the_audit():
    at = AppTest.from_file(CERTIFY_PAGE, default_timeout=TIMEOUT).run()
    assert not at.exception, at.exception
    at.radio(key="cert_mode").set_value("Frame sequence").run()
    assert not at.exception, at.exception
    assert "Press **Certify the sequence** above." in _texts(at)
    specs = [c.proto.spec for c in at.get("plotly_chart")]
    assert any("Sub-sequences and each one" in s for s in specs)  # frames and sub-sequences before any run
    at.selectbox(key="certseq_idx").set_value(3)
    at.slider(key="certseq_n").set_value(50)
    at.slider(key="certseq_n0").set_value(8)
    at.multiselect(key="certseq_variants").set_value(["independent noise, mean", "one draw, mean"]).run()
    at.button(key="certseq_run").click().run()
    assert not at.exception, at.exception
    text = _texts(at)
    assert "p̲A =" in text and "sound R =" in text
    specs = [c.proto.spec for c in at.get("plotly_chart")]
    assert any("Certified radius per variant" in s for s in specs)
    assert any("votes of n = 50" in s for s in specs)
    # the stored audit: its chart and, for the linear toy, the sequence that breaks a certificate
    assert any("Broken certificates" in s for s in specs)
    assert "Broken: independent noise" in text
    assert "radius" in text
