"""The Segmentation page's few-shot task: one shipped episode, every few-shot model, clean and
attacked side by side with the Dice of the query's predicted mask.

Models (seed 0, :mod:`core.train.fewshot`): the PANet-style prototype CNN, its adversarially
trained copy, PNODE and R-PNODE, the two ODE models under their training solver (RK4) and, when
chosen, under dopri5 at rtol = atol = 1e-3 as the paper ran them. Attacks (each against each model
on its own, on the query or the support, L∞ ε): "PGD (paper)" as R-PNODE's code runs it (not
clipped to [0, 1], :mod:`core.attacks.dense.fewshot`), Dense PGD and Dense APGD on the per-pixel CE
(valid images), Square on the Dice (gradient-free), and "Transfer from the CNN" (the CNN's
Dense PGD example given to every model).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from core.data.fewshot_episodes import Episodes, class_name, load_episodes
from core.evaluation.dense.fewshot_eval import FewShotEvalConfig, craft, predict
from core.attacks.dense.fewshot_metrics import dice
from core.runtime.progress import ProgressFn, report
from core.evaluation.per_image import PerImage
from core.train.fewshot import TITLES, card_path, load, weights_path

ATTACKS = ("PGD (paper)", "Dense PGD", "Dense APGD", "Square (Dice)", "Transfer from the CNN")
_CRAFT = {"PGD (paper)": "PGD", "Dense PGD": "Dense PGD", "Dense APGD": "Dense APGD", "Square (Dice)": "Square (Dice)"}
KINDS = ("proto", "proto_at", "pnode", "rpnode")


@functools.lru_cache(maxsize=1)
def episodes() -> Episodes:
    return load_episodes()


def n_episodes() -> int:
    return len(episodes())


@functools.lru_cache(maxsize=1)
def default_episode() -> int:
    """The episode the page opens on: the one where the shipped prototype CNN and R-PNODE (seed 0) start from
    the best clean masks (the larger of the two models' smaller clean Dice, from their per-episode files), so
    that an attack has a mask to break; 0 when the files are missing."""
    files = [card_path(k).with_name(f"{k}-s0.per_image.npz") for k in ("proto", "rpnode")]
    if not all(f.exists() for f in files):
        return 0
    clean = np.minimum(*[PerImage.load(f).values["clean__dice"] for f in files])
    return int(np.argmax(clean))


def episode_label(i: int) -> str:
    return f"{i}: {class_name(int(episodes().classes[i]))}"


def available_models(dopri5: bool = False) -> dict[str, nn.Module]:
    """Title -> model (eval mode) for every shipped seed-0 model; with ``dopri5`` the ODE models
    are solved by dopri5 (the paper's solver) instead of RK4."""
    out = {}
    for k in KINDS:
        if not weights_path(k, 0).exists():
            continue
        m = load(k, 0)
        if dopri5 and hasattr(m, "with_solver"):
            out[f"{TITLES[k]} (dopri5)"] = m.with_solver("dopri5")
        else:
            out[TITLES[k]] = m
    return out


@dataclass
class FewShotDemo:
    episode: Episodes  # one episode
    target: str
    attack: str
    eps: float
    clean: dict[str, torch.Tensor] = field(default_factory=dict)  # title -> (H, W) bool
    attacked: dict[str, torch.Tensor] = field(default_factory=dict)
    x_adv: dict[str, torch.Tensor] = field(default_factory=dict)  # title -> (3, H, W)
    clean_dice: dict[str, float] = field(default_factory=dict)
    attacked_dice: dict[str, float] = field(default_factory=dict)


def run_demo(index: int, target: str, attack: str, eps: float, models: dict[str, nn.Module],
             steps: int = 10, progress: ProgressFn = None) -> FewShotDemo:
    """Attack episode ``index`` (its ``target``: "query" or "support") against each model."""
    if attack not in ATTACKS or target not in ("query", "support"):
        raise ValueError(f"unknown attack {attack!r} or target {target!r}")
    ep = episodes().subset(slice(index, index + 1))
    cfg = FewShotEvalConfig(eps=float(eps), steps=int(steps), batch=1)
    out = FewShotDemo(ep, target, attack, float(eps))
    transfer = None
    if attack == "Transfer from the CNN":
        transfer = craft(load("proto", 0), ep, target, "Dense PGD", cfg)
    for i, (title, m) in enumerate(models.items()):
        report(progress, i, len(models), title)
        x = transfer if transfer is not None else craft(m, ep, target, _CRAFT[attack], cfg)
        out.clean[title] = predict(m, ep, 1)[0]
        out.attacked[title] = predict(m, ep, 1, **{target: x})[0]
        out.x_adv[title] = x[0]
        out.clean_dice[title] = float(dice(out.clean[title][None], ep.query_mask))
        out.attacked_dice[title] = float(dice(out.attacked[title][None], ep.query_mask))
    report(progress, len(models), len(models), "done")
    return out


__all__ = ["ATTACKS", "FewShotDemo", "available_models", "episode_label", "episodes", "n_episodes", "run_demo"]
