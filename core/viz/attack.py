"""Figures of the Attack Lab: |δ| heatmap and the replay of an attack's steps."""
from __future__ import annotations

import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from core.attacks.base import StepRecord
from core.viz.common import FONT, heatmap


def delta_heatmap(delta: torch.Tensor, height: int = 320) -> go.Figure:
    """Per-pixel max over channels of |δ|, in k/255 units."""
    d = delta[0] if delta.dim() == 4 else delta
    return heatmap(d.abs().amax(0) * 255, colorscale="Inferno", zmin=0, colorbar_title="|δ|·255", height=height)


def trajectory_figure(traj: list[StepRecord], class_names: list[str], label: int, step: int | None = None,
                      max_classes: int = 6, height: int = 420) -> go.Figure:
    """Attack objective and class probabilities over the steps (image 0 of the batch).

    Classes shown: the true label plus the classes that reached the top 5 most often.
    """
    steps = [r.step for r in traj]
    loss = [float(r.loss[0]) for r in traj]
    probs: dict[int, list[float]] = {}
    counts: dict[int, int] = {}
    for r in traj:
        for c in r.topk_classes[0].tolist():
            counts[c] = counts.get(c, 0) + 1
    chosen = [label] + [c for c, _ in sorted(counts.items(), key=lambda kv: -kv[1]) if c != label][: max_classes - 1]
    for c in chosen:
        series = []
        for r in traj:
            cls = r.topk_classes[0].tolist()
            series.append(float(r.topk_probs[0][cls.index(c)]) if c in cls else None)
        probs[c] = series
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Attack objective", "Class probability (when in top 5)"))
    fig.add_trace(go.Scatter(x=steps, y=loss, mode="lines+markers", name="objective", showlegend=False), 1, 1)
    for c, series in probs.items():
        fig.add_trace(go.Scatter(x=steps, y=series, mode="lines+markers", connectgaps=False,
                                 name=("★ " if c == label else "") + class_names[c][:28],
                                 line=dict(width=3 if c == label else 1.5)), 1, 2)
    if step is not None:
        for col in (1, 2):
            fig.add_vline(x=step, line_dash="dot", line_color="grey", row=1, col=col)
    fig.update_xaxes(title_text="step")
    fig.update_yaxes(range=[0, 1], tickformat=".0%", row=1, col=2)
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=40, b=10), font=FONT,
                      legend=dict(orientation="h", y=-0.25))
    return fig
