"""AppTest of the model-zoo page: defaults render, the attack-and-explain run shows one verdict
per model, the saliency and CIFS views, live curves, and a photo upload."""
from __future__ import annotations

import os

import io
from pathlib import Path

import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from core.models.zoo import available

PAGE = str(Path(__file__).resolve().parents[1] / "views" / "zoo.py")
if len(available()) < 2 and os.environ.get("CI"):  # shipped in assets/zoo: missing weights are a failure on CI
    raise RuntimeError("zoo weights missing on CI (assets/zoo, made by tools/train_zoo.py)")
pytestmark = pytest.mark.skipif(len(available()) < 2, reason="zoo weights missing (tools/train_zoo.py)")


def _text(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown) + "\n".join(c.value for c in at.caption)


def test_page_defaults_and_run():
    at = AppTest.from_file(PAGE, default_timeout=90)
    at.run()
    assert not at.exception
    assert len(at.multiselect[0].value) >= 2
    at.button(key="zoo_run").click().run()
    assert not at.exception, at.exception
    text = _text(at)
    chosen = at.multiselect[0].value
    verdicts = sum(text.count(v) for v in ("✅ held", "❌ flipped", "⚪ wrong already"))
    assert verdicts == len(chosen)
    charts = [c.proto.spec for c in at.get("plotly_chart")]
    assert len(charts) >= 2  # outcome bars + curves (+ saliency / channels when those models exist)
    if "fmnist-jsigr" in [e.name for e in available()]:
        assert "Spearman ρ(gradient, blur-perturbation map)" in text
    # live curves on 16 images
    at.select_slider(key="zoo_live_n").set_value(16).run()
    at.button(key="zoo_live_run").click().run()
    assert not at.exception, at.exception
    assert "live (16 images)" in " ".join(str(c.proto.spec) for c in at.get("plotly_chart"))


def test_page_photo_upload_and_fgsm():
    at = AppTest.from_file(PAGE, default_timeout=90)
    at.run()
    at.radio(key="zoo_source").set_value("photo").run()
    at.radio(key="zoo_photo_src").set_value("Upload").run()
    im = Image.new("RGB", (60, 90), (250, 250, 250))
    im.paste((30, 30, 30), (15, 10, 45, 80))  # a dark "trouser" on white
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    at.file_uploader(key="zoo_photo_upload").set_value(("trouser.png", buf.getvalue(), "image/png")).run()
    assert not at.exception, at.exception
    at.selectbox(key="zoo_label").set_value(1)
    at.selectbox(key="zoo_attack").set_value("FGSM")
    at.run()
    at.button(key="zoo_run").click().run()
    assert not at.exception, at.exception
    text = _text(at)
    verdicts = sum(text.count(v) for v in ("✅ held", "❌ flipped", "⚪ wrong already"))
    assert verdicts == len(at.multiselect[0].value)
