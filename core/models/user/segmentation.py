"""Segmentation models the user supplies: torchvision's FCN, DeepLabV3 and LR-ASPP.

A ``[[model]]`` table of the description file (:mod:`core.models.user.models_file`) whose
``architecture`` is one of torchvision's segmentation builders (:data:`SEGMENTATION_BUILDERS`:
``torchvision.models.segmentation.*``, optionally written ``segmentation:<name>``) describes a
segmentation model: it is built with ``weights=None, weights_backbone=None`` (nothing is ever
downloaded), ``num_classes`` = the number of class names and, for FCN/DeepLabV3, ``aux_loss``
as the weights file says (an ``aux_classifier`` in the file); the user's weights are matched key
by key and loaded with ``strict=True``, then the model is probed on a random image of
``input_size`` (finite logits of shape (1, C, H, W)). Models by:

* FCN — Long, Shelhamer, Darrell, CVPR 2015;
* DeepLabV3 — Chen, Papandreou, Schroff, Adam, arXiv 1706.05587 (2017);
* LR-ASPP — Howard et al., *Searching for MobileNetV3*, ICCV 2019.

:class:`UserSegmenter` gives them the interface of the bundled segmenters (normalisation
inside, ``forward_logits``/``forward_features(x, keep, resize=...)``, ``input_size``,
``class_names``), so the Segmentation page's multi-class path, the dense attacks and the
equivariance defense run on them unchanged. The images are stretched to ``input_size``
(``resize`` is ignored for segmentation: the label map covers the whole photo).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from core.models.wrappers import ReadOnlyMixin

SEGMENTATION_BUILDERS = ("fcn_resnet50", "fcn_resnet101", "deeplabv3_resnet50", "deeplabv3_resnet101",
                         "deeplabv3_mobilenet_v3_large", "lraspp_mobilenet_v3_large")
PREFIX = "segmentation:"


def segmentation_builder(arch: str | None) -> str | None:
    """The torchvision segmentation builder named by ``arch`` (None when it is not one)."""
    if not arch:
        return None
    a = arch.strip()
    for p in (PREFIX, "torchvision.models.segmentation.", "torchvision:"):
        if a.startswith(p):
            a = a[len(p):]
    return a if a in SEGMENTATION_BUILDERS else None


def build_segmentation_net(name: str, num_classes: int, sd: dict[str, torch.Tensor] | None = None) -> nn.Module:
    """An untrained torchvision segmentation network (no download: weights=None, weights_backbone=None)."""
    if name not in SEGMENTATION_BUILDERS:
        raise ValueError(f"{name!r} is not a torchvision segmentation builder; known: {', '.join(SEGMENTATION_BUILDERS)}")
    kwargs: dict = {"weights": None, "weights_backbone": None, "num_classes": int(num_classes)}
    if not name.startswith("lraspp"):
        kwargs["aux_loss"] = bool(sd is not None and any(k.startswith("aux_classifier.") for k in sd))
    return torchvision.models.get_model(name, **kwargs)


class UserSegmenter(ReadOnlyMixin, nn.Module):
    """A torchvision segmentation network on [0, 1] input with the bundled segmenters' interface."""

    def __init__(self, net: nn.Module, name: str, class_names: list[str], input_size: tuple[int, int],
                 mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        super().__init__()
        self.net = net
        self.name = name
        self.class_names = list(class_names)
        self.num_classes = len(class_names)
        self.input_size = tuple(input_size)
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    @property
    def stage_names(self) -> list[str]:
        return []

    def resize_input(self, x: torch.Tensor) -> torch.Tensor:
        """Stretch to ``input_size`` (bilinear; no-op at that size)."""
        if tuple(x.shape[-2:]) == self.input_size:
            return x
        return F.interpolate(x, size=self.input_size, mode="bilinear", align_corners=False)

    def forward_features(self, x: torch.Tensor, keep: tuple[str, ...] = (), *,
                         resize: bool = True) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """(logits (N, C, h, w) at the input's size, {}); only the logits are exposed."""
        if keep:
            raise KeyError(f"user segmentation models expose only their logits, not {', '.join(keep)}")
        if resize:
            x = self.resize_input(x)
        out = self.net((x - self.mean) / self.std)
        return (out["out"] if isinstance(out, dict) else out), {}

    def forward_logits(self, x: torch.Tensor, *, resize: bool = True) -> torch.Tensor:
        """Class logits (N, C, h, w)."""
        return self.forward_features(x, resize=resize)[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.forward_logits(x)


def class_shares(model: UserSegmenter, x: torch.Tensor) -> list[tuple[str, float]]:
    """[(class name, share of the pixels)] of ``model``'s label map of ``x`` (1, 3, H, W), largest
    first, classes present only."""
    with torch.no_grad():
        pred = model(x).argmax(1).flatten()
    counts = torch.bincount(pred, minlength=model.num_classes).double() / pred.numel()
    order = counts.argsort(descending=True).tolist()
    return [(model.class_names[c], float(counts[c])) for c in order if counts[c] > 0]


def probe_segmenter(model: UserSegmenter) -> tuple[int, int]:
    """Run ``model`` on a random image of its input size; the (h, w) of its logits. Raises
    ValueError when the output is not finite (1, C, h, w) logits."""
    x = torch.rand(1, 3, *model.input_size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        out = model(x)
    if not isinstance(out, torch.Tensor) or out.dim() != 4 or out.shape[:2] != (1, model.num_classes):
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(f"on a probe image the model returns {shape}, not logits of shape "
                         f"(1, {model.num_classes}, H, W) (one map per class name)")
    if not bool(torch.isfinite(out).all()):
        raise ValueError("on a probe image the model returns NaN or infinite logits")
    return int(out.shape[-2]), int(out.shape[-1])
