"""Figures of the Certify page's sequence mode: the frames, the sub-sequences with their votes on the
clean sequence, the radius per smoothing variant (claimed and sound) and the certificate audit."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
import torch

from core.viz.common import error_y, image_trace, side_by_side, title_layout
from core.viz.defenses import BAD, GREY, NEUTRAL, OK


def frames_strip(frames: torch.Tensor, scale: int = 3, gap: int = 4, per_row: int = 8) -> np.ndarray:
    """(rows·H·scale, …, 3) uint8 picture of frames (T, 1, H, W) in [0, 1] (values outside clipped),
    ``per_row`` frames per row, each enlarged ``scale`` times (nearest)."""
    f = frames.detach().float().clamp(0, 1).cpu().numpy()[:, 0]
    f = np.repeat(np.repeat((f * 255).round().astype(np.uint8), scale, 1), scale, 2)
    rgb = [np.repeat(im[:, :, None], 3, 2) for im in f]
    rows = [side_by_side(*rgb[i:i + per_row], gap=gap) for i in range(0, len(rgb), per_row)]
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, gap), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    return np.concatenate(rows, 0)[:-gap]


def frames_figure(frames: torch.Tensor, title: str, height: int = 260) -> go.Figure:
    """The frames of one sequence, in reading order (frame 0 top left)."""
    fig = go.Figure(image_trace(frames_strip(frames), lossless=True, hoverinfo="skip"))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(height=height, **title_layout(fig, title))
    return fig


def subsequence_figure(starts: Sequence[int], length: int, frames: int, probs: torch.Tensor,
                       class_names: Sequence[str], label: int | None = None, height: int = 240) -> go.Figure:
    """One bar per sub-sequence over the frames it spans, coloured by whether its top class on the
    clean sequence is the label, with that class and its probability."""
    fig = go.Figure()
    for k, s in enumerate(starts):
        c = int(probs[k].argmax())
        colour = NEUTRAL if label is None else (OK if c == label else BAD)
        fig.add_trace(go.Bar(x=[length], y=[f"sub-sequence {k + 1}"], base=[s - 0.5], orientation="h",
                             marker_color=colour, showlegend=False, text=[f"{class_names[c]} {float(probs[k, c]):.0%}"],
                             textposition="inside", hovertemplate=f"frames {s}–{s + length - 1}<extra></extra>"))
    fig.update_xaxes(range=[-0.5, frames - 0.5], title_text="frame", dtick=1)
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(height=max(height, 40 * len(starts) + 80), barmode="overlay",
                      **title_layout(fig, "Sub-sequences and each one's top class (clean sequence)"))
    return fig


def radius_figure(rows: Sequence[dict], height: int = 320) -> go.Figure:
    """Per variant: the radius the method claims and the one Cohen's theorem gives for it.

    ``rows``: dicts with ``name``, ``radius``, ``sound_radius``, ``abstain``, ``max_radius``."""
    names = [r["name"] for r in rows]
    fig = go.Figure()
    fig.add_trace(go.Bar(name="claimed radius (the paper's formula)", x=names, y=[r["radius"] for r in rows],
                         marker_color=[GREY if r["abstain"] else NEUTRAL for r in rows],
                         text=["abstain" if r["abstain"] else f"{r['radius']:.3f}" for r in rows], textposition="auto"))
    fig.add_trace(go.Bar(name="sound radius", x=names, y=[r["sound_radius"] for r in rows],
                         marker_color=[GREY if r["abstain"] else OK for r in rows],
                         text=["" if r["abstain"] else f"{r['sound_radius']:.3f}" for r in rows], textposition="auto"))
    if rows:
        fig.add_hline(y=rows[0]["max_radius"], line_dash="dot", annotation_text="ceiling R_max")
    fig.update_yaxes(title_text="L2 radius (whole sequence)")
    fig.update_layout(barmode="group", height=height, legend=dict(orientation="h", y=-0.25),
                      **title_layout(fig, "Certified radius per variant"))
    return fig


def audit_figure(variants: dict[str, dict], title: str, height: int = 320) -> go.Figure:
    """Share of certified predictions that an attack flipped inside their radius (confirmed), with
    the exact 95 % interval, per variant."""
    names = list(variants)
    rate = [v["flips"] / v["certified"] if v["certified"] else 0.0 for v in variants.values()]
    lo = [v["flips_ci95"][0] for v in variants.values()]
    hi = [v["flips_ci95"][1] for v in variants.values()]
    fig = go.Figure(go.Bar(x=names, y=rate, marker_color=[BAD if v["flips"] else OK for v in variants.values()],
                           error_y=error_y(rate, lo, hi), text=[f"{v['flips']}/{v['certified']}" for v in variants.values()],
                           textposition="outside"))
    fig.update_yaxes(range=[0, 1.05], title_text="broken certificates (share)", tickformat=".0%")
    fig.update_layout(height=height, **title_layout(fig, title))
    return fig


__all__ = ["audit_figure", "frames_figure", "frames_strip", "radius_figure", "subsequence_figure"]
