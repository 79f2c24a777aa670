"""Defenses: one file per defense, all sharing :mod:`core.defenses.base`.

``DEFENSES`` maps the names the app shows to the defense classes (each has ``summary``,
``paper``, ``adaptive_route``); ``DEFENSE_PARAMS`` describes their settings for widgets;
``make_defense(name, model, **params)`` builds one (``preset="paper"`` for the equivariance
defense's paper settings).

How an attacker gets through each (``adaptive_route``):

=============================  ======  =====================================================
defense                        route   naive module (``as_model(adaptive=False)``)
=============================  ======  =====================================================
JPEG re-encoding               bpda    zero gradient (8-bit codec, no autograd graph)
Bit-depth reduction            bpda    zero gradient (rounding)
Median filter                  bpda    autograd through the median (one pixel per window)
Equivariance purification      bpda    identity Jacobian (v is optimised with detached
                                       gradients), i.e. the same as BPDA; the paper's
                                       stronger attacker: ``EquivarianceAwarePGD``
Randomized smoothing           eot     the base model on one noise draw
Smooth-Reduce                  eot     the patch ensemble on one noise draw
Feature-map size               plain   plain (differentiable)
CIFS-lite                      plain   plain (mask is piecewise constant in the input)
=============================  ======  =====================================================
"""
from __future__ import annotations

from typing import Any

from torch import nn

from core.runtime import limits
from core.defenses.base import (AdaptiveRoute, Certificate, Defense, DefendedModel, DefenseOutput,
                                bpda_identity)
from core.defenses.cifs_lite import CIFSLite
from core.defenses.equivariance import EquivarianceAwarePGD, EquivariancePurification
from core.defenses.equivariance_views import CPU_VIEWS, PAPER_VIEWS, VIEW_RECIPES
from core.defenses.feature_size import FeatureMapSize, downsampling_stages
from core.defenses.smoothing import RandomizedSmoothing, SmoothReduce
from core.defenses.specs import ParamSpec
from core.defenses.transforms import BitDepthDefense, JPEGDefense, MedianFilterDefense
from core.models.user.architectures import CAPABILITY_TEXT, capabilities

DEFENSES: dict[str, type[Defense]] = {
    "JPEG": JPEGDefense,
    "Bit-depth reduction": BitDepthDefense,
    "Median filter": MedianFilterDefense,
    "Equivariance purification": EquivariancePurification,
    "Randomized smoothing": RandomizedSmoothing,
    "Smooth-Reduce": SmoothReduce,
    "Feature-map size": FeatureMapSize,
    "CIFS-lite (untrained, exploratory)": CIFSLite,
}


def _spatial_stages(model: Any) -> list[str]:
    names = list(getattr(model, "stage_names", []))
    return [n for n in names if n not in ("stem",)] or ["head"]


DEFENSE_PARAMS: dict[str, tuple[ParamSpec, ...]] = {
    "JPEG": (
        ParamSpec("quality", "JPEG quality", "int", 75, 5, 95, 5, help="Lower quality removes more detail."),
    ),
    "Bit-depth reduction": (
        ParamSpec("bits", "Bits per channel", "int", 5, 1, 8, 1, help="5 bits = 32 levels per channel."),
    ),
    "Median filter": (
        ParamSpec("kernel", "Window (k×k)", "choice", 3, choices=(3, 5, 7)),
    ),
    "Equivariance purification": (
        ParamSpec("method", "Method", "choice", "equivariance", choices=("equivariance", "invariance", "random"),
                  help="'invariance' and 'random' are the paper's baselines: cosine of pooled features, and "
                       "a random reversal vector of the same budget."),
        ParamSpec("eps_v", "Reversal budget ε_v (k/255)", "k255", 6, 0, 32, 1,
                  help="L∞ budget of the reversal vector; the paper uses 1.5× the attack's ε."),
        ParamSpec("steps", "Steps T", "int", 5, 1, 40, 1),
        ParamSpec("views", "Views", "multichoice", CPU_VIEWS, choices=tuple(VIEW_RECIPES),
                  help="Transforms whose back-warped feature maps must agree. Each costs about one "
                       "forward+backward per step (×s² for a resize by s)."),
        ParamSpec("stage", "Feature stage", "choice", "stage6", choices=("stage4", "stage5", "stage6", "stage7", "head"),
                  choices_from_model=_spatial_stages),
        ParamSpec("noise", "Annealed noise", "choice", "annealed", choices=("annealed", "off", "paper"),
                  help="'annealed': Gaussian noise as large as the normalised gradient, shrinking to zero; "
                       "'paper': the reference code's N(0, 1) on a unit-norm gradient (noise dominates)."),
    ),
    "Randomized smoothing": (
        ParamSpec("sigma", "Noise σ", "float", 0.25, 0.05, 1.0, 0.05),
        ParamSpec("n0", "Selection samples n0", "int", 16, 4, 1000, 4),
        ParamSpec("n", "Estimation samples n", "int", 128, 16, 10_000, 16),
        ParamSpec("alpha", "Failure probability α", "choice", 0.001, choices=(0.1, 0.05, 0.01, 0.001)),
        ParamSpec("eot_samples", "EOT samples (adaptive attack)", "int", 8, 1, limits.MAX_EOT_SAMPLES, 1),
    ),
    "Smooth-Reduce": (
        ParamSpec("sigma", "Noise σ", "float", 0.25, 0.05, 1.0, 0.05),
        ParamSpec("n0", "Selection samples n0", "int", 8, 4, 1000, 4),
        ParamSpec("n", "Estimation samples n", "int", 64, 16, 10_000, 16),
        ParamSpec("alpha", "Failure probability α", "choice", 0.001, choices=(0.1, 0.05, 0.01, 0.001)),
        ParamSpec("reduction", "Reduce patch logits by", "choice", "mean", choices=("mean", "max")),
        ParamSpec("stride", "Patch stride (px, after resizing to input+32)", "choice", 32, choices=(32, 16)),
        ParamSpec("eot_samples", "EOT samples (adaptive attack)", "int", 4, 1, limits.MAX_EOT_SAMPLES, 1),
    ),
    "Feature-map size": (
        ParamSpec("upsample", "Input upsampling s (nearest)", "choice", 2.0, choices=(1.0, 1.5, 2.0)),
        ParamSpec("stride1_stages", "Stride 1 in stages", "multichoice", (), choices=("stage2", "stage3", "stage4", "stage6"),
                  choices_from_model=downsampling_stages,
                  help="Removing a downsampling step doubles every later feature map."),
    ),
    "CIFS-lite (untrained, exploratory)": (
        ParamSpec("temperature", "Mask temperature T", "choice", 1.0, choices=(0.1, 0.3, 1.0, 3.0, 10.0, float("inf")),
                  help="T → ∞ leaves the channels unchanged."),
    ),
}


def default_params(name: str) -> dict[str, Any]:
    """The default constructor keywords of a registered defense."""
    return {p.name: p.default_value() for p in DEFENSE_PARAMS.get(name, ())}


# What a defense needs from the model (core.models.user.architectures.capabilities); user models may lack it.
NEEDS = {"Equivariance purification": "head", "CIFS-lite (untrained, exploratory)": "cam"}


def make_defense(name: str, model: nn.Module, preset: str | None = None, **params: Any) -> Defense:
    """The defense registered under ``name`` around ``model``. ``preset="paper"`` selects the
    paper's settings where a defense has them (equivariance purification)."""
    try:
        cls = DEFENSES[name]
    except KeyError:
        raise KeyError(f"unknown defense {name!r}; known: {', '.join(DEFENSES)}") from None
    need = NEEDS.get(name)
    if need is not None:
        if need not in capabilities(model):
            raise ValueError(f"needs {CAPABILITY_TEXT[need]}; {getattr(model, 'name', '') or 'this model'} has none")
    if preset == "paper":
        if not hasattr(cls, "paper_settings"):
            raise ValueError(f"{name} has no paper preset")
        return cls.paper_settings(model, **params)
    if preset not in (None, "", "cpu"):
        raise ValueError(f"unknown preset {preset!r}")
    return cls(model, **params)


__all__ = ["AdaptiveRoute", "BitDepthDefense", "CIFSLite", "Certificate", "DEFENSES", "DEFENSE_PARAMS", "Defense",
           "DefendedModel", "DefenseOutput", "EquivarianceAwarePGD", "EquivariancePurification", "FeatureMapSize",
           "JPEGDefense", "MedianFilterDefense", "PAPER_VIEWS", "ParamSpec", "RandomizedSmoothing", "SmoothReduce",
           "bpda_identity", "default_params", "make_defense"]
