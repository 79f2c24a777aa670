"""Pages with user models (AppTest): a ResNet-18 from a models.toml is attacked in the Attack Lab
and offered in Batch; an ONNX model without stages gets a note on Channels and Feature maps
instead of an error; a broken entry is listed with its error while the page keeps working."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

from core.models.user.models_file import register_models_file, unregister_user_models
from tests.models.test_user_models import SmallCNN, _export_onnx, _resnet18

VIEWS = Path(__file__).resolve().parents[2] / "views"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def registered(tmp_path_factory):
    d = tmp_path_factory.mktemp("user_pages")
    torch.save(_resnet18().state_dict(), d / "r18.pt")
    torch.manual_seed(0)
    _export_onnx(SmallCNN().eval(), d / "cnn.onnx")
    classes = "[" + ", ".join(f'"k{i}"' for i in range(10)) + "]"
    (d / "models.toml").write_text(
        f'[[model]]\nname = "pg-r18"\narchitecture = "resnet18"\nweights = "r18.pt"\ninput_size = 64\n'
        f'normalization = "imagenet"\nclasses = {classes}\n\n'
        f'[[model]]\nname = "pg-onnx"\nonnx = "cnn.onnx"\ninput_size = 64\nresize = "stretch"\n'
        f'normalization = "none"\nclasses = {classes}\n\n'
        f'[[model]]\nname = "pg-bad"\narchitecture = "resnet18"\nweights = "r18.pt"\ninput_size = 64\n'
        f'normalization = "imagenet"\n')  # 1000 ImageNet names for a 10-class file: fails on load
    names = register_models_file(d / "models.toml")
    yield names
    unregister_user_models(names)


def _texts(at) -> str:
    parts = []
    for kind in ("markdown", "success", "error", "warning", "info", "caption"):
        parts += [e.value for e in getattr(at, kind)]
    return "\n".join(str(p) for p in parts)


def test_attack_lab_attacks_a_user_model(registered):
    at = AppTest.from_file(str(VIEWS / "attack_lab.py"), default_timeout=180).run()
    at.selectbox(key="lab_model").set_value("pg-r18").run()
    assert not at.exception, at.exception
    at.slider(key="lab_steps").set_value(3).run()
    at.button(key="lab_run").click().run()
    assert not at.exception, at.exception
    text = _texts(at)
    assert "succeeded" in text or "did not reach" in text
    linf = next(m for m in at.metric if m.label == "L∞ of δ").value
    assert float(linf.split("/")[0]) <= 4.0 + 1e-6


def test_pages_say_what_a_model_lacks(registered):
    at = AppTest.from_file(str(VIEWS / "channels.py"), default_timeout=180).run()
    at.selectbox(key="ch_model").set_value("pg-onnx").run()
    assert not at.exception, at.exception
    assert "needs a linear classifier right after global average pooling" in _texts(at)
    at = AppTest.from_file(str(VIEWS / "feature_maps.py"), default_timeout=180).run()
    at.selectbox(key="fm_model").set_value("pg-onnx").run()
    assert not at.exception, at.exception
    assert "needs named stages" in _texts(at)


def test_a_failing_user_model_is_reported_and_the_page_keeps_working(registered):
    at = AppTest.from_file(str(VIEWS / "saliency.py"), default_timeout=180).run()
    at.selectbox(key="sal_model").set_value("pg-bad").run()
    assert not at.exception, at.exception
    text = _texts(at)
    assert "pg-bad" in text and "cannot be used" in text and "1000 class names" in text
    at.selectbox(key="sal_model").set_value("EfficientNet-Lite0").run()
    assert not at.exception, at.exception
    assert "cannot be used" not in "\n".join(str(e.value) for e in at.error)


def test_model_uploads_are_off_on_a_shared_server(monkeypatch):
    from streamlit import config

    from ui.user_models import uploads_enabled

    old = config.get_option("server.address")
    try:
        monkeypatch.delenv("EXPLORER_MODEL_UPLOADS", raising=False)
        config.set_option("server.address", "127.0.0.1")
        assert uploads_enabled()
        config.set_option("server.address", "0.0.0.0")
        assert not uploads_enabled()
        monkeypatch.setenv("EXPLORER_MODEL_UPLOADS", "1")
        assert uploads_enabled()
        config.set_option("server.address", "127.0.0.1")
        monkeypatch.setenv("EXPLORER_MODEL_UPLOADS", "0")
        assert not uploads_enabled()
    finally:
        config.set_option("server.address", old)
