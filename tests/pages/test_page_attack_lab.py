"""The Attack Lab page driven headless with Streamlit's AppTest."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

PAGE = str(Path(__file__).resolve().parents[2] / "views" / "attack_lab.py")
pytestmark = pytest.mark.slow


def _png_bytes(w=300, h=200) -> bytes:
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG")
    return buf.getvalue()


def _texts(at) -> str:
    parts = []
    for kind in ("markdown", "success", "error", "warning", "info", "caption"):
        parts += [e.value for e in getattr(at, kind)]
    return "\n".join(str(p) for p in parts)


def test_runs_pgd_on_bundled_cat():
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    assert not at.exception
    at.slider(key="lab_steps").set_value(5).run()
    at.button(key="lab_run").click().run()
    assert not at.exception, at.exception
    text = _texts(at)
    assert "succeeded" in text or "did not reach" in text
    assert len(at.metric) >= 4
    linf = next(m for m in at.metric if m.label == "L∞ of δ").value
    assert float(linf.split("/")[0]) <= 4.0 + 1e-6
    assert "Prediction on the downloaded file" in text
    # replay slider covers every step
    assert at.slider(key="lab_replay").max == 4


def test_targeted_fgsm_and_replay_single_step():
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    at.selectbox(key="lab_attack").set_value("FGSM").run()
    at.radio(key="lab_goal").set_value("least_likely").run()
    at.button(key="lab_run").click().run()
    assert not at.exception, at.exception
    assert "least likely class" in _texts(at)


def test_bad_upload_is_reported_and_page_survives():
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    at.radio(key="lab_src").set_value("Upload").run()
    at.file_uploader(key="lab_upload").set_value(("evil.png", b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/png")).run()
    assert not at.exception
    assert any("Could not use" in e.value for e in at.error)
    # a good upload afterwards works
    at.file_uploader(key="lab_upload").set_value(("noise.png", _png_bytes(), "image/png")).run()
    assert not at.exception
    at.slider(key="lab_steps").set_value(3).run()
    at.button(key="lab_run").click().run()
    assert not at.exception, at.exception
    assert "Download" in _texts(at) or len(at.metric) >= 4


def test_square_shows_queries_used():
    at = AppTest.from_file(PAGE, default_timeout=180).run()
    at.selectbox(key="lab_attack").set_value("Square").run()
    at.slider(key="lab_queries").set_value(10)
    at.button(key="lab_run").click().run()
    assert not at.exception, at.exception
    q = next(m for m in at.metric if m.label == "Queries used").value
    used, budget = (int(v) for v in q.split(" / "))
    assert budget == 10 and 0 <= used <= 10
