"""Widgets and cached loaders shared by every page.

Builders return their parameters (after Streamlit's demo apps); nothing here computes results.
"""
from __future__ import annotations

from dataclasses import dataclass, field
import hashlib
from collections.abc import Callable

import streamlit as st
from streamlit.delta_generator import DeltaGenerator
import torch
from PIL import Image

from core.runtime import limits
from core.attacks import ATTACKS, Goal, ThreatModel, default_threat
from core.attacks.specs import ATTACK_SPECS, EPS_LINF_MAX_K, GOALS, AttackParam, build_settings
from core.runtime.device import describe_device
from core.data import safe_text
from core.data.images import (ImageError, decode_cache_has, decode_image_cached, list_samples, load_sample,
                         prepare_for_model, to_tensor)
from core.explain.analysis import predict
from core.evaluation.lab import demo_example, summarize
from core.data.labelled_samples import TITLE, labelled_samples
from core.models import list_models, load_model
from core.models.user.checkpoint import ModelFileError
from core.models.registry import ModelSpec
from ui import user_models
from ui.long_work import stoppable_progress



def md_escape(text: str) -> str:
    """Text that Streamlit's Markdown shows literally (file names come from users):
    :func:`core.data.safe_text.md`."""
    return safe_text.md(text)


@st.cache_resource(scope="session", show_spinner=False)
def session_store() -> dict:
    """A dict private to the visitor's session for large objects (e.g. a decoded upload set).
    Streamlit drops session-scoped resources as soon as the tab disconnects, whereas
    ``st.session_state`` is kept ``server.disconnectedSessionTTL`` seconds for a reconnect (and
    reaped lazily), so memory held here is released when the session ends."""
    return {}


def upload_help(what: str = "image") -> str:
    """The uploader's help: the one upload limit (``limits.MAX_UPLOAD_MB``, the same number as
    ``server.maxUploadSize``; pass ``max_upload_size=limits.MAX_UPLOAD_MB`` to the uploader)."""
    if what == "zip":
        return (f"At most {limits.MAX_UPLOAD_MB} MB (1 MB = 1,000,000 bytes), {limits.MAX_ZIP_MEMBERS} entries and "
                f"{limits.MAX_SET_PIXELS / 1e6:g} megapixels of images in all.")
    if what == "files":
        return (f"At most {limits.MAX_UPLOAD_FILES} files of {limits.MAX_UPLOAD_MB} MB each (1 MB = 1,000,000 "
                f"bytes) and {limits.MAX_SET_PIXELS / 1e6:g} megapixels in all.")
    return (f"At most {limits.MAX_UPLOAD_MB} MB (1 MB = 1,000,000 bytes) and "
            f"{limits.MAX_IMAGE_PIXELS / 1e6:.0f} megapixels.")


def decode_upload(data: bytes, name: str, key: str) -> Image.Image:
    """An uploaded file decoded once per content (core.data.images.decode_image_cached): a rerun gets
    it from the cache; a first decode runs as stoppable work (bar, Stop, a concurrency slot)."""
    if decode_cache_has(data, name):
        return decode_image_cached(data, name)
    with stoppable_progress("Decoding the upload…", key=f"{key}_decode") as progress:
        progress(0, 1, "")
        return decode_image_cached(data, name)


UPLOAD_TYPES = ["png", "jpg", "jpeg", "webp", "bmp", "tif", "tiff", "gif"]


@st.cache_resource(show_spinner="Loading model…")
def _shared_model(name: str) -> torch.nn.Module:
    return load_model(name)


def get_model(name: str) -> torch.nn.Module:
    """The process-wide shared, read-only model (see core.models.registry.load_model), or this
    session's uploaded model of that name. A user model that fails its checks stops the page
    with its error (the rest of the app keeps working)."""
    own = user_models.session_model(name)
    if own is not None:
        return own
    known_error = user_models.known_failure(name)
    if known_error is not None:  # do not rebuild a model that already failed, on every rerun
        user_models.model_failed(name, known_error)
    try:
        return _shared_model(name)
    except ModelFileError as e:
        user_models.model_failed(name, e)
        raise


def model_spec(name: str) -> ModelSpec:
    """The spec (input size, resize policy) of a registered or uploaded model."""
    return user_models.spec_of(name)


def model_picker(key: str, task: str = "classification", label: str = "Model") -> str:
    """Select box over registered models of a task (and this session's uploads); returns the
    model name. Below it: user models that failed to load, and the upload panel."""
    user_models.apply_pending(key)
    names = user_models.registered_names(task) if task == "classification" else [s.name for s in list_models(task)]
    failed = {n for n, _ in user_models.failed_models()}
    name = st.selectbox(label, names, key=f"{key}_model",
                        format_func=lambda n: f"{n} ⚠ cannot be loaded" if n in failed else n,
                        help="Registered models; normalisation is folded into each model, input is [0, 1].")
    if task == "classification":
        user_models.failures_note()
        user_models.upload_panel(key)
    return name


LABELLED_SOURCE = "Labelled ImageNet photo"


def image_picker(key: str, default: str = "chelsea", label: str = "Image", labelled: bool = True
                 ) -> tuple[Image.Image | None, str]:
    """A bundled photo, a labelled ImageNet photo (``labelled``: the shipped validation photos with
    their true class, see :func:`true_label`) or an upload, decoded to RGB, and its name as given
    (an upload's file name is the user's: escape it for each sink, e.g. :func:`core.data.safe_text.md`
    in Markdown). Bad files get a clear message and None."""
    sources = ["Bundled photo", *([LABELLED_SOURCE] if labelled else []), "Upload"]
    source = st.radio(label, sources, horizontal=True, key=f"{key}_src")
    st.session_state[f"{key}_true_label"] = None
    if source == "Bundled photo":
        samples = list_samples()
        keys = [s.key for s in samples]
        titles = {s.key: s.title for s in samples}
        index = keys.index(default) if default in keys else 0
        chosen = st.selectbox("Photo", keys, index=index, format_func=lambda k: titles[k], key=f"{key}_sample")
        return load_sample(chosen), titles[chosen]
    if source == LABELLED_SOURCE:
        by_file = {s.file: s for s in labelled_samples("imagenet")}
        chosen = st.selectbox("Labelled photo", list(by_file), key=f"{key}_lsample",
                              format_func=lambda f: f"{by_file[f].class_name} ({f})",
                              help=f"The {TITLE['imagenet']}: ImageNet validation photos with their true class, "
                                   "which the correct class defaults to on ImageNet models.")
        sample = by_file[chosen]
        st.session_state[f"{key}_true_label"] = sample.label
        return decode_image_cached(sample.path.read_bytes(), sample.file), sample.file
    up = st.file_uploader(
        "Upload an image (PNG, JPEG, WebP, BMP, TIFF, GIF)", type=UPLOAD_TYPES, key=f"{key}_upload",
        help=upload_help(), max_upload_size=limits.MAX_UPLOAD_MB)
    if up is None:
        st.info("Choose a file to upload, or switch to a bundled photo.")
        return None, ""
    try:
        return decode_upload(up.getvalue(), up.name, key), up.name
    except ImageError as e:
        st.error(f"Could not use **{md_escape(up.name)}**: {md_escape(e)}")
        return None, ""


def true_label(key: str, model: torch.nn.Module) -> int | None:
    """The true class of the photo that :func:`image_picker` ``key`` picked, when it is a labelled
    ImageNet photo and ``model`` has the 1,000 ImageNet classes; else None (the pages then default
    the correct class to the model's clean prediction)."""
    label = st.session_state.get(f"{key}_true_label")
    return label if label is not None and len(getattr(model, "class_names", ())) == 1000 else None


# The default photo of the single-image pages: the one bundled photo the default model is sure
# about (EfficientNet-Lite0: espresso, 95 %); on the others it is unsure, and an attack that flips
# an unsure prediction to a sibling class at ε ≪ 1/255 says little.
DEFAULT_PHOTO = "coffee"


def image_and_model(key: str, task: str = "classification", default: str = DEFAULT_PHOTO
                    ) -> tuple[Image.Image | None, str, str, torch.nn.Module]:
    """The sidebar's first two sections on most pages: an image, then a model.

    Returns (image or None, its label — raw, escape it where shown —, model name, the shared model)."""
    st.header("Image")
    img, label = image_picker(key, default=default, labelled=task == "classification")
    st.header("Model")
    name = model_picker(key, task)
    return img, label, name, get_model(name)


def image_tensor(img: Image.Image, model_name: str) -> torch.Tensor:
    """The picked image resized and cropped for a model, as a (1, 3, H, W) tensor in [0, 1]."""
    return to_tensor(prepare_for_model(img, model_spec(model_name)))


def memo_on_image(kind: str, model_key: object, x: torch.Tensor, compute: Callable[[], torch.Tensor]) -> torch.Tensor:
    """``compute()`` for the page's image, once per session, ``kind``, model and image: every rerun
    of a page (each widget change, the click) needs the clean prediction, and one forward pass of
    an ImageNet or segmentation model is a tenth of a second or more on the CPU. The image is
    keyed by its bytes; a few entries are kept, the oldest dropped first."""
    digest = hashlib.blake2b(x.detach().cpu().contiguous().numpy().tobytes(), digest_size=16).hexdigest()
    memo = session_store().setdefault("memo_on_image", {})
    key = (kind, model_key, digest, tuple(x.shape))
    if key not in memo:
        if len(memo) >= 8:
            memo.pop(next(iter(memo)))
        memo[key] = compute()
    return memo[key]


def clean_logits(model_name: str, model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The model's logits on the page's clean image (:func:`memo_on_image`)."""
    return memo_on_image("logits", model_name, x, lambda: predict(model, x))


def eps_input(label: str, key: str, norm: str, default_linf_k: int = 4, default_l2: float = 1.0,
              max_linf_k: int = 64, help: str | None = None) -> float:
    """ε in the [0, 1] scale; L∞ is chosen as k/255."""
    if norm == "linf":
        k = st.slider(f"{label} (k/255)", 0, max_linf_k, default_linf_k, key=f"{key}_linf", help=help)
        return k / 255
    return float(st.number_input(f"{label} (L2, [0,1] pixel scale)", 0.0, 50.0, default_l2, 0.25,
                                 key=f"{key}_l2", help=help))


@st.cache_resource(show_spinner="Attacking a photo for the home page (once per server)…")
def home_example() -> tuple[torch.Tensor, torch.Tensor, object]:
    """The home page's live example, computed on the first visit and kept for the process: the
    default photo, its PGD twin (ε = 4/255) and the summary of both predictions."""
    name = list_models("classification")[0].name
    model = get_model(name)
    x = image_tensor(load_sample(DEFAULT_PHOTO), name)
    run = demo_example(model, x)
    return run.result.x_clean, run.result.x_adv, summarize(run, model.class_names)


def intro(text: str) -> None:
    """A page's introduction, folded away so that the image and the result come first."""
    with st.expander("What does this page show?", expanded=False):
        st.markdown(text)


def action_bar() -> DeltaGenerator:
    """The main-area row for a page's run button (and Stop), under the presets: on the first screen
    where the eye is, not at the end of a long sidebar. The settings stay in the sidebar."""
    return st.container(horizontal=True, vertical_alignment="center", gap="small", key="action_bar")


def device_caption() -> None:
    """Say where the computation runs."""
    st.caption(f"Computing on {describe_device()}.")


@dataclass
class AttackChoice:
    """What ``attack_picker`` returns."""

    name: str
    threat: object  # core.attacks.ThreatModel
    params: dict = field(default_factory=dict)
    goal: object = None  # core.attacks.Goal
    seed: int = 0


def attack_param_widget(p: AttackParam, key: str, values: dict) -> object:
    """One widget for an attack setting of :data:`core.attacks.specs.ATTACK_SPECS` (widget units)."""
    k = f"{key}_{p.key}"
    help_ = p.help or None
    if p.kind == "bool":
        return st.checkbox(p.label, bool(p.default), key=k, help=help_)
    if p.kind == "choice":
        return st.select_slider(p.label, list(p.choices), p.default, key=k, help=help_)
    hi = p.upper(values)
    if isinstance(st.session_state.get(k), (int, float)) and st.session_state[k] > hi:
        st.session_state[k] = type(st.session_state[k])(hi)  # another setting lowered the bound
    if p.kind == "int":
        return st.slider(p.label, int(p.lo), int(hi), min(int(p.default), int(hi)), int(p.step or 1), key=k,
                         help=help_)
    if p.box:
        return st.number_input(p.label, float(p.lo), float(hi), float(p.default), float(p.step), key=k, help=help_)
    return st.slider(p.label, float(p.lo), float(hi), float(p.default), float(p.step or 0.01), key=k, help=help_)


def attack_picker(key: str, class_names: list[str] | None = None, attacks: list[str] | None = None) -> AttackChoice:
    """Attack, threat model, goal and seed, built from the attack's description
    (:data:`core.attacks.specs.ATTACK_SPECS`); defaults are the attack's CPU default threat."""
    names = attacks or list(ATTACKS)
    name = st.selectbox("Attack", names, index=names.index("PGD") if "PGD" in names else 0, key=f"{key}_attack")
    cls = ATTACKS[name]
    st.caption(cls.summary)
    norms = list(cls.norms)
    norm = norms[0] if len(norms) == 1 else st.radio(
        "Norm", norms, index=norms.index(default_threat(name).norm), horizontal=True,
        format_func=lambda n: {"linf": "L∞", "l2": "L2"}[n], key=f"{key}_norm")
    d = default_threat(name, norm)
    eps = eps_input("ε", f"{key}_eps", norm, default_linf_k=round(d.eps * 255) if norm == "linf" else 4,
                    default_l2=d.eps if norm == "l2" else 1.0, max_linf_k=EPS_LINF_MAX_K,
                    help="The attacker's budget: how far each pixel (L∞) or the whole image (L2) may move."
                         + (" CW-L2 looks for the smallest change; ε is only enforced with 'respect ε'."
                            if name == "CW-L2" else ""))
    values: dict = {}
    for p in ATTACK_SPECS[name].for_norm(norm):
        values[p.key] = attack_param_widget(p, key, values)
    threat_kw, params = build_settings(name, norm, eps, values)
    threat = ThreatModel(**threat_kw)

    mode = st.radio("Goal", list(GOALS), horizontal=True, key=f"{key}_goal",
                    format_func=lambda m: {"untargeted": "Any wrong class", "targeted": "A chosen class",
                                           "least_likely": "Least likely class"}[m])
    target = None
    if mode == "targeted":
        names_ = class_names or [str(i) for i in range(1000)]
        target = st.selectbox("Target class", range(len(names_)), index=min(1, len(names_) - 1),
                              format_func=lambda i: f"{i}: {names_[i]}", key=f"{key}_target")
    seed = int(st.number_input("Seed", 0, 2**31 - 1, 0, key=f"{key}_seed"))
    return AttackChoice(name=name, threat=threat, params=params, goal=Goal(mode=mode, target_class=target), seed=seed)
