"""Your own model in the browser: upload weights or an ONNX file, check it, use it in this session.

Uploads are off on a shared server. They are on when the server listens on loopback only
(``server.address`` 127.0.0.1 / localhost / ::1, the default of ``scripts/start.sh``) or when
``EXPLORER_MODEL_UPLOADS=1``; ``EXPLORER_MODEL_UPLOADS=0`` turns them off everywhere. An uploaded
file goes through the same checks as a ``models.toml`` entry (:func:`core.models.user.models_file.build_model`),
its prediction on a bundled photo is shown before it can be used, and the model lives in this
browser session only (``st.session_state``), at most ``limits.MAX_SESSION_MODELS`` at a time.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import streamlit as st
import torch

from core.runtime import limits
from core.runtime.device import get_device
from core.models import get_spec, list_models
from core.models.user.architectures import CAPABILITY_TEXT, capabilities
from core.models.user.checkpoint import ModelFileError
from core.models.imagenet.classes import imagenet_classes
from core.models.registry import ModelSpec
from core.models.user.models_file import NORMALIZATIONS, ModelDescription, Probe, build_model, failed_models

SESSION_KEY = "user_models"
PREFIX = "Yours: "
LOOPBACK = ("127.0.0.1", "localhost", "::1")
ARCHITECTURES = ["resnet18", "resnet50", "mobilenet_v3_small", "mobilenet_v3_large", "efficientnet_b0",
                 "convnext_tiny", "vit_b_16", "squeezenet1_1", "efficientnet_lite", "timm:…", "ONNX file"]


@dataclass
class SessionModel:
    model: torch.nn.Module
    spec: ModelSpec
    probe: Probe


def uploads_enabled() -> bool:
    """Model uploads: forced by EXPLORER_MODEL_UPLOADS, else only for a loopback-only server."""
    flag = os.environ.get("EXPLORER_MODEL_UPLOADS", "").strip().lower()
    if flag in ("1", "true", "yes", "on"):
        return True
    if flag in ("0", "false", "no", "off"):
        return False
    return str(st.get_option("server.address") or "").strip() in LOOPBACK


def _session() -> dict[str, SessionModel]:
    return st.session_state.setdefault(SESSION_KEY, {})


def session_names(task: str) -> list[str]:
    """This session's uploaded models of ``task``."""
    return [n for n, m in _session().items() if m.spec.task == task]


def spec_of(name: str) -> ModelSpec:
    """The spec of a registered or uploaded model."""
    sm = _session().get(name)
    return sm.spec if sm is not None else get_spec(name)


def session_model(name: str) -> torch.nn.Module | None:
    """An uploaded model of this session, or None."""
    sm = _session().get(name)
    return sm.model if sm is not None else None


def model_failed(name: str, error: Exception | str) -> None:
    """Say that a model cannot be used (and why), then stop the page; the rest of the app works."""
    st.error(f"**{name}** cannot be used: {error}")
    st.info("Pick another model in the sidebar.")
    st.stop()


def known_failure(name: str) -> str | None:
    """The recorded error of a user model that failed to load, or None."""
    return dict(failed_models()).get(name)


def failures_note() -> None:
    """List user models from models.toml that failed to load, with their errors."""
    bad = failed_models()
    if bad:
        with st.expander(f"⚠ {len(bad)} of your models could not be loaded"):
            for name, err in bad:
                st.markdown(f"**{name}**")
                st.code(err, language=None)


def require(model: torch.nn.Module, need: str, what: str) -> None:
    """Stop the page with an explanation when ``model`` lacks a capability (stages, CAM layer…)."""
    if need not in capabilities(model):
        st.info(f"{what} needs {CAPABILITY_TEXT[need]}; **{getattr(model, 'name', 'this model')}** has none. "
                "Pick another model in the sidebar.")
        st.stop()


def upload_panel(key: str) -> None:
    """The sidebar expander to upload, check and use a model (classification only)."""
    if not uploads_enabled():
        return
    with st.expander("Use your own model"):
        # The file widget exists only once asked for, so a page keeps one file uploader (the image's).
        if not st.checkbox("Upload a weights or ONNX file", key=f"{key}_um_on"):
            st.caption("Or describe your models in models.toml (README, \"Use your own model\").")
            return
        st.caption(f"Weights (.safetensors, .pt/.pth state dict) for an architecture, or an ONNX file; at most "
                   f"{limits.MAX_MODEL_UPLOAD_BYTES // 2**20} MB. Kept in this browser session only.")
        arch = st.selectbox("Architecture", ARCHITECTURES, key=f"{key}_um_arch")
        if arch == "timm:…":
            arch = "timm:" + st.text_input("timm architecture", "resnet18", key=f"{key}_um_timm").strip()
        onnx = arch == "ONNX file"
        up = st.file_uploader("ONNX file" if onnx else "Weights file",
                              type=["onnx"] if onnx else ["safetensors", "pt", "pth", "bin", "ckpt"], key=f"{key}_um_file")
        c1, c2 = st.columns(2)
        size = c1.number_input("Input size (px)", 16, limits.MAX_MODEL_INPUT_SIDE, 224, 8, key=f"{key}_um_size")
        resize = c2.selectbox("Resize", ["crop", "stretch"], key=f"{key}_um_resize",
                              help="crop: short side to size × 8/7, then the centre; stretch: to size × size.")
        norm = st.selectbox("Normalisation the network expects", list(NORMALIZATIONS), key=f"{key}_um_norm",
                            help="imagenet: (x − (0.485, 0.456, 0.406)) / (0.229, 0.224, 0.225); inception: "
                                 "(x − 0.5) / 0.5; none: [0, 1] pixels. Applied inside the model.")
        n_cls = st.number_input("Classes (1000 = ImageNet names)", 2, 100_000, 1000, key=f"{key}_um_ncls")
        if st.button("Check model", key=f"{key}_um_check", disabled=up is None):
            _check(key, up, arch, onnx, int(size), resize, norm, int(n_cls))
        cand = st.session_state.get(f"{key}_um_candidate")
        if cand is not None:
            top = ", ".join(f"{c} ({p:.1%})" for c, p in cand.probe.top)
            st.success(f"Probe on {cand.probe.sample}: {top}")
            if st.button(f"Use {cand.spec.name}", key=f"{key}_um_use"):
                sess = _session()
                while len(sess) >= limits.MAX_SESSION_MODELS:
                    sess.pop(next(iter(sess)))
                sess[cand.spec.name] = cand
                st.session_state[f"{key}_um_pending"] = cand.spec.name  # picked on the rerun (apply_pending)
                del st.session_state[f"{key}_um_candidate"]
                st.rerun()
        err = st.session_state.get(f"{key}_um_error")
        if err:
            st.error(err)


def _check(key: str, up, arch: str, onnx: bool, size: int, resize: str, norm: str, n_cls: int) -> None:
    st.session_state.pop(f"{key}_um_candidate", None)
    st.session_state.pop(f"{key}_um_error", None)
    data = up.getvalue()
    if len(data) > limits.MAX_MODEL_UPLOAD_BYTES:
        st.session_state[f"{key}_um_error"] = (f"{up.name} is larger than "
                                               f"{limits.MAX_MODEL_UPLOAD_BYTES // 2**20} MB (core/runtime/limits.py).")
        return
    mean, std = NORMALIZATIONS[norm]
    name = PREFIX + up.name[:60]
    classes = tuple(imagenet_classes()) if n_cls == 1000 else tuple(f"class {i}" for i in range(n_cls))
    d = ModelDescription(name=name, architecture=None if onnx else arch, weights=None, onnx=None,
                         input_size=(size, size), resize_size=round(size * 8 / 7) if resize == "crop" else 0,
                         mean=mean, std=std, class_names=classes, description=f"uploaded in this session ({arch})")
    try:
        with st.spinner("Checking the model…"):
            model, probe = build_model(d, weights=data, weights_name=up.name)
    except ModelFileError as e:
        st.session_state[f"{key}_um_error"] = f"{up.name}: {e}"
        return
    model = model.to(get_device())  # where the pages put their tensors (CUDA when present)
    spec = ModelSpec(name=name, task="classification", input_size=d.input_size, resize_size=d.resize_size,
                     licence="supplied by the user", source=f"upload {up.name}", description=d.description,
                     loader=lambda: model, num_classes=n_cls, origin="session")
    st.session_state[f"{key}_um_candidate"] = SessionModel(model, spec, probe)


def transfer_candidates(model_name: str, num_classes: int) -> list[str]:
    """Registered classifiers to test transfer on: same number of classes, not failed, not the model itself."""
    failed = {n for n, _ in failed_models()}
    return [s.name for s in list_models("classification")
            if s.name != model_name and s.name not in failed and s.num_classes == num_classes]


def apply_pending(key: str) -> None:
    """Select a model just added with "Use …" (before the picker widget is drawn)."""
    pending = st.session_state.pop(f"{key}_um_pending", None)
    if pending is not None:
        st.session_state[f"{key}_model"] = pending


def registered_names(task: str) -> list[str]:
    """Registered model names of a task followed by this session's uploads."""
    return [s.name for s in list_models(task)] + session_names(task)
