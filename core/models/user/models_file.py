"""Classifiers the user supplies: a TOML description file, validation, registration.

The description file is ``models.toml`` at the repository root, or the path in the environment
variable ``EXPLORER_MODELS`` (the command line's ``--models`` sets it). Each ``[[model]]`` table::

    [[model]]
    name = "My ResNet-18"                # shown in every model picker
    architecture = "resnet18"            # torchvision builder, "timm:<name>", "efficientnet_lite", "zoo:<name>"
    weights = "weights/resnet18.safetensors"   # .safetensors or .pt/.pth state dict (relative to this file)
    # onnx = "model.onnx"                # instead of architecture + weights
    input_size = 224                     # or [H, W]
    resize = "crop"                      # "crop": short side to resize_size, centre crop; "stretch"
    resize_size = 256                    # default: input_size * 8 / 7 (224 -> 256)
    normalization = "imagenet"           # or "none", "inception", or mean = [...] and std = [...]
    classes = "imagenet"                 # or a .txt (one name per line) / .json (list) file
    num_classes = 1000                   # optional; must equal the number of class names

Normalisation is applied inside the model (``(x - mean) / std`` on [0, 1] pixels, as for the
bundled models), so attacks, ε and defenses work in pixel space. Nothing is half-loaded: a model
is built, its weights checked (format, pickled code refused, keys and shapes against the
architecture, finite values), loaded with ``strict=True`` and probed on a bundled photo before it
is returned; any problem raises :class:`ModelFileError`. A description that fails is listed by
:func:`failed_models` and every other model keeps working.
"""
from __future__ import annotations

import copy
import json
import os
import sys
import threading
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from core.runtime import limits
from core.data.images import list_samples, load_sample, prepare_for_model, stretch, to_tensor
from core.models.user.architectures import AdaptedNet, build, closest_architectures, conv_bn_pairs, fx_fused, resolve
from core.models.user.checkpoint import (ModelFileError, check_finite, compare_state_dicts, read_weights,
                                    read_weights_bytes, strip_prefixes)
from core.models.imagenet.classes import imagenet_classes
from core.models.user.onnx_import import load_onnx, load_onnx_bytes
from core.models.spec import REGISTERED, ModelSpec, register, unregister
from core.runtime.paths import ROOT
from core.models.user.segmentation import (UserSegmenter, build_segmentation_net, class_shares, probe_segmenter,
                                           segmentation_builder)
from core.models.wrappers import ImageClassifier
from core.models.zoo.catalogue import build as zoo_build
from core.judging.pages import segmenter_input

ENV_VAR = "EXPLORER_MODELS"
NORMALIZATIONS = {
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    "none": ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0)),
    "inception": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
}
_KEYS = {"name", "architecture", "weights", "onnx", "input_size", "resize", "resize_size", "normalization",
         "mean", "std", "classes", "num_classes", "description", "licence", "license", "source"}


@dataclass(frozen=True)
class ModelDescription:
    """One validated ``[[model]]`` entry (paths resolved)."""

    name: str
    architecture: str | None
    weights: Path | None
    onnx: Path | None
    input_size: tuple[int, int]
    resize_size: int  # 0 = stretch
    mean: tuple[float, ...]
    std: tuple[float, ...]
    class_names: tuple[str, ...] = field(repr=False)
    description: str = ""
    licence: str = "supplied by the user"

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def _imagenet() -> list[str]:
    return imagenet_classes()


def read_class_names(spec: Any, base: Path, num_classes: int | None) -> tuple[str, ...]:
    """Class names from ``"imagenet"``, a list, or a .txt / .json file; checked against ``num_classes``."""
    if spec is None:
        names = _imagenet() if num_classes in (None, 1000) else [f"class {i}" for i in range(num_classes)]
    elif isinstance(spec, list):
        names = [str(s) for s in spec]
    elif isinstance(spec, str) and spec.lower() == "imagenet":
        names = _imagenet()
    elif isinstance(spec, str):
        p = (base / spec) if not Path(spec).is_absolute() else Path(spec)
        if not p.is_file():
            raise ModelFileError(f"class-names file {p} does not exist.")
        if p.stat().st_size > 10 * 2**20:
            raise ModelFileError(f"class-names file {p.name} is larger than 10 MB.")
        text = p.read_text(encoding="utf-8", errors="replace")
        if p.suffix.lower() == ".json":
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as e:
                raise ModelFileError(f"class-names file {p.name} is not valid JSON ({e}).") from None
            if isinstance(obj, dict):  # {"0": "tench", ...}
                try:
                    obj = [obj[k] for k in sorted(obj, key=lambda k: int(k))]
                except ValueError:
                    raise ModelFileError(f"{p.name}: a JSON object of class names needs integer keys.") from None
            if not isinstance(obj, list):
                raise ModelFileError(f"{p.name}: expected a JSON list of class names.")
            names = [str(s) if not isinstance(s, list) else str(s[-1]) for s in obj]
        else:
            names = [ln.strip() for ln in text.splitlines() if ln.strip()]
    else:
        raise ModelFileError("classes must be \"imagenet\", a list of names, or a .txt/.json file.")
    if not names:
        raise ModelFileError("the class-name list is empty.")
    if num_classes is not None and num_classes != len(names):
        raise ModelFileError(f"num_classes = {num_classes} but there are {len(names)} class names.")
    return tuple(names)


def _size(v: Any, what: str) -> tuple[int, int]:
    if isinstance(v, int):
        v = [v, v]
    if not (isinstance(v, list) and len(v) == 2 and all(isinstance(t, int) for t in v)):
        raise ModelFileError(f"{what} must be an integer or [height, width].")
    h, w = v
    if not (8 <= h <= limits.MAX_MODEL_INPUT_SIDE and 8 <= w <= limits.MAX_MODEL_INPUT_SIDE):
        raise ModelFileError(f"{what} {h}×{w} is outside 8…{limits.MAX_MODEL_INPUT_SIDE} px (core/runtime/limits.py).")
    return h, w


def _norm(entry: dict[str, Any], where: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    if "mean" in entry or "std" in entry:
        mean, std = entry.get("mean"), entry.get("std")
        ok = all(isinstance(v, list) and len(v) in (1, 3) and all(isinstance(t, (int, float)) for t in v)
                 for v in (mean, std))
        if not ok or len(mean) != len(std):
            raise ModelFileError(f"{where}: mean and std must both be lists of 3 (or 1) numbers.")
        if any(s <= 0 for s in std):
            raise ModelFileError(f"{where}: every std must be positive.")
        if any(abs(m) > 1 for m in mean) or any(s > 2 for s in std):
            raise ModelFileError(f"{where}: mean/std are on the [0, 1] pixel scale (e.g. 0.485, not 123.7).")
        if "normalization" in entry:
            raise ModelFileError(f"{where}: give either normalization or mean/std, not both.")
        return tuple(float(t) for t in mean), tuple(float(t) for t in std)
    preset = entry.get("normalization")
    if preset is None:
        raise ModelFileError(f"{where}: say how the network expects its input: normalization = \"imagenet\" "
                             "(mean 0.485, 0.456, 0.406; std 0.229, 0.224, 0.225), \"inception\" ([-1, 1]), "
                             "\"none\" ([0, 1]), or mean = [...] and std = [...].")
    if preset not in NORMALIZATIONS:
        raise ModelFileError(f"{where}: unknown normalization {preset!r}; use {', '.join(NORMALIZATIONS)} or mean/std.")
    return NORMALIZATIONS[preset]


def parse_entry(entry: dict[str, Any], base: Path) -> ModelDescription:
    """Check one ``[[model]]`` table (cheap: no weights read) and resolve its paths."""
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ModelFileError("every [[model]] needs a name.")
    where = f"model {name!r}"
    extra = set(entry) - _KEYS
    if extra:
        raise ModelFileError(f"{where}: unknown keys {', '.join(sorted(extra))}.")
    arch, weights, onnx = entry.get("architecture"), entry.get("weights"), entry.get("onnx")

    def path(v: str) -> Path:
        p = Path(v).expanduser()
        return p if p.is_absolute() else base / p

    if onnx is not None:
        if arch is not None or weights is not None:
            raise ModelFileError(f"{where}: give either onnx, or architecture and weights.")
        onnx_p = path(onnx)
        if not onnx_p.is_file():
            raise ModelFileError(f"{where}: ONNX file {onnx_p} does not exist.")
        weights_p = None
    else:
        if not isinstance(arch, str) or weights is None:
            raise ModelFileError(f"{where}: needs architecture and weights (or onnx).")
        if segmentation_builder(arch) is None:  # torchvision segmentation builders: core/models/user/segmentation.py
            resolve(arch)
        weights_p, onnx_p = path(weights), None
        if not weights_p.is_file():
            raise ModelFileError(f"{where}: weights file {weights_p} does not exist.")
    size = _size(entry.get("input_size", 224), f"{where}: input_size")
    resize = entry.get("resize", "crop")
    if resize not in ("crop", "stretch"):
        raise ModelFileError(f"{where}: resize must be \"crop\" or \"stretch\".")
    resize_size = 0
    if resize == "crop":
        resize_size = entry.get("resize_size", round(min(size) * 8 / 7))
        if not isinstance(resize_size, int) or not min(size) <= resize_size <= 4 * limits.MAX_MODEL_INPUT_SIDE:
            raise ModelFileError(f"{where}: resize_size must be an integer ≥ the input size.")
    mean, std = _norm(entry, where)
    num_classes = entry.get("num_classes")
    if num_classes is not None and (not isinstance(num_classes, int) or num_classes < 2):
        raise ModelFileError(f"{where}: num_classes must be an integer ≥ 2.")
    try:
        classes = read_class_names(entry.get("classes"), base, num_classes)
    except ModelFileError as e:
        raise ModelFileError(f"{where}: {e}") from None
    return ModelDescription(name=name.strip(), architecture=arch, weights=weights_p, onnx=onnx_p,
                            input_size=size, resize_size=resize_size, mean=mean, std=std, class_names=classes,
                            description=str(entry.get("description", "")),
                            licence=str(entry.get("licence", entry.get("license", "supplied by the user"))))


def parse_models_file(path: str | Path) -> tuple[list[ModelDescription], list[tuple[str, str]]]:
    """(valid descriptions, [(name or file, error)]) of a description file."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return [], [(str(p), f"model description file {p} does not exist.")]
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        return [], [(str(p), f"{p.name} is not valid TOML ({e}).")]
    entries = data.get("model", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        return [], [(str(p), f"{p.name}: models are [[model]] tables.")]
    good, bad, seen = [], [], set()
    for i, entry in enumerate(entries):
        label = entry.get("name") if isinstance(entry.get("name"), str) else f"{p.name} entry {i + 1}"
        try:
            d = parse_entry(entry, p.parent)
            if d.name in seen:
                raise ModelFileError(f"the name {d.name!r} is used twice.")
            seen.add(d.name)
            good.append(d)
        except ModelFileError as e:
            bad.append((label, str(e)))
    return good, bad


# ----------------------------------------------------------------------------- building


class UserClassifier(ImageClassifier):
    """An :class:`ImageClassifier` around a user network (:class:`AdaptedNet`, EfficientNet-Lite).

    Offers what its network offers (see :func:`core.models.user.architectures.capabilities`); the
    attack engine's fused fast copy folds batch norm with ``torch.fx`` where the network traces.
    """

    def __init__(self, net: nn.Module, d: ModelDescription) -> None:
        super().__init__(net, d.mean, d.std, d.input_size[0], list(d.class_names), name=d.name)
        self.input_hw = d.input_size
        self.description = d

    @property
    def fused_copy(self):  # noqa: D102 — None (no fast copy) or a method, as fast_view expects
        if isinstance(self.net, AdaptedNet):
            if self.net.family not in ("torchvision", "timm"):
                return None
            if "_fx_pairs" not in self.__dict__:  # traced once; no fast copy when nothing folds
                self.__dict__["_fx_pairs"] = bool(conv_bn_pairs(self.net.body))
            return self._fx_fused_copy if self.__dict__["_fx_pairs"] else None
        return super().fused_copy

    def _fx_fused_copy(self) -> ImageClassifier:
        fused = fx_fused(self.net.body)
        if fused is None:
            return self  # nothing to fold: the model itself is the fast view
        net = copy.copy(self.net)  # same AdaptedNet (stages, head) around the folded body
        net._modules = dict(self.net._modules)
        net._modules["body"] = fused
        clone = copy.copy(self)
        clone._modules = dict(self._modules)
        clone._modules["net"] = net
        clone._frozen = False
        clone.is_fast_copy = True
        return clone.freeze()

    @property
    def classifier_weight(self) -> torch.Tensor:  # noqa: D102
        return self.net.classifier_weight if isinstance(self.net, AdaptedNet) else self.net._fc.weight


@dataclass
class Probe:
    """The prediction on a bundled photo that every new model must pass."""

    sample: str
    top: list[tuple[str, float]]  # (class name, probability; for a segmenter: share of the pixels), best first
    note: str = ""  # a warning about the model, e.g. a segmenter that predicts one class everywhere


def _probe_image(d: ModelDescription) -> tuple[str, torch.Tensor]:
    sample = list_samples()[0]
    spec = ModelSpec(name=d.name, task="classification", input_size=d.input_size, resize_size=d.resize_size,
                     licence="", source="", description="", loader=lambda: None)
    return sample.title, to_tensor(prepare_for_model(load_sample(sample.key), spec))


def _load_weights(net: nn.Module, sd: dict[str, torch.Tensor], d: ModelDescription) -> None:
    want = net.state_dict()
    sd = strip_prefixes(sd, set(want))
    missing, unexpected, shapes = compare_state_dicts(sd, want)
    if missing or unexpected or shapes:
        lines = [f"the weights do not fit architecture {d.architecture!r}:"]
        for label, items in (("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatches", shapes)):
            if items:
                more = f" … and {len(items) - 6} more" if len(items) > 6 else ""
                lines.append(f"{len(items)} {label}: {', '.join(items[:6])}{more}")
        only_head = not missing and not unexpected and all(s.split(":")[0] in _head_keys(want) for s in shapes)
        if only_head:
            n = next(sd[k].shape[0] for k in _head_keys(want) if k in sd and sd[k].dim() >= 1)
            lines.append(f"The file's classifier has {n} outputs but there are {d.num_classes} class names: "
                         "set classes (or num_classes) to match.")
        else:
            best = closest_architectures(sd)
            if best:
                lines.append("Closest torchvision architectures for this file: "
                             + ", ".join(f"{a} ({s:.0%} of tensors match)" for a, s in best) + ".")
        raise ModelFileError("\n".join(lines))
    net.load_state_dict(sd, strict=True)


def _head_keys(sd: dict[str, torch.Tensor]) -> list[str]:
    """The last layer's weight and bias (the classifier)."""
    keys = [k for k in sd if k.endswith(("weight", "bias")) and sd[k].dim() in (1, 2)]
    return keys[-2:]


def build_model(d: ModelDescription, weights: dict[str, torch.Tensor] | bytes | None = None,
                weights_name: str = "") -> tuple[nn.Module, Probe]:
    """Build, load, check and probe the model of ``d``; (frozen eval model, probe) or ModelFileError.

    ``weights`` may be given (an upload's bytes or a state dict) instead of ``d.weights``/``d.onnx``.
    """
    if d.onnx is not None or (isinstance(weights, bytes) and weights_name.lower().endswith(".onnx")):
        body = load_onnx(d.onnx) if weights is None else load_onnx_bytes(weights, weights_name)
        check_finite(body.state_dict(), "the ONNX file")
        net: nn.Module = AdaptedNet(body, "onnx")
    else:
        if weights is None:
            sd = read_weights(d.weights)
        elif isinstance(weights, bytes):
            sd = read_weights_bytes(weights, weights_name or "uploaded file")
        else:
            sd = weights
        if segmentation_builder(d.architecture) is not None:
            return _build_segmentation(d, sd)
        fam, _ = resolve(d.architecture)
        if fam == "zoo":
            return _build_zoo(d, sd)
        n_params = sum(v.numel() for v in sd.values())
        if n_params > limits.MAX_MODEL_PARAMS:
            raise ModelFileError(f"the weights hold {n_params:,} numbers; the limit is {limits.MAX_MODEL_PARAMS:,}.")
        try:
            raw = build(d.architecture, d.num_classes, sd)
        except ModelFileError:
            raise
        except Exception as e:  # noqa: BLE001 — builders reject options in their own ways
            raise ModelFileError(f"could not build {d.architecture!r} with {d.num_classes} classes "
                                 f"({type(e).__name__}: {e}).") from None
        _load_weights(raw, sd, d)
        net = raw if fam == "efficientnet_lite" else AdaptedNet(raw, fam)
    model = UserClassifier(net, d).eval()
    label, x = _probe_image(d)
    if isinstance(net, AdaptedNet):
        net.probe_stages(model.normalize(x))
    return model.freeze(), _probe(model, x, label, d)


def _probe(model: nn.Module, x: torch.Tensor, label: str, d: ModelDescription) -> Probe:
    try:
        with torch.no_grad():
            out = model(x)
    except Exception as e:  # noqa: BLE001 — any failure of a user network is reported, not raised through
        raise ModelFileError(f"the model fails on a {tuple(x.shape[2:])} probe image "
                             f"({type(e).__name__}: {str(e).splitlines()[0][:200]}); check input_size.") from None
    if not isinstance(out, torch.Tensor) or out.shape != (1, d.num_classes):
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ModelFileError(f"on a probe image the model returns {shape}, not logits of shape "
                             f"(1, {d.num_classes}) (one per class name).")
    if not bool(torch.isfinite(out).all()):
        raise ModelFileError("on a probe image the model returns NaN or infinite logits.")
    p = out.softmax(1)[0]
    top = p.topk(min(3, d.num_classes))
    return Probe(label, [(d.class_names[i], float(v)) for v, i in zip(top.values, top.indices.tolist())])


def _build_zoo(d: ModelDescription, sd: dict[str, torch.Tensor]) -> tuple[nn.Module, Probe]:
    """A zoo architecture (28×28 grey input, Fashion-MNIST normalisation of its own)."""
    _, name = resolve(d.architecture)
    model = zoo_build(name)
    model.name = d.name
    if d.num_classes != 10:
        raise ModelFileError(f"zoo architectures have 10 classes, not {d.num_classes}.")
    model.class_names = list(d.class_names)
    _load_weights(model.net, sd, d)
    model.eval()
    x = torch.rand(1, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    return model.freeze(), _probe(model, x, "random 28×28 image", d)


def _build_segmentation(d: ModelDescription, sd: dict[str, torch.Tensor]) -> tuple[nn.Module, Probe]:
    """A torchvision segmentation model (core/models/user/segmentation.py): built without
    downloads, weights matched and loaded strictly, probed on a random image of its input size."""
    n_params = sum(v.numel() for v in sd.values())
    if n_params > limits.MAX_MODEL_PARAMS:
        raise ModelFileError(f"the weights hold {n_params:,} numbers; the limit is {limits.MAX_MODEL_PARAMS:,}.")
    net = build_segmentation_net(segmentation_builder(d.architecture), d.num_classes, sd)
    _load_weights(net, sd, d)
    model = UserSegmenter(net, d.name, list(d.class_names), d.input_size, d.mean, d.std).eval()
    try:
        h, w = probe_segmenter(model)
    except ValueError as e:
        raise ModelFileError(str(e) + "; check input_size and the class names.") from None
    except Exception as e:  # noqa: BLE001 — any failure of a user network is reported, not raised through
        raise ModelFileError(f"the model fails on a {d.input_size} probe image "
                             f"({type(e).__name__}: {str(e).splitlines()[0][:200]}); check input_size.") from None
    # The label map on a bundled photo (stretched to input_size): the classes by share of the pixels,
    # and a note when one class covers (almost) every pixel — a degenerate model (core.judging.pages).
    sample = list_samples()[0]
    x = to_tensor(stretch(load_sample(sample.key), tuple(d.input_size)))
    shares = class_shares(model, x)
    top = shares[:3]
    unfit = segmenter_input(top[0][1], top[0][0])
    note = "" if unfit is None else unfit.sentence.replace("The model's clean map", f"On {sample.title} the model's map")
    return model.freeze(), Probe(f"{sample.title} (label map {h}×{w}; share of the pixels per class)", top, note)


# ----------------------------------------------------------------------------- registration

_LOCK = threading.Lock()
_FAILURES: dict[str, str] = {}
_REGISTERED: dict[str, ModelDescription] = {}


def task_of(d: ModelDescription) -> str:
    """The registry task: ``fashion-mnist`` for zoo architectures, ``segmentation`` for torchvision's
    segmentation builders, else ``classification``."""
    if segmentation_builder(d.architecture) is not None:
        return "segmentation"
    return "fashion-mnist" if (d.architecture or "").startswith("zoo:") else "classification"


def register_description(d: ModelDescription) -> None:
    """Register ``d`` (loaded and validated on first use by ``load_model``)."""
    def loader(desc: ModelDescription = d) -> nn.Module:
        try:
            return build_model(desc)[0]
        except ModelFileError as e:
            record_failure(desc.name, str(e))
            raise

    register(ModelSpec(
        name=d.name, task=task_of(d),
        input_size=d.input_size if task_of(d) in ("classification", "segmentation") else (28, 28),
        resize_size=d.resize_size if task_of(d) == "classification" else 0, licence=d.licence,
        source=str(d.onnx or d.weights), description=d.description or f"user model ({d.architecture or 'ONNX'})",
        loader=loader, num_classes=d.num_classes, origin="user"))
    _REGISTERED[d.name] = d


def record_failure(name: str, error: str) -> None:
    """Remember that a user model failed (listed with its error by :func:`failed_models`)."""
    with _LOCK:
        _FAILURES[name] = error


def failed_models() -> list[tuple[str, str]]:
    """[(model or file, error)] for every user model that failed to parse, register or load."""
    with _LOCK:
        return list(_FAILURES.items())


def models_file_path() -> Path | None:
    """``$EXPLORER_MODELS`` if set, else ``models.toml`` at the repository root if present."""
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        return Path(env).expanduser()
    p = ROOT / "models.toml"
    return p if p.is_file() else None


def register_models_file(path: str | Path) -> list[str]:
    """Register every valid model of a description file; failures are recorded, never raised."""
    good, bad = parse_models_file(path)
    names = []
    for label, err in bad:
        record_failure(label, err)
    for d in good:
        if _REGISTERED.get(d.name) == d:  # the same file read twice (default file and --models): already in
            names.append(d.name)
            continue
        if d.name in REGISTERED:
            record_failure(d.name, f"the name {d.name!r} is already registered.")
            continue
        register_description(d)
        names.append(d.name)
    return names


def register_default() -> list[str]:
    """Register the default description file's models (called once by the registry)."""
    p = models_file_path()
    if p is None:
        return []
    try:
        return register_models_file(p)
    except Exception as e:  # noqa: BLE001 — a broken description file must never stop the app
        record_failure(str(p), f"{type(e).__name__}: {e}")
        return []


def use_models_file(path: str | Path) -> list[str]:
    """Use ``path`` as the description file (the ``--models`` option): before the registry is
    first used it replaces the default; afterwards its models are registered at once."""
    os.environ[ENV_VAR] = str(path)
    if "core.models.registry" in sys.modules:  # the default file was read when it was imported
        return register_models_file(path)
    return []


def unregister_user_models(names: list[str]) -> None:
    """Remove user models (tests; a reloaded description file)."""
    for n in names:
        unregister(n)
        _REGISTERED.pop(n, None)
        with _LOCK:
            _FAILURES.pop(n, None)
