"""Figures of the few-shot task: support and query with their masks, each model's predicted mask
clean and attacked, the Dice in the titles."""
from __future__ import annotations

import plotly.graph_objects as go
import torch

from core.viz.dense.segmentation import image_grid, overlay

GT_RGB = (40, 200, 90)  # ground truth / support mask: green
PRED_RGB = (230, 60, 60)  # predicted mask: red


def episode_figure(support: torch.Tensor, support_mask: torch.Tensor, query: torch.Tensor, query_mask: torch.Tensor,
                   class_label: str, height: int = 260, mask_words: str = "mask") -> go.Figure:
    """Support with its mask (or drawn box), the query with its ground truth (green)."""
    return image_grid([(f"Support: {class_label} ({mask_words})", overlay(support, support_mask.float(), GT_RGB)),
                       ("Query: ground truth", overlay(query, query_mask.float(), GT_RGB))], height=height)


def demo_figure(demo, height: int = 230) -> go.Figure:
    """One row per model: clean prediction, attacked input, attacked prediction (red), Dice in the titles."""
    q = demo.episode.query[0]
    panels = []
    for title, clean in demo.clean.items():
        shown = demo.x_adv[title].clamp(0, 1)  # the paper's PGD may leave [0, 1]: shown clipped
        base = q if demo.target == "support" else shown
        panels += [(f"{title}<br>clean: Dice {demo.clean_dice[title]:.2f}", overlay(q, clean.float(), PRED_RGB)),
                   (f"attacked {demo.target}", overlay(shown, demo.episode.support_mask[0], GT_RGB)
                    if demo.target == "support" else overlay(shown, torch.zeros_like(clean, dtype=torch.float))),
                   (f"attacked: Dice {demo.attacked_dice[title]:.2f}", overlay(base, demo.attacked[title].float(), PRED_RGB))]
    return image_grid(panels, rows=max(1, len(demo.clean)), height=height)


__all__ = ["demo_figure", "episode_figure"]
