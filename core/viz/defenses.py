"""Plotly figures for the defenses: purification trajectories, smoothing counts and
certificates, patch grids, feature-map sizes. No Streamlit here."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from core.defenses.smoothing import max_certifiable_radius
from core.viz.common import FONT, heatmap, image_trace, title_layout, to_numpy_image

OK = "#2ca02c"
BAD = "#d62728"
NEUTRAL = "#1f77b4"
GREY = "#7f7f7f"


def _layout(fig: go.Figure, title: str, height: int) -> go.Figure:
    fig.update_layout(height=height, margin=dict(l=10, r=10, b=10), font=FONT)
    fig.update_layout(**title_layout(fig, title))
    return fig


def purification_trajectory_figure(traj: dict, class_names: Sequence[str], label: int | None = None,
                                   index: int = 0, title: str = "Purification trajectory", height: int = 300) -> go.Figure:
    """L_equi (left axis) and the top-1 probability (right axis) per step of one image.

    ``traj`` is ``DefenseOutput.diagnostics["trajectory"]`` of the equivariance defense: lists/
    tensors ``step``, ``loss`` (N, T+1), ``top1_prob``, ``top1_class`` and ``loss_min``.
    Markers are green where the top-1 class equals ``label``.
    """
    steps = list(traj["step"])
    loss = traj["loss"][index].tolist()
    prob = traj["top1_prob"][index].tolist()
    cls = [int(c) for c in traj["top1_class"][index].tolist()]
    names = [class_names[c] if c < len(class_names) else str(c) for c in cls]
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(go.Scatter(x=steps, y=loss, name="L_equi (lower = more equivariant)", mode="lines+markers",
                             line=dict(color=NEUTRAL)), secondary_y=False)
    colours = [OK if (label is not None and c == label) else BAD for c in cls] if label is not None else GREY
    fig.add_trace(go.Scatter(x=steps, y=prob, name="top-1 probability", mode="lines+markers",
                             marker=dict(color=colours, size=9), line=dict(color=GREY, dash="dot"),
                             text=names, hovertemplate="step %{x}: %{text} (%{y:.1%})<extra></extra>"),
                  secondary_y=True)
    if "loss_min" in traj and steps:
        fig.add_hline(y=traj["loss_min"], line=dict(color=NEUTRAL, dash="dash", width=1),
                      annotation_text="minimum (exactly equivariant)", annotation_position="bottom right")
    fig.update_xaxes(title_text="step (last point: the image classified)", dtick=1 if len(steps) <= 20 else None)
    fig.update_yaxes(title_text="L_equi", secondary_y=False)
    fig.update_yaxes(title_text="top-1 prob.", range=[0, 1], tickformat=".0%", secondary_y=True)
    fig.update_layout(legend=dict(orientation="h", y=-0.3))
    return _layout(fig, title, height)


def class_counts_figure(counts: torch.Tensor, class_names: Sequence[str], top: int = 8, highlight: int | None = None,
                        title: str = "Votes of the noisy copies", height: int = 280) -> go.Figure:
    """Horizontal bars of the ``top`` most voted classes (counts out of their sum)."""
    counts = torch.as_tensor(counts).flatten().cpu()
    total = int(counts.sum())
    k = min(top, int((counts > 0).sum()) or 1)
    v, i = counts.topk(k)
    names = [class_names[j] if j < len(class_names) else str(int(j)) for j in i.tolist()]
    colours = [OK if (highlight is not None and int(j) == highlight) else NEUTRAL for j in i.tolist()]
    fig = go.Figure(go.Bar(x=v.tolist()[::-1], y=[f"{n} " for n in names[::-1]], orientation="h",
                           marker_color=colours[::-1], text=[f"{int(c)}/{total}" for c in v.tolist()[::-1]],
                           textposition="auto"))
    fig.update_xaxes(range=[0, max(total, 1)], title_text="votes")
    return _layout(fig, title, height)


def certificate_figure(rows: Sequence[dict], title: str = "Certified L2 radius and its ceiling", height: int = 300) -> go.Figure:
    """Per method: the certified radius (0 when abstaining) next to R_max = σΦ⁻¹(α^{1/n}).

    ``rows``: dicts with ``name``, ``radius``, ``max_radius``, ``p_lower``, ``abstain``.
    """
    names = [r["name"] for r in rows]
    fig = go.Figure()
    fig.add_trace(go.Bar(name="certified radius R", x=names, y=[r["radius"] for r in rows],
                         marker_color=[GREY if r.get("abstain") else OK for r in rows],
                         text=["abstain" if r.get("abstain") else f"R = {r['radius']:.3f}<br>p̲A = {r['p_lower']:.3f}"
                               for r in rows], textposition="auto"))
    fig.add_trace(go.Bar(name="ceiling R_max for this n, α", x=names, y=[r["max_radius"] for r in rows],
                         marker_color="rgba(31,119,180,0.35)", text=[f"{r['max_radius']:.3f}" for r in rows],
                         textposition="auto"))
    fig.update_layout(barmode="group", legend=dict(orientation="h", y=-0.2))
    fig.update_yaxes(title_text="L2 radius ([0,1] pixels)")
    return _layout(fig, title, height)


def rmax_curve_figure(sigma: float, alpha: float, marks: dict[str, tuple[int, float]] | None = None,
                      n_range: tuple[int, int] = (10, 100_000), title: str = "The ceiling: R_max = σ·Φ⁻¹(α^{1/n})",
                      height: int = 300) -> go.Figure:
    """R_max against n (log scale) for one σ and α, with markers at ``marks`` {name: (n, R)}."""
    ns = np.unique(np.logspace(np.log10(n_range[0]), np.log10(n_range[1]), 60).astype(int))
    fig = go.Figure(go.Scatter(x=ns, y=[max_certifiable_radius(int(n), alpha, sigma) for n in ns], mode="lines",
                               name=f"R_max (σ = {sigma:g}, α = {alpha:g})", line=dict(color=NEUTRAL)))
    for name, (n, r) in (marks or {}).items():
        fig.add_trace(go.Scatter(x=[n], y=[r], mode="markers+text", text=[name], textposition="top center",
                                 name=name, marker=dict(size=11)))
    fig.update_xaxes(type="log", title_text="number of noisy samples n")
    fig.update_yaxes(title_text="L2 radius", rangemode="tozero")
    fig.update_layout(showlegend=False)
    return _layout(fig, title, height)


def image_grid_figure(images: torch.Tensor, titles: Sequence[str] | None = None, cols: int = 4,
                      title: str = "", height: int | None = None) -> go.Figure:
    """A grid of images (K, 3, H, W) in [0, 1] (clipped for display)."""
    k = images.shape[0]
    cols = max(1, min(cols, k))
    rows = (k + cols - 1) // cols
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=list(titles) if titles else None,
                        horizontal_spacing=0.02, vertical_spacing=0.08)
    for j in range(k):
        fig.add_trace(image_trace(to_numpy_image(images[j])), row=j // cols + 1, col=j % cols + 1)
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False)
    fig.update_yaxes(showticklabels=False, showgrid=False, zeroline=False)
    return _layout(fig, title, height or 60 + rows * 180)


def patch_grid_figure(image: torch.Tensor, boxes: Sequence[tuple[int, int]], patch: int,
                      labels: Sequence[str] | None = None, title: str = "Smooth-Reduce patches",
                      height: int = 360) -> go.Figure:
    """The (resized) image with the outline of every patch and, optionally, its top class."""
    fig = go.Figure(go.Image(z=to_numpy_image(image)))
    palette = ["#e41a1c", "#377eb8", "#4daf4a", "#984ea3", "#ff7f00", "#ffff33", "#a65628", "#f781bf"]
    for j, (t, l) in enumerate(boxes):
        c = palette[j % len(palette)]
        off = 2 * (j % 4)
        fig.add_shape(type="rect", x0=l + off, y0=t + off, x1=l + patch - 1 - off, y1=t + patch - 1 - off,
                      line=dict(color=c, width=2))
        if labels:
            fig.add_annotation(x=l + 6 + off, y=t + 14 + 16 * (j % 4), text=labels[j], showarrow=False,
                               xanchor="left", font=dict(color=c, size=11), bgcolor="rgba(255,255,255,0.7)")
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False)
    return _layout(fig, title, height)


def defense_comparison_figure(rows: Sequence[dict], title: str = "Confidence in the reference class", height: int = 300) -> go.Figure:
    """One bar per defense: the probability (or vote share) of the reference class, green when the
    defended prediction is right. ``rows``: dicts with ``name``, ``p_ref``, ``correct``, ``pred_name``,
    ``elapsed_s``.

    Each bar's value is written on it, and a short tick marks its top, so that a defense at (or near)
    0 % is still visible: its label sits above the axis instead of inside a bar of zero height."""
    names = [r["name"] for r in rows]
    vals = [float(r["p_ref"]) for r in rows]
    colours = [OK if r["correct"] else BAD for r in rows]
    fig = go.Figure(go.Bar(x=names, y=vals, marker_color=colours, cliponaxis=False,
                           # "31 % → consomme" read as P(consomme) = 31 %: the value is P(reference class), so say so.
                           text=[f"{v:.0%}<br>says {r['pred_name']}" for v, r in zip(vals, rows)],
                           textposition=["inside" if v >= 0.3 else "outside" for v in vals],
                           hovertemplate="%{x}: %{y:.1%}<extra></extra>"))
    fig.add_trace(go.Scatter(x=names, y=vals, mode="markers", showlegend=False, hoverinfo="skip", cliponaxis=False,
                             marker=dict(symbol="line-ew", size=40, color=colours, line=dict(width=4, color=colours))))
    fig.update_yaxes(range=[0, 1], tickformat=".0%", title_text="p(reference class)")
    fig.update_layout(showlegend=False)
    return _layout(fig, title, height)


def equivariance_error_figure(err: torch.Tensor, title: str = "Equivariance error 1 − cos (per feature position)",
                              height: int = 300, zmax: float | None = None) -> go.Figure:
    """Heatmap of the per-position equivariance error of one image (h, w); pass the same ``zmax``
    to compare several images on one colour scale."""
    return heatmap(err, title=title, colorscale="Magma", zmin=0, zmax=zmax, colorbar_title="1 − cos", height=height)
