"""Feature-map size as a defense setting.

Paper: C. Xu, W. Zhang, J. Wang, M. Yang, *Understanding Adversarial Robustness from Feature
Maps of Convolutional Layers*, arXiv 2202.12435 / IEEE TNNLS 2025; code ``MTandHJ/rcm``
(``Major/models/base.py: ADArch``, ``Major/models/cifar_resnet.py``). Summary:
docs/ALGORITHMS.md.

Claim: larger feature maps before *average* pooling damp a perturbation's effect on the pooled
feature. Two knobs, both applied to a copy of the model (the shared model is never changed):

* **input upsampling** by ``s`` (nearest) inside the wrapper: the attacker still works on the
  original image with the original ε, while every feature map is s× larger. rcm interpolates
  after normalisation; with nearest upsampling and per-channel normalisation the two orders
  give the same tensor.
* **stride 1** for chosen downsampling stages (rcm's ``strides`` string): on a ``deepcopy``,
  ``first_block_of_stage(name)._depthwise_conv.stride = (1, 1)``; ``SameConv2d`` recomputes
  its padding, parameter shapes are unchanged and the weights load as they are. Every later map
  doubles in each dimension.

Deviation (stated in the app): the paper's gains come from *training* with the modification;
here the pretrained weights are used untouched, so clean accuracy may drop (objects change
scale relative to the receptive fields). Cost: about s² times a plain pass; a stride-1 stage
costs about 1.5–2× for the late stages.

Reusable pieces: :func:`build_feature_size_model` and :func:`stage_sizes` (used by the
explanation pages), :func:`downsampling_stages`.
"""
from __future__ import annotations

import copy
import threading
import weakref

import torch
import torch.nn.functional as F
from torch import nn

from core.runtime import limits
from core.defenses.base import Defense, DefenseOutput
from core.defenses.common import fast
from core.runtime.progress import ProgressFn


class UpsampledClassifier(nn.Module):
    """A classifier on [0, 1] input that first upsamples the input by ``scale`` (nearest).

    Exposes the probing API of :class:`~core.models.wrappers.ImageClassifier`
    (``forward_features``, ``forward_head``, ``stage_names``, ``classifier_weight``,
    ``class_names``, ``input_size``) so explanation code can use it like any model.
    """

    def __init__(self, model: nn.Module, scale: float) -> None:
        super().__init__()
        self.model = model
        self.scale = float(scale)
        self.class_names = getattr(model, "class_names", None)
        self.input_size = getattr(model, "input_size", None)
        self.name = f"{getattr(model, 'name', '')} (×{self.scale:g} nearest)"

    def train(self, mode: bool = True):  # noqa: D102
        if mode:
            raise RuntimeError("evaluation-only")
        return super().train(False)

    def upsample(self, x: torch.Tensor) -> torch.Tensor:
        if self.scale == 1.0:
            return x
        h, w = x.shape[-2:]
        return F.interpolate(x, size=(round(h * self.scale), round(w * self.scale)), mode="nearest")

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.model(self.upsample(x))

    @property
    def stage_names(self) -> list[str]:
        return list(self.model.stage_names)

    def forward_features(self, x: torch.Tensor, keep: tuple[str, ...] = ()):
        return self.model.forward_features(self.upsample(x), keep)

    def forward_head(self, fmap: torch.Tensor) -> torch.Tensor:
        return self.model.forward_head(fmap)

    @property
    def classifier_weight(self) -> torch.Tensor:
        return self.model.classifier_weight


def _net(model: nn.Module) -> nn.Module:
    return getattr(model, "net", model)


def downsampling_stages(model: nn.Module) -> list[str]:
    """Stages whose first block downsamples (stride 2), i.e. the ones a stride change affects."""
    net = _net(model)
    if not hasattr(net, "first_block_of_stage"):
        return []
    out = []
    for name in model.stage_names:
        if name.startswith("stage"):
            if net.first_block_of_stage(name)._depthwise_conv.stride != (1, 1):
                out.append(name)
    return out


_CACHE: weakref.WeakKeyDictionary[nn.Module, dict] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def _stride_copy(model: nn.Module, stride1_stages: tuple[str, ...]) -> nn.Module:
    """A cached deep copy of ``model`` with stride 1 in the given stages (the original untouched)."""
    if not stride1_stages:
        return model
    key = tuple(sorted(stride1_stages))
    with _LOCK:
        per_model = _CACHE.setdefault(model, {})
        if key not in per_model:
            allowed = downsampling_stages(model)
            bad = [s for s in key if s not in allowed]
            if bad:
                raise ValueError(f"stages {bad} do not downsample; choose from {allowed}")
            clone = copy.deepcopy(model)
            net = _net(clone)
            for s in key:
                net.first_block_of_stage(s)._depthwise_conv.stride = (1, 1)
            clone.eval()
            if hasattr(clone, "name"):
                clone.name = f"{getattr(model, 'name', '')} (stride 1: {', '.join(key)})"
            per_model[key] = clone
        return per_model[key]


def build_feature_size_model(model: nn.Module, upsample: float = 1.0,
                             stride1_stages: tuple[str, ...] = ()) -> nn.Module:
    """The model with input upsampling by ``upsample`` (nearest) and stride 1 in
    ``stride1_stages``. Returns ``model`` itself for (1, ()); copies are cached per model."""
    if not 1.0 <= float(upsample) <= limits.MAX_UPSAMPLE:
        raise ValueError(f"upsample must be in [1, {limits.MAX_UPSAMPLE}]")
    m = _stride_copy(model, tuple(stride1_stages))
    if float(upsample) != 1.0:
        m = UpsampledClassifier(m, upsample)
    return m


@torch.no_grad()
def stage_sizes(model: nn.Module, input_hw: tuple[int, int]) -> dict[str, tuple[int, int, int]]:
    """(channels, height, width) of every named stage for an input of size ``input_hw``,
    measured with one forward pass of a zero image."""
    if not list(getattr(model, "stage_names", [])):
        return {}  # a user model without named stages (core.models.user.architectures)
    dev = next((p.device for p in model.parameters()), torch.device("cpu"))
    x = torch.zeros(1, 3, *input_hw, device=dev)
    _, kept = model.forward_features(x, keep=tuple(model.stage_names))
    return {k: tuple(int(s) for s in v.shape[1:]) for k, v in kept.items()}


class FeatureMapSize(Defense):
    """Larger feature maps before average pooling, on the pretrained model (untrained variant)."""

    name = "Feature-map size"
    paper = "Xu, Zhang, Wang, Yang: Understanding Adversarial Robustness from Feature Maps of Convolutional Layers (TNNLS 2025)"
    summary = ("Makes the feature maps before the final average pooling larger, by upsampling the input inside "
               "the model and/or removing a downsampling step, so a perturbation is averaged over more positions. "
               "The paper trains with the change; here the pretrained weights are reused, so expect some "
               "clean-accuracy loss. It is differentiable: attacks use ordinary gradients.")
    adaptive_route = "plain"

    def __init__(self, model: nn.Module, *, upsample: float = 2.0, stride1_stages: tuple[str, ...] = ()) -> None:
        super().__init__(model)
        self.upsample = float(upsample)
        self.stride1_stages = tuple(stride1_stages)
        self.variant = build_feature_size_model(model, self.upsample, self.stride1_stages)

    def params(self) -> dict:
        return {"upsample": self.upsample, "stride1_stages": list(self.stride1_stages)}

    def _defend(self, x: torch.Tensor, *, seed: int, progress: ProgressFn) -> DefenseOutput:
        logits = self._adaptive_forward(x, seed)
        shown = self.variant.upsample(x) if isinstance(self.variant, UpsampledClassifier) else x
        hw = tuple(x.shape[-2:])
        return DefenseOutput(logits=logits, x_classified=shown.detach(),
                             diagnostics={"stage_sizes": stage_sizes(self.variant, hw),
                                          "plain_stage_sizes": stage_sizes(self.model, hw),
                                          "params": self.params()})

    def _adaptive_forward(self, x: torch.Tensor, seed: int) -> torch.Tensor:
        v = self.variant
        if isinstance(v, UpsampledClassifier):
            return fast(v.model)(v.upsample(x))
        return fast(v)(x)

    _naive_forward = _adaptive_forward
