"""The Channels page's experiment: channel relevance and activations of the plain model on a clean
and an attacked image, and optionally the same with the CIFS-lite channel mask.

Plain model: attack the model (label = its own clean prediction), then
:func:`core.explain.channels.analyse_channels` at ``stage`` for the clean class (or the
adversarial prediction). CIFS-lite (:func:`core.explain.channels.cifs_lite_transform`, a
training-free mask that reuses the classifier's weights; not the paper's trained probes): the
model with the mask applied to its last map; the adversarial image is made against that masked
model when ``adaptive`` (the attacker knows the mask), else the plain model's is reused.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from core.explain.analysis import predict
from core.attacks import Goal, ThreatModel, make_attack
from core.explain.channels import ChannelAnalysis, analyse_channels, cifs_lite_transform
from core.explain.defended import HeadTransformed
from core.runtime.progress import ProgressFn, stage as progress_stage


@dataclass
class ChannelRun:
    """One side of the experiment: the analysis, the adversarial image and the logits."""

    analysis: ChannelAnalysis
    x_adv: torch.Tensor
    adv_logits: torch.Tensor  # (classes,)
    clean_logits: torch.Tensor  # (classes,)


@dataclass
class ChannelExperiment:
    plain: ChannelRun
    cifs: ChannelRun | None = None


def channel_experiment(model: nn.Module, x: torch.Tensor, attack_name: str, threat: ThreatModel,
                       params: dict | None = None, goal: Goal | None = None, seed: int = 0, *,
                       stage: str = "head", relevance_to: str = "clean", cifs: bool = True,
                       temperature: float = 1.0, adaptive: bool = True,
                       progress: ProgressFn = None) -> ChannelExperiment:
    """Plain-vs-CIFS-lite channel analysis of one image (see the module docstring).
    ``relevance_to``: ``"clean"`` (the clean prediction's class) or ``"adversarial"``."""
    if relevance_to not in ("clean", "adversarial"):
        raise ValueError(f"relevance_to must be 'clean' or 'adversarial', not {relevance_to!r}")
    goal = goal or Goal()
    attack = make_attack(attack_name, threat, **(params or {}))
    n = 2 if (cifs and adaptive) else 1
    z_clean = predict(model, x)[0]
    label = int(z_clean.argmax())
    res = attack.run(model, x, torch.tensor([label]), goal, seed=seed,
                     progress=progress_stage(progress, 0, n, "plain model"))
    cls = label if relevance_to == "clean" else int(res.adv_pred[0])
    out = ChannelExperiment(ChannelRun(analyse_channels(model, x, res.x_adv, stage, cls), res.x_adv,
                                       res.adv_logits[0].float().cpu(), z_clean))
    if cifs:
        tf = cifs_lite_transform(model, temperature)
        masked = HeadTransformed(model, tf, name="CIFS-lite")
        x_adv2 = res.x_adv
        if adaptive:
            x_adv2 = attack.run(masked, x, torch.tensor([label]), goal, seed=seed,
                                progress=progress_stage(progress, 1, n, "CIFS-lite model")).x_adv
        zc, za = predict(masked, x)[0], predict(masked, x_adv2)[0]
        cls2 = int(zc.argmax()) if relevance_to == "clean" else int(za.argmax())
        out.cifs = ChannelRun(analyse_channels(model, x, x_adv2, stage, cls2, head_transform=tf), x_adv2, za, zc)
    return out


__all__ = ["ChannelExperiment", "ChannelRun", "channel_experiment"]
