"""Figures of the Attack Lab: |δ| heatmap and the replay of an attack's steps."""
from __future__ import annotations

import math

import plotly.graph_objects as go
import torch
import torch.nn.functional as F
from plotly.subplots import make_subplots

from core.attacks.base import StepRecord
from core.viz.common import FONT, heatmap


def delta_heatmap(delta: torch.Tensor, height: int = 320, max_side: int = 128) -> go.Figure:
    """Max over channels of |δ|, in k/255 units; an image larger than ``max_side`` pixels is shown
    as the max over k×k blocks (k the smallest factor that fits), in pixel coordinates. The map is
    drawn about 250 px wide: a 224×224 map at full resolution is 0.34 MB of figure data for
    detail the screen cannot show, while the block max keeps every large change visible."""
    d = (delta[0] if delta.dim() == 4 else delta).detach().float().abs().amax(0) * 255
    k = max(1, math.ceil(max(d.shape) / max_side))
    z = F.max_pool2d(d[None, None], k, ceil_mode=True)[0, 0] if k > 1 else d
    # Rounded to 1/100 of a level (the hover shows two decimals): ε·255 in float32 is 3.9999998,
    # whose all-ones mantissa turns into base64 '/' characters that the page escapes six-fold.
    # zmax given too: with zmin alone plotly scales the colours to the data, and block maxima rarely reach 0
    fig = heatmap(torch.round(z, decimals=2), colorscale="Inferno", zmin=0, zmax=max(float(z.max()), 1e-6),
                  colorbar_title="|δ|·255", height=height)
    if k > 1:
        fig.update_traces(x0=(k - 1) / 2, dx=k, y0=(k - 1) / 2, dy=k,
                          hovertemplate=f"max over {k}×{k} pixels at x %{{x}}, y %{{y}}: %{{z:.2f}}<extra></extra>")
    return fig


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
