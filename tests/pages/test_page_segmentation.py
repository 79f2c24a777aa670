"""The Segmentation page driven headless with Streamlit's AppTest."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image
from safetensors.torch import save_file
from streamlit.testing.v1 import AppTest

from core.models.user.models_file import register_models_file, unregister_user_models

PAGE = str(Path(__file__).resolve().parents[2] / "views" / "segmentation.py")
REF = Path(__file__).resolve().parents[1] / "fixtures" / "selfie_segmentation_reference.npz"
pytestmark = pytest.mark.slow


def _portrait_png() -> bytes:
    """Grace Hopper at 256×256 (the reference input of the port test), as a PNG upload."""
    arr = np.load(REF)["general__grace_hopper__image"]
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG")
    return buf.getvalue()


def _texts(at) -> str:
    parts = []
    for kind in ("markdown", "success", "error", "warning", "info", "caption"):
        parts += [e.value for e in getattr(at, kind)]
    return "\n".join(str(p) for p in parts)


def _upload(at) -> AppTest:
    at.radio(key="seg_src").set_value("Upload").run()
    at.file_uploader(key="seg_upload").set_value(("hopper.png", _portrait_png(), "image/png")).run()
    assert not at.exception, at.exception
    return at


def _metric(at, label: str) -> float:
    return float(next(m for m in at.metric if m.label == label).value.rstrip("%"))


def test_erase_attack_then_defense_on_uploaded_portrait():
    at = _upload(AppTest.from_file(PAGE, default_timeout=90).run())
    assert "Person share of the clean mask" in _texts(at)
    at.radio(key="seg_goal").set_value("erase").run()
    at.button(key="seg_run").click().run()
    assert not at.exception, at.exception
    iou_att, iou_def = _metric(at, "IoU, attacked"), _metric(at, "IoU, defended")
    assert 0 <= iou_att <= 1 and 0 <= iou_def <= 1
    assert _metric(at, "Target reached") > 50  # the erase attack mostly works
    assert iou_def > iou_att  # the defense recovers part of the mask on this portrait
    assert len(at.get("plotly_chart")) >= 6
    # the view explorer switches without recomputing
    at.radio(key="seg_views_of").set_value("clean").run()
    assert not at.exception


def test_shape_target_without_defense():
    at = _upload(AppTest.from_file(PAGE, default_timeout=90).run())
    at.radio(key="seg_goal").set_value("shape").run()
    at.selectbox(key="seg_shape").set_value("heart").run()
    at.slider(key="seg_size").set_value(0.4).run()
    at.checkbox(key="seg_on").uncheck().run()
    at.slider(key="seg_steps").set_value(3).run()
    at.button(key="seg_run").click().run()
    assert not at.exception, at.exception
    assert _metric(at, "Target reached") > 0
    assert not any(m.label == "IoU, defended" for m in at.metric)
    # changing a setting marks the result stale instead of recomputing
    at.slider(key="seg_eps").set_value(2).run()
    assert "settings changed" in _texts(at)


def test_other_photos_mask_on_landscape_model_with_adaptive_attacker():
    at = _upload(AppTest.from_file(PAGE, default_timeout=90).run())
    at.selectbox(key="seg_model").set_value("MediaPipe Selfie Segmentation (landscape)").run()
    at.radio(key="seg_goal").set_value("other").run()
    at.radio(key="seg_other_src").set_value("Upload").run()
    flipped = np.load(REF)["general__astronaut__image"][:, ::-1].copy()
    buf = io.BytesIO()
    Image.fromarray(flipped).save(buf, "PNG")
    at.file_uploader(key="seg_other_upload").set_value(("other.png", buf.getvalue(), "image/png")).run()
    assert not at.exception, at.exception
    at.slider(key="seg_steps").set_value(2).run()
    at.slider(key="seg_psteps").set_value(1).run()
    at.radio(key="seg_adaptive").set_value("equivariance-aware").run()
    at.button(key="seg_run").click().run()
    assert not at.exception, at.exception
    assert 0 <= _metric(at, "Target reached") <= 100
    assert "equivariance-aware" in _texts(at)


def test_cam_mask_for_non_person_photos():
    at = _upload(AppTest.from_file(PAGE, default_timeout=90).run())
    at.selectbox(key="seg_model").set_value("Class-activation mask (approximate)").run()
    assert not at.exception, at.exception
    assert "Approximate mask" in _texts(at)
    at.checkbox(key="seg_on").uncheck().run()
    at.slider(key="seg_steps").set_value(2).run()
    at.button(key="seg_run").click().run()
    assert not at.exception, at.exception
    assert 0 <= _metric(at, "IoU, attacked") <= 1


def test_bundled_default_photo_previews_its_mask():
    """Needs the bundled samples (assets/samples, core/data/images.py)."""
    at = AppTest.from_file(PAGE, default_timeout=90).run()
    assert not at.exception, at.exception
    assert "Person share of the clean mask" in _texts(at)
    assert at.selectbox(key="seg_sample").value == "astronaut"


# --------------------------------------------------------------------------- multi-class and denoising
GARMENT = "Garment U-Net (11 classes, Fashion-MNIST scenes)"


def _dense(at) -> AppTest:
    at.selectbox(key="seg_model").set_value(GARMENT).run()
    assert not at.exception, at.exception
    return at


def test_garment_scene_default_run_shows_classes_iou_and_moves():
    at = _dense(AppTest.from_file(PAGE, default_timeout=90).run())
    assert len(at.get("plotly_chart")) == 1  # the preview: image, ground truth, clean prediction, legend
    at.button(key="seg_run").click().run()
    assert not at.exception, at.exception
    m_clean, m_att, m_def = (_metric(at, k) for k in ("mIoU, clean", "mIoU, attacked", "mIoU, defended"))
    assert 0 <= m_att < m_clean <= 1 and 0 <= m_def <= 1  # the default PGD hurts the scene's mIoU
    charts = at.get("plotly_chart")
    assert len(charts) >= 5  # maps, IoU per class, moved, moved (defended), purification, steps
    text = _texts(at)
    assert "ground truth" in text
    # the per-class table lists the scene's classes with their IoU change
    df = at.dataframe[0].value
    assert {"class", "IoU clean", "IoU attacked", "change"} <= set(df.columns)
    assert "background" in set(df["class"])


def test_garment_targeted_class_repaint_with_adaptive_attacker():
    at = _dense(AppTest.from_file(PAGE, default_timeout=90).run())
    at.radio(key="seg_dgoal").set_value("shape").run()
    at.slider(key="seg_steps").set_value(3).run()
    at.slider(key="seg_psteps").set_value(1).run()
    at.radio(key="seg_adaptive").set_value("equivariance-aware").run()
    at.button(key="seg_run").click().run()
    assert not at.exception, at.exception
    assert 0 <= _metric(at, "Target reached") <= 100
    assert "equivariance-aware" in _texts(at)


def test_garment_worst_case_without_defense():
    at = _dense(AppTest.from_file(PAGE, default_timeout=90).run())
    at.checkbox(key="seg_on").uncheck().run()
    at.selectbox(key="seg_dattack").set_value("Worst case (all four)").run()
    at.slider(key="seg_dqueries").set_value(20).run()
    at.slider(key="seg_steps").set_value(2).run()
    at.button(key="seg_run").click().run()
    assert not at.exception, at.exception
    assert "lowest was reached by" in _texts(at)
    assert not any(m.label == "mIoU, defended" for m in at.metric)


def test_denoising_section_shows_psnr_and_the_classifier():
    at = AppTest.from_file(PAGE, default_timeout=90).run()
    at.radio(key="seg_task").set_value("denoise").run()
    assert not at.exception, at.exception
    at.select_slider(key="seg_ncurve").set_value(16).run()  # the default draws no curve (≤ 3 s)
    at.button(key="seg_run").click().run()
    assert not at.exception, at.exception
    p_clean, p_att, p_rand = (float(next(m for m in at.metric if m.label == k).value.split()[0])
                              for k in ("PSNR denoised", "PSNR attacked", "PSNR random noise"))
    assert p_att < p_rand  # ObsAtk hurts more than random zero-mean noise of the same norm
    assert len(at.get("plotly_chart")) == 2  # panels and the PSNR-vs-ε curve
    assert "fmnist-standard" in _texts(at)


@pytest.fixture()
def lraspp(tmp_path):
    """A torchvision LR-ASPP with random weights, described in a models.toml."""
    torch.manual_seed(0)
    net = torchvision.models.segmentation.lraspp_mobilenet_v3_large(weights=None, weights_backbone=None,
                                                                     num_classes=3)
    save_file(net.state_dict(), str(tmp_path / "lraspp.safetensors"))
    (tmp_path / "classes.txt").write_text("background\nroad\ncar\n")
    (tmp_path / "models.toml").write_text(
        '[[model]]\nname = "test-lraspp"\narchitecture = "lraspp_mobilenet_v3_large"\n'
        'weights = "lraspp.safetensors"\ninput_size = 48\nnormalization = "imagenet"\nclasses = "classes.txt"\n')
    names = register_models_file(tmp_path / "models.toml")
    yield names
    unregister_user_models(names)


def test_torchvision_lraspp_from_models_toml_runs_on_the_page(lraspp):
    assert lraspp == ["test-lraspp"]
    at = AppTest.from_file(PAGE, default_timeout=90).run()
    at.selectbox(key="seg_model").set_value("test-lraspp").run()
    assert not at.exception, at.exception
    at.slider(key="seg_steps").set_value(2).run()
    at.slider(key="seg_psteps").set_value(1).run()
    at.button(key="seg_run").click().run()
    assert not at.exception, at.exception
    assert 0 <= _metric(at, "mIoU, attacked") <= 1
    assert "clean prediction" in _texts(at)  # no ground truth for a model with other classes
