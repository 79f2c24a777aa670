"""The Saliency, Channels and Feature maps pages driven headless with AppTest (light settings)."""
from __future__ import annotations

import json

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

PAGES = Path(__file__).resolve().parents[2] / "views"

pytestmark = pytest.mark.slow
TIMEOUT = 90


def _texts(at) -> str:
    parts = []
    for kind in ("markdown", "success", "error", "warning", "info", "caption"):
        parts += [e.value for e in getattr(at, kind)]
    return "\n".join(str(p) for p in parts)


def _charts(at) -> int:
    return len(at.get("plotly_chart"))


def test_saliency_page_clean_adversarial_defended():
    at = AppTest.from_file(str(PAGES / "saliency.py"), default_timeout=TIMEOUT).run()
    assert not at.exception, at.exception
    assert "Press **Compute**" in _texts(at) or "press **Compute**" in _texts(at)
    at.slider(key="sal_steps").set_value(2).run()
    at.button(key="sal_run").click().run()
    assert not at.exception, at.exception
    text = _texts(at)
    assert "**Clean**" in text and "**Adversarial**" in text and "Defended (JPEG" in text
    assert _charts(at) == 2  # gradient and Grad-CAM rows
    assert len(at.dataframe) == 2
    for df in at.dataframe:
        v = df.value
        assert len(v) == 2 and set(v["compared with clean"]) == {"Adversarial", "Defended (JPEG q=75)"}
        assert ((v["Spearman ρ"] >= -1) & (v["Spearman ρ"] <= 1)).all()
        assert ((v["top-10% IoU"] >= 0) & (v["top-10% IoU"] <= 1)).all()
    # a changed setting is flagged until recomputed
    at.selectbox(key="sal_defense").set_value("none").run()
    assert "settings changed" in _texts(at)
    at.multiselect(key="sal_methods").set_value(["input_x_gradient"]).run()
    at.button(key="sal_run").click().run()
    assert not at.exception, at.exception
    assert _charts(at) == 1 and len(at.dataframe) == 1 and len(at.dataframe[0].value) == 1
    assert "Signed" in _texts(at)


def test_channels_page_plain_and_cifs_lite():
    at = AppTest.from_file(str(PAGES / "channels.py"), default_timeout=TIMEOUT).run()
    assert not at.exception, at.exception
    at.slider(key="ch_steps").set_value(2).run()
    at.checkbox(key="ch_cifs").check().run()  # off by default (it doubles the time)
    at.button(key="ch_run").click().run()
    assert not at.exception, at.exception
    labels = [m.label for m in at.metric]
    assert labels.count("Σ PR r·ā") == 2 and labels.count("Σ NR r·ā") == 2  # plain and CIFS-lite
    assert "exact: the classifier weights" in _texts(at)
    assert _charts(at) == 4 + 4 + 1  # profile, scatter, sums, grid (x2) + combined sums
    at.selectbox(key="ch_stage").set_value("stage5").run()
    at.checkbox(key="ch_cifs").uncheck().run()
    at.button(key="ch_run").click().run()
    assert not at.exception, at.exception
    assert [m.label for m in at.metric].count("Σ PR r·ā") == 1
    assert "by autograd" in _texts(at)


def test_feature_maps_page_sizes_demo_and_comparison():
    at = AppTest.from_file(str(PAGES / "feature_maps.py"), default_timeout=TIMEOUT).run()
    assert not at.exception, at.exception
    text = _texts(at)
    # default: the plain model against stride 1 in the last downsampling stage (EfficientNet-Lite0 at 224 px)
    assert "×1: 7×7" in text and "stride 1: stage6: 14×14" in text and "×2:" not in text
    assert "averaging divides a change" in text.lower() and _charts(at) == 2  # sizes and pooling demo
    at.multiselect(key="fm_up").set_value([1.0, 2.0]).run()
    assert "×2: 14×14" in _texts(at)
    at.multiselect(key="fm_up").set_value([1.0]).run()
    at.slider(key="fm_pgd_steps").set_value(1).run()
    at.checkbox(key="fm_bisect").uncheck().run()
    at.button(key="fm_run").click().run()
    assert not at.exception, at.exception
    df = at.dataframe[0].value
    assert list(df["last map"]) == ["7×7", "14×14"]
    assert list(df["smallest flipping ε (/255)"]) == ["—", "—"]
    assert (df["logit change"] > 0).all()
    assert _charts(at) == 3
    sens = next(json.loads(c.proto.spec) for c in at.get("plotly_chart") if "fixed random noise" in c.proto.spec)
    # no bisection: one panel (no empty ε chart); the rightmost point's label sits to its left
    assert [a["text"] for a in sens["layout"]["annotations"]] == ["Relative change under fixed random noise"]
    assert sens["data"][0]["textposition"] == ["top right", "top left"]
    # bisection on, one setting
    at.checkbox(key="fm_bisect").check().run()
    at.multiselect(key="fm_stride").set_value([]).run()
    at.button(key="fm_run").click().run()
    assert not at.exception, at.exception
    eps = at.dataframe[0].value["smallest flipping ε (/255)"][0]
    assert eps.startswith(">") or 0 < float(eps) <= 2.0
    sens = next(json.loads(c.proto.spec) for c in at.get("plotly_chart") if "fixed random noise" in c.proto.spec)
    assert len(sens["layout"]["annotations"]) == 2  # with bisection: the ε panel too
