"""The Model zoo page's computation: one Fashion-MNIST image attacked on each chosen zoo model,
plus the explanation views that compare training methods — saliency maps (:func:`saliency_pair`)
and channel analyses — of exactly the chosen models.

Every view shows the chosen models only (issue 39: a view that showed models the user had not
chosen, or silently left one out, read as a claim about the wrong models). A chosen model joins
each view its architecture family (:mod:`core.models.zoo.families`) offers (``saliency``,
``channels``); :func:`view_gaps` says, per view, which chosen models it cannot show and why, and
:func:`missing_views` lists what each chosen family does not offer. The CIFS mask figure needs the
CIFS model among the chosen ones.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from core.explain.channels import ChannelAnalysis, analyse_channels
from core.explain.saliency import METHODS, compute_map, spearman
from core.models.zoo.catalogue import ZOO_BY_NAME
from core.models.zoo.net import FMNIST_CLASSES
from core.judging.pages import Verdict, classification
from core.models.zoo.families import VIEW_TEXT
from core.runtime.progress import ProgressFn, stage
from core.evaluation.zoo.under_attack import ModelOutcome, attack_each, cifs_masks

# Extra settings of the saliency methods on 28×28 images (the blur map's stride and radius).
SAL_PARAMS: dict[str, dict] = {"perturbation": {"stride": 4, "radius": 3.0}, "smoothgrad": {"seed": 0}}
VIEW_LIMIT = 6  # at most this many models in one saliency figure or one row of channel profiles (legible at 1440 px)


def _offers(name: str, view: str) -> bool:
    """The zoo model ``name``'s architecture family offers ``view`` (unknown names: no)."""
    e = ZOO_BY_NAME.get(name)
    return e is not None and view in e.arch_family.offers


def view_models(chosen: list[str], view: str) -> list[str]:
    """The chosen models a view shows, in the order chosen: those whose family offers ``view``
    ("saliency" or "channels"), at most :data:`VIEW_LIMIT`."""
    return [n for n in chosen if _offers(n, view)][:VIEW_LIMIT]


def view_gaps(chosen: list[str], view: str) -> dict[str, str]:
    """{chosen model the view does not show: why, in words}."""
    shown = set(view_models(chosen, view))
    out = {}
    for n in chosen:
        if n in shown:
            continue
        e = ZOO_BY_NAME.get(n)
        if e is None:
            out[n] = "not a zoo model"
        elif not _offers(n, view):
            out[n] = f"its architecture ({e.arch_family.title}) has no {VIEW_TEXT[view].split(' (')[0]}"
        else:
            out[n] = f"at most {VIEW_LIMIT} models fit one figure (the first {VIEW_LIMIT} chosen are shown)"
    return out


def missing_views(chosen: list[str]) -> dict[str, list[str]]:
    """{chosen model: the views its architecture family does not offer, in words} (only models
    that miss something)."""
    out = {}
    for n in chosen:
        e = ZOO_BY_NAME.get(n)
        if e is not None and e.arch_family.missing():
            out[n] = e.arch_family.missing()
    return out


def outcome_verdict(o: ModelOutcome, class_names: list[str] | tuple[str, ...] = FMNIST_CLASSES) -> Verdict:
    """One model's verdict on the page's image (:func:`core.judging.pages.classification`): held /
    held narrowly / flipped, or already wrong / near chance before the attack."""
    names = list(class_names)
    clean_p = float(o.clean_probs.max())
    return classification(names[o.label], names[o.clean_pred], clean_p, o.clean_pred == o.label,
                          names[o.adv_pred], o.adv_pred == o.label, float(o.adv_probs[o.label]), len(names))


def channel_stage(model: nn.Module) -> str:
    """The map the channel view analyses: the CNN's ``head`` (the last map before pooling, where
    CIFS acts), else the family's last named stage (the neural ODEs' ``ode``: the state at the end
    time, which the head pools)."""
    names = list(model.stage_names)
    return "head" if "head" in names else names[-1]


def saliency_pair(model: nn.Module, x_clean: torch.Tensor, x_adv: torch.Tensor, target: int,
                  method: str = "saliency") -> tuple[np.ndarray, np.ndarray, float]:
    """Maps of ``method`` on the clean and attacked image (each scaled to max 1 for display; signed
    maps by magnitude) and the Spearman ρ between the clean gradient map and the clean
    blur-perturbation map (how much the gradients agree with J-SIGR's reference map)."""
    p = SAL_PARAMS.get(method, {})
    m_clean = compute_map(model, x_clean, method, target, **p)[0]
    m_adv = compute_map(model, x_adv, method, target, **p)[0]
    grad = compute_map(model, x_clean, "saliency", target)[0]
    pert = compute_map(model, x_clean, "perturbation", target, **SAL_PARAMS["perturbation"])[0]
    signed = METHODS[method].signed

    def unit(m: torch.Tensor) -> np.ndarray:
        m = m.abs() if signed else m
        return (m / m.max().clamp_min(1e-12)).numpy()

    return unit(m_clean), unit(m_adv), spearman(grad, pert)


@dataclass
class ZooRun:
    """What the zoo page shows after a run."""

    outcomes: list[ModelOutcome]  # the chosen models, in order
    by_name: dict[str, ModelOutcome]  # the chosen models by name
    saliency: dict[str, tuple[np.ndarray, np.ndarray, float]] = field(default_factory=dict)
    channels: dict[str, ChannelAnalysis] = field(default_factory=dict)
    cifs_masks: tuple[dict, dict] | None = None  # the CIFS model's masks on the clean and attacked image


def zoo_experiment(load: Callable[[str], nn.Module], available: list[str], chosen: list[str], x: torch.Tensor,
                   label: int, attack: str, eps: float, steps: int, seed: int, saliency_method: str = "saliency",
                   progress: ProgressFn = None) -> ZooRun:
    """Attack ``x`` on each chosen model and compute the explanation views (see the module
    docstring). ``load(name)`` gives a zoo model; ``available`` (the installed ones) is kept for the callers:
    every view uses the chosen models only."""
    models = {n: load(n) for n in chosen}
    outcomes = attack_each(models, x, label, attack, eps, steps, seed, progress=stage(progress, 0, 1, "chosen models"))
    by_name = {o.name: o for o in outcomes}
    run = ZooRun(outcomes, by_name)
    for n in view_models(chosen, "saliency"):
        run.saliency[n] = saliency_pair(models[n], x, by_name[n].x_adv, label, saliency_method)
    for n in view_models(chosen, "channels"):
        m = models[n]
        run.channels[n] = analyse_channels(m, x, by_name[n].x_adv, channel_stage(m), label)
    if "fmnist-cifs" in models:
        m = models["fmnist-cifs"]
        run.cifs_masks = (cifs_masks(m, x), cifs_masks(m, by_name["fmnist-cifs"].x_adv))
    return run


__all__ = ["SAL_PARAMS", "VIEW_LIMIT", "ZooRun", "channel_stage", "missing_views", "outcome_verdict", "saliency_pair", "view_gaps", "view_models",
           "zoo_experiment"]
