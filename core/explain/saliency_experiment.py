"""The Saliency page's experiment: attack one image (against the model's own clean prediction),
then explain the clean image, the adversarial one and optionally a defended view of it with
each chosen saliency method, on one colour scale per method.

The adversarial image is made against the undefended model (a non-adaptive attack): the third
column shows how a defense treats an attack that ignored it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from core.explain.analysis import predict
from core.attacks import Goal, ThreatModel, make_attack
from core.explain.saliency_panels import Panel, build_panels, panel_maps
from core.explain.defended import defended_view
from core.runtime.progress import ProgressFn, stage


@dataclass
class SaliencyRun:
    panels: list[Panel]
    maps: dict[str, list[torch.Tensor]]  # method -> one map per panel


def saliency_experiment(model: nn.Module, x: torch.Tensor, attack_name: str, threat: ThreatModel,
                        params: dict | None = None, goal: Goal | None = None, seed: int = 0, *,
                        methods: list[str], method_params: dict[str, dict[str, Any]] | None = None,
                        defense: str = "none", target_mode: str = "own",
                        progress: ProgressFn = None) -> SaliencyRun:
    """Panels (clean, adversarial, defended view unless ``defense == "none"``) and each method's
    maps (see the module docstring)."""
    if not methods:
        raise ValueError("choose at least one method")
    n = len(methods) + 1
    label = int(predict(model, x).argmax())
    res = make_attack(attack_name, threat, **(params or {})).run(
        model, x, torch.tensor([label]), goal or Goal(), seed=seed, progress=stage(progress, 0, n, attack_name))
    view = None if defense == "none" else defended_view(model, defense)
    panels = build_panels(model, x, res.x_adv, view, target_mode)
    maps = {m: panel_maps(panels, m, (method_params or {}).get(m), progress=stage(progress, i + 1, n, m))
            for i, m in enumerate(methods)}
    return SaliencyRun(panels, maps)


__all__ = ["SaliencyRun", "saliency_experiment"]
