"""Side-by-side saliency: the clean image, the adversarial one and (optionally) a defended view,
each explained for its own predicted class or for the clean prediction, plus agreement numbers.

This is the computation behind ``views/saliency.py``; it only arranges calls to
:func:`core.explain.saliency.compute_map`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from core.explain.defended import DefendedView
from core.explain.saliency import METHODS, agreement, compute_map
from core.runtime.progress import ProgressFn, report

TargetMode = Literal["own", "clean"]


@dataclass
class Panel:
    """One column: what is explained, on which model, for which class."""

    key: str  # "clean", "adversarial", "defended"
    title: str
    image: torch.Tensor  # (1, 3, H, W) the image the model sees
    model: nn.Module
    logits: torch.Tensor  # (C,) on the CPU
    target: int  # the class whose score is explained

    @property
    def pred(self) -> int:
        return int(self.logits.argmax())

    @property
    def prob(self) -> float:
        return float(self.logits.softmax(0)[self.pred])


@torch.no_grad()
def _logits(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    dev = next((p.device for p in model.parameters()), x.device)
    return model(x.to(dev)).float().cpu()[0]


def build_panels(model: nn.Module, x: torch.Tensor, x_adv: torch.Tensor, defended: DefendedView | None = None,
                 target_mode: TargetMode = "own") -> list[Panel]:
    """The columns to explain. ``target_mode="own"`` explains each column's own top class;
    ``"clean"`` explains the clean top class everywhere (where did the evidence for it go?)."""
    if x.shape[0] != 1 or x_adv.shape != x.shape:
        raise ValueError("one clean and one adversarial image of the same size")
    items = [("clean", "Clean", x, model), ("adversarial", "Adversarial", x_adv, model)]
    if defended is not None:
        items.append(("defended", f"Defended ({defended.label})", defended.transform(x_adv).detach(), defended.model))
    panels = []
    clean_pred = None
    for key, title, img, m in items:
        z = _logits(m, img)
        if clean_pred is None:
            clean_pred = int(z.argmax())
        target = int(z.argmax()) if target_mode == "own" else clean_pred
        panels.append(Panel(key, title, img.detach().cpu(), m, z, target))
    return panels


def panel_maps(panels: list[Panel], method: str, params: dict[str, Any] | None = None,
               progress: ProgressFn = None) -> list[torch.Tensor]:
    """One (H, W) map per panel for ``method`` (see :data:`core.explain.saliency.METHODS`)."""
    out = []
    for i, p in enumerate(panels):
        report(progress, i, len(panels), f"{METHODS[method].label}: {p.title}")
        out.append(compute_map(p.model, p.image, method, p.target, **(params or {}))[0])
    report(progress, len(panels), len(panels), METHODS[method].label)
    return out


def agreement_rows(panels: list[Panel], maps: list[torch.Tensor], signed: bool, frac: float = 0.1) -> list[dict]:
    """Spearman ρ and top-``frac`` IoU of the clean map against every other column."""
    rows = []
    for p, m in zip(panels[1:], maps[1:]):
        a = agreement(maps[0], m, signed, frac)
        rows.append({"compared with clean": p.title, "Spearman ρ": a["spearman"],
                     f"top-{frac:.0%} IoU": a["topk_iou"]})
    return rows
