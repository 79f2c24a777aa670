"""The Model zoo page's computation: one Fashion-MNIST image attacked on each chosen zoo model,
plus the explanation views that compare training methods — saliency of the J-SIGR model against
the standard one (:func:`saliency_pair`) and the channels of the CIFS model against PGD-AT.

Models of the explanation views that the user did not choose are attacked as well (same attack,
same seed), so the views always have their adversarial images. A chosen model of another
architecture family (:mod:`core.models.zoo.families`: ZeroSNet, ResNet, ViT, neural ODEs, …)
joins each view its family offers (``saliency``, ``channels``); :func:`missing_views` says in
words what a chosen model's family does not offer, for the page to show.
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
from core.runtime.progress import ProgressFn, stage
from core.evaluation.zoo.under_attack import ModelOutcome, attack_each, cifs_masks

# Extra settings of the saliency methods on 28×28 images (the blur map's stride and radius).
SAL_PARAMS: dict[str, dict] = {"perturbation": {"stride": 4, "radius": 3.0}, "smoothgrad": {"seed": 0}}
SALIENCY_MODELS = ("fmnist-standard", "fmnist-jsigr")
CHANNEL_MODELS = ("fmnist-pgd-at", "fmnist-cifs")


def _offers(name: str, view: str) -> bool:
    """The zoo model ``name``'s architecture family offers ``view`` (unknown names: no)."""
    e = ZOO_BY_NAME.get(name)
    return e is not None and view in e.arch_family.offers


def view_models(chosen: list[str], view: str) -> list[str]:
    """The models a view shows: its fixed pair, then the chosen models of other architecture
    families (not the CNN) whose family offers ``view`` ("saliency" or "channels")."""
    fixed = SALIENCY_MODELS if view == "saliency" else CHANNEL_MODELS
    extra = [n for n in chosen if n not in fixed and n in ZOO_BY_NAME and ZOO_BY_NAME[n].family != "cnn"
             and _offers(n, view)]
    return [*fixed, *extra]


def missing_views(chosen: list[str]) -> dict[str, list[str]]:
    """{chosen model: the views its architecture family does not offer, in words} (only models
    that miss something)."""
    out = {}
    for n in chosen:
        e = ZOO_BY_NAME.get(n)
        if e is not None and e.arch_family.missing():
            out[n] = e.arch_family.missing()
    return out


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
    by_name: dict[str, ModelOutcome]  # also the explanation views' models
    saliency: dict[str, tuple[np.ndarray, np.ndarray, float]] = field(default_factory=dict)
    channels: dict[str, ChannelAnalysis] = field(default_factory=dict)
    cifs_masks: tuple[dict, dict] | None = None  # the CIFS model's masks on the clean and attacked image


def zoo_experiment(load: Callable[[str], nn.Module], available: list[str], chosen: list[str], x: torch.Tensor,
                   label: int, attack: str, eps: float, steps: int, seed: int, saliency_method: str = "saliency",
                   progress: ProgressFn = None) -> ZooRun:
    """Attack ``x`` on each chosen model and compute the explanation views (see the module
    docstring). ``load(name)`` gives a zoo model; ``available`` lists the installed ones."""
    models = {n: load(n) for n in chosen}
    extra = {n: load(n) for n in (*SALIENCY_MODELS, *CHANNEL_MODELS) if n in available and n not in models}
    outcomes = attack_each(models, x, label, attack, eps, steps, seed,
                           progress=stage(progress, 0, 2 if extra else 1, "chosen models"))
    by_name = {o.name: o for o in outcomes}
    if extra:
        for o in attack_each(extra, x, label, attack, eps, steps, seed,
                             progress=stage(progress, 1, 2, "models of the explanation views")):
            by_name[o.name] = o
    run = ZooRun(outcomes, by_name)
    for n in view_models(chosen, "saliency"):
        if n in by_name:
            run.saliency[n] = saliency_pair(load(n), x, by_name[n].x_adv, label, saliency_method)
    for n in view_models(chosen, "channels"):
        if n in by_name:
            m = load(n)
            run.channels[n] = analyse_channels(m, x, by_name[n].x_adv, channel_stage(m), label)
    if "fmnist-cifs" in by_name:
        m = load("fmnist-cifs")
        run.cifs_masks = (cifs_masks(m, x), cifs_masks(m, by_name["fmnist-cifs"].x_adv))
    return run


__all__ = ["SAL_PARAMS", "ZooRun", "channel_stage", "missing_views", "saliency_pair", "view_models", "zoo_experiment"]
