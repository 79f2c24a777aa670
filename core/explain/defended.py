"""What the "defended" column of the explanation pages explains.

Two defenses from :mod:`core.defenses` have a natural reading as "the same question, asked of a
defended system":

* **JPEG re-encoding** (an input transform; Dziugaite et al. 2016, Guo et al. ICLR 2018): the
  undefended model is explained on the JPEG-compressed adversarial image, i.e. on what the
  defended system actually classifies.
* **CIFS-lite** (channel mask before the head; see :mod:`core.defenses.cifs_lite`): the model
  with the mask inserted between ``forward_features`` and ``forward_head`` is explained on the
  adversarial image. :class:`HeadTransformed` keeps the probing API, so Grad-CAM and the channel
  analysis work on it too.

Defenses that purify by optimisation or average over noise (equivariance purification,
randomized smoothing, Smooth-Reduce) are left out here: their gradient maps would mostly show
the defense's own machinery or its random draws.
"""
from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Callable

import torch
from torch import nn

from core.defenses.transforms import JPEGDefense
from core.explain.channels import HeadTransform, cifs_lite_transform

DEFENDED_OPTIONS = ("JPEG re-encoding", "CIFS-lite (untrained, exploratory)")


class HeadTransformed(nn.Module):
    """A classifier whose pre-pool map passes through ``transform`` before the head.

    Offers ``forward_features``/``forward_head``/``stage_names``/``classifier_weight`` like
    :class:`core.models.wrappers.ImageClassifier`; the shared model inside is only called.
    """

    def __init__(self, model: nn.Module, transform: HeadTransform, name: str = "") -> None:
        super().__init__()
        self.model = model
        self.transform = transform
        self.name = name
        self.class_names = getattr(model, "class_names", None)
        self.input_size = getattr(model, "input_size", None)
        self.training = False  # evaluation-only; never switches the shared model

    def train(self, mode: bool = True):  # noqa: D102
        if mode:
            raise RuntimeError("evaluation-only")
        return self

    @property
    def stage_names(self) -> list[str]:
        return list(self.model.stage_names)

    @property
    def classifier_weight(self) -> torch.Tensor:
        return self.model.classifier_weight

    def forward_features(self, x: torch.Tensor, keep: tuple[str, ...] = ()):  # noqa: D102
        return self.model.forward_features(x, keep)

    def forward_head(self, fmap: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.model.forward_head(self.transform(fmap))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.forward_head(self.forward_features(x)[0])


@dataclass
class DefendedView:
    """The model to explain and the image transform that make up the defended column."""

    label: str
    model: nn.Module
    transform: Callable[[torch.Tensor], torch.Tensor]
    note: str


def defended_view(model: nn.Module, name: str, *, jpeg_quality: int = 75,
                  cifs_temperature: float = 1.0) -> DefendedView:
    """The defended system ``name`` (one of :data:`DEFENDED_OPTIONS`) around ``model``."""
    if name == "JPEG re-encoding":
        d = JPEGDefense(model, quality=jpeg_quality)
        return DefendedView(f"JPEG q={jpeg_quality}", model, d.transform,
                            "the adversarial image after JPEG compression, explained on the same model")
    if name.startswith("CIFS-lite"):
        m = HeadTransformed(model, cifs_lite_transform(model, cifs_temperature), name=f"CIFS-lite T={cifs_temperature:g}")
        return DefendedView(f"CIFS-lite T={cifs_temperature:g}", m, lambda x: x,
                            "the adversarial image, explained on the model with the CIFS-lite channel mask")
    raise KeyError(f"unknown defended view {name!r}; known: {', '.join(DEFENDED_OPTIONS)}")
