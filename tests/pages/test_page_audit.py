"""The Robustness audit page driven headless with Streamlit's AppTest (tiny budget)."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.evaluation.audit.checks import CHECK_TITLES, WARNING_SIGNS

PAGE = str(Path(__file__).resolve().parents[2] / "views" / "audit.py")
pytestmark = pytest.mark.slow


def test_audit_page_runs_and_shows_the_checklist():
    at = AppTest.from_file(PAGE, default_timeout=300).run()
    assert not at.exception, at.exception
    preview = "\n".join(str(e.value) for e in at.markdown)  # before a run: what will be checked
    assert set(CHECK_TITLES) == set(WARNING_SIGNS)
    assert all(CHECK_TITLES[k] in preview and WARNING_SIGNS[k] in preview for k in CHECK_TITLES)
    at.selectbox(key="audit_model").set_value("fmnist-pgd-at").run()
    at.selectbox(key="audit_surrogate").set_value("fmnist-trades")
    at.slider(key="audit_n").set_value(8)
    at.slider(key="audit_steps").set_value(2)
    at.slider(key="audit_queries").set_value(10)
    at.button(key="audit_run").click().run()
    assert not at.exception, at.exception
    text = "\n".join(str(e.value) for e in at.markdown)
    for title in ("White-box is at least as strong as transfer", "gradient-free Square Attack",
                  "Input gradients are informative", "targeted attack reaches"):
        assert title in text, title
    assert len(at.get("plotly_chart")) == 2
    # the per-image worst case of the audit: images no attack fooled, over all 8 images
    table = next(d.value for d in at.dataframe if "robust to all" in d.value.columns)
    assert all(str(v).endswith(" of 8") for v in table["robust to all"])
    heads = [e.value for e in at.subheader]
    assert any(h.startswith("⚠️ Flagged") or h.startswith("✅") for h in heads)
