"""The Segmentation page's few-shot task: one shipped episode, every few-shot model, clean and
attacked side by side with the Dice of the query's predicted mask.

Models (seed 0, :mod:`core.train.fewshot`): the PANet-style prototype CNN, its adversarially
trained copy, PNODE and R-PNODE, the two ODE models under their training solver (RK4) and, when
chosen, under dopri5 at rtol = atol = 1e-3 as the paper ran them. Attacks (each against each model
on its own, on the query or the support, L∞ ε): "PGD (paper)" as R-PNODE's code runs it (not
clipped to [0, 1], :mod:`core.attacks.dense.fewshot`), Dense PGD and Dense APGD on the per-pixel CE
(valid images), Square on the Dice (gradient-free), and "Transfer from the CNN" (the CNN's
Dense PGD example given to every model).

**Your own support.** The support may come from another shipped scene of the same novel class (the support
or the query of any test episode of that class, with its annotated mask), and its mask may be replaced by a
box drawn over it (rows and columns from–to): the weak, box-level annotation PANet also evaluates. The query
and its ground truth stay the episode's, so Dice is measured as before. :func:`make_episode` builds it.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
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


Role = str  # "support" or "query": which image of a shipped episode
Box = tuple[int, int, int, int]  # rows from, to; columns from, to (end exclusive), in pixels


def support_options(index: int) -> list[tuple[int, Role]]:
    """The shipped scenes that show episode ``index``'s novel class, with an annotated mask: the support and
    the query of every episode of that class (the episode's own support first; its own query left out, since
    a support identical to the query would say nothing about few-shot segmentation)."""
    ep = episodes()
    c = int(ep.classes[index])
    out: list[tuple[int, Role]] = [(index, "support")]
    for j in range(len(ep)):
        if int(ep.classes[j]) != c:
            continue
        out += [(j, r) for r in ("support", "query") if (j, r) not in ((index, "support"), (index, "query"))]
    return out


def option_label(option: tuple[int, Role], index: int) -> str:
    j, role = option
    return "this episode's support" if option == (index, "support") else f"episode {j}'s {role}"


def scene(option: tuple[int, Role]) -> tuple[torch.Tensor, torch.Tensor]:
    """(image (3, H, W), annotated mask (H, W) float) of a shipped scene."""
    ep = episodes()
    j, role = option
    if role == "support":
        return ep.support[j], ep.support_mask[j].float()
    return ep.query[j], ep.query_mask[j].float()


def bounding_box(mask: torch.Tensor) -> Box:
    """The smallest box holding every mask pixel (the whole image for an empty mask)."""
    rows, cols = torch.nonzero(mask > 0.5, as_tuple=True)
    if rows.numel() == 0:
        return 0, int(mask.shape[-2]), 0, int(mask.shape[-1])
    return int(rows.min()), int(rows.max()) + 1, int(cols.min()), int(cols.max()) + 1


def box_mask(box: Box, size_hw: tuple[int, int]) -> torch.Tensor:
    """A (H, W) float mask that is 1 inside ``box``."""
    r0, r1, c0, c1 = box
    h, w = size_hw
    if not (0 <= r0 < r1 <= h and 0 <= c0 < c1 <= w):
        raise ValueError(f"the box {box} is empty or outside the {h}×{w} image")
    m = torch.zeros(h, w)
    m[r0:r1, c0:c1] = 1.0
    return m


def make_episode(index: int, support_from: tuple[int, Role] | None = None, box: Box | None = None) -> Episodes:
    """Episode ``index`` with its support replaced by another scene of the same class (``support_from``)
    and/or the support's mask replaced by ``box``."""
    ep = episodes().subset(slice(index, index + 1))
    if support_from is None and box is None:
        return ep
    option = support_from or (index, "support")
    if option not in support_options(index):
        raise ValueError(f"{option} does not show episode {index}'s class")
    img, mask = scene(option)
    if box is not None:
        mask = box_mask(box, tuple(mask.shape))
    return Episodes(img[None].clone(), mask[None].clone(), ep.query, ep.query_mask, ep.classes,
                    ep.scenes.clone())


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


Watch = Callable[[str, torch.Tensor, torch.Tensor], None]  # (model title, attacked input, query logits)


def run_demo(index: int, target: str, attack: str, eps: float, models: dict[str, nn.Module],
             steps: int = 10, progress: ProgressFn = None, episode: Episodes | None = None,
             watch: Watch | None = None) -> FewShotDemo:
    """Attack episode ``index`` (or ``episode``: e.g. :func:`make_episode`'s) on its ``target`` ("query" or
    "support") against each model; ``watch`` sees every input each attack evaluates (a live view)."""
    if attack not in ATTACKS or target not in ("query", "support"):
        raise ValueError(f"unknown attack {attack!r} or target {target!r}")
    ep = episode if episode is not None else episodes().subset(slice(index, index + 1))
    cfg = FewShotEvalConfig(eps=float(eps), steps=int(steps), batch=1)
    out = FewShotDemo(ep, target, attack, float(eps))
    transfer = None
    if attack == "Transfer from the CNN":
        transfer = craft(load("proto", 0), ep, target, "Dense PGD", cfg)
    for i, (title, m) in enumerate(models.items()):
        report(progress, i, len(models), title)
        seen = (lambda x, lg, t=title: watch(t, x, lg)) if watch is not None else None
        x = transfer if transfer is not None else craft(m, ep, target, _CRAFT[attack], cfg, watch=seen)
        out.clean[title] = predict(m, ep, 1)[0]
        out.attacked[title] = predict(m, ep, 1, **{target: x})[0]
        out.x_adv[title] = x[0]
        out.clean_dice[title] = float(dice(out.clean[title][None], ep.query_mask))
        out.attacked_dice[title] = float(dice(out.attacked[title][None], ep.query_mask))
    report(progress, len(models), len(models), "done")
    return out


__all__ = ["ATTACKS", "Box", "FewShotDemo", "Watch", "available_models", "bounding_box", "box_mask", "episode_label",
           "episodes", "make_episode", "n_episodes", "option_label", "run_demo", "scene", "support_options"]
