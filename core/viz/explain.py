"""Figures of the explanation pages: saliency overlays, CIFS channel plots, feature-map probes.

Every row of maps that is meant to be compared (clean / adversarial / defended, natural /
adversarial channel maps) shares ONE colour axis, so equal colours mean equal values.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from core.explain.channels import ChannelAnalysis
from core.explain.feature_maps import SettingResult
from core.viz.palette import ADVERSARIAL, CLEAN, MODELS, NR, PR
from core.viz.common import FONT, image_trace

# Transparent at 0, opaque at the top: the photo shows through where the map is small.
UNSIGNED_SCALE = [[0.0, "rgba(255,255,0,0)"], [0.25, "rgba(255,200,0,0.35)"], [0.6, "rgba(255,90,0,0.7)"],
                  [1.0, "rgba(200,0,0,0.9)"]]
SIGNED_SCALE = [[0.0, "rgba(20,60,220,0.9)"], [0.3, "rgba(60,140,255,0.5)"], [0.5, "rgba(255,255,255,0)"],
                [0.7, "rgba(255,120,60,0.5)"], [1.0, "rgba(200,0,0,0.9)"]]


def _np(a) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        return a.detach().float().cpu().numpy()
    return np.asarray(a, dtype=float)


def shared_range(maps: Sequence, signed: bool, percentile: float = 99.5) -> tuple[float, float]:
    """One colour range for several maps: [0, p] (or [−p, p] for signed maps), p the
    ``percentile`` of all their magnitudes together (gradient maps are spiky; the few pixels
    above p are drawn at full colour)."""
    vals = np.concatenate([np.abs(_np(m)).ravel() for m in maps])
    top = float(np.percentile(vals, percentile)) if vals.size else 1.0
    top = top if top > 0 else float(vals.max()) if vals.size and vals.max() > 0 else 1.0
    return (-top, top) if signed else (0.0, top)


def saliency_row(photos: Sequence[np.ndarray], maps: Sequence, titles: Sequence[str], signed: bool,
                 opacity: float = 1.0, colorbar_title: str = "", height: int = 360) -> go.Figure:
    """Maps overlaid on their photos, side by side, on one colour scale.

    ``photos``: (H, W, 3) uint8 arrays; ``maps``: (H, W) arrays of the same size. ``opacity``
    scales the whole overlay (0 shows the photos alone).
    """
    n = len(maps)
    fig = make_subplots(rows=1, cols=n, subplot_titles=list(titles), horizontal_spacing=0.02)
    lo, hi = shared_range(maps, signed)
    for i, (ph, m) in enumerate(zip(photos, maps), start=1):
        fig.add_trace(image_trace(ph, hoverinfo="skip"), 1, i)
        z = _np(m)
        k = 2 if min(z.shape) > 128 else 1  # display: 2×2 blocks averaged, float32 (a quarter of the data)
        if k > 1:
            h, w = (z.shape[0] // k) * k, (z.shape[1] // k) * k
            z = z[:h, :w].reshape(h // k, k, w // k, k).mean(axis=(1, 3))
        fig.add_trace(go.Heatmap(z=z.astype(np.float32), x0=(k - 1) / 2, dx=k, y0=(k - 1) / 2, dy=k,
                                 coloraxis="coloraxis", opacity=opacity,
                                 hovertemplate="x %{x}, y %{y}: %{z:.3g}<extra></extra>"), 1, i)
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False)
    fig.update_yaxes(showticklabels=False, showgrid=False, zeroline=False, autorange="reversed", scaleanchor="x")
    for i in range(2, n + 1):
        fig.update_yaxes(scaleanchor=f"x{i}", row=1, col=i)
    fig.update_layout(coloraxis=dict(colorscale=SIGNED_SCALE if signed else UNSIGNED_SCALE, cmin=lo, cmax=hi,
                                     colorbar=dict(title=colorbar_title, thickness=12)),
                      height=height, margin=dict(l=5, r=5, t=60, b=5), font=FONT, plot_bgcolor="white")
    return fig


# --------------------------------------------------------------------------- channels
def channel_profile(res: ChannelAnalysis, title: str = "", height: int = 460) -> go.Figure:
    """Mean activation ā_c on the natural and the adversarial image, channels ordered by
    relevance r_c (most positive left); below, r_c itself (PR purple, NR orange: blue and red mean
    natural and adversarial above, :mod:`core.viz.palette`)."""
    order = res.order.numpy()
    rank = np.arange(len(order))
    r = res.relevance.numpy()[order]
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.68, 0.32], vertical_spacing=0.04)
    hover = [f"channel {c}" for c in order]
    fig.add_trace(go.Scattergl(x=rank, y=res.act_nat.numpy()[order], mode="markers", name="natural",
                               marker=dict(size=4, color=CLEAN), text=hover,
                               hovertemplate="%{text}: %{y:.3g}<extra>natural</extra>"), 1, 1)
    fig.add_trace(go.Scattergl(x=rank, y=res.act_adv.numpy()[order], mode="markers", name="adversarial",
                               marker=dict(size=4, color=ADVERSARIAL), text=hover,
                               hovertemplate="%{text}: %{y:.3g}<extra>adversarial</extra>"), 1, 1)
    fig.add_trace(go.Bar(x=rank, y=r, marker_color=np.where(r > 0, PR, NR), name="relevance r_c",
                         showlegend=False, text=hover, hovertemplate="%{text}: r = %{y:.3g}<extra></extra>"), 2, 1)
    n_pr = int(res.pr.sum())
    fig.add_vline(x=n_pr - 0.5, line_dash="dot", line_color="grey")
    fig.update_yaxes(title_text="mean activation ā_c", row=1, col=1)
    fig.update_yaxes(title_text="r_c", row=2, col=1)
    fig.update_xaxes(title_text=f"channels ordered by relevance (PR: {n_pr} left of the line, NR: "
                                f"{int(res.nr.sum())} right)", row=2, col=1)
    fig.update_layout(title=title, height=height, margin=dict(l=10, r=10, t=40 if title else 10, b=10), font=FONT,
                      legend=dict(orientation="h", y=1.06, x=0), bargap=0)
    return fig


def relevance_scatter(res: ChannelAnalysis, title: str = "", height: int = 380) -> go.Figure:
    """r_c against Δā_c = ā_c(adv) − ā_c(nat). Bottom-right (relevant, switched off) and
    top-left (harmful, switched on) are where the attack pushes the class score down."""
    r, d = res.relevance.numpy(), res.delta.numpy()
    fig = go.Figure(go.Scattergl(x=r, y=d, mode="markers",
                                 marker=dict(size=5, color=np.where(r > 0, PR, NR), opacity=0.7),
                                 text=[f"channel {c}" for c in range(len(r))],
                                 hovertemplate="%{text}: r = %{x:.3g}, Δā = %{y:.3g}<extra></extra>"))
    fig.add_hline(y=0, line_color="grey", line_width=1)
    fig.add_vline(x=0, line_color="grey", line_width=1)
    fig.update_layout(title=title, xaxis_title="relevance r_c", yaxis_title="Δā_c (adversarial − natural)",
                      height=height, margin=dict(l=10, r=10, t=40 if title else 10, b=10), font=FONT)
    return fig


def pr_nr_sums(analyses: dict[str, ChannelAnalysis], height: int = 340) -> go.Figure:
    """Σ_PR r_c ā_c and Σ_NR r_c ā_c, natural vs adversarial, for one or more analyses
    (e.g. plain and CIFS-lite)."""
    fig = go.Figure()
    lo, hi = 0.0, 0.0
    # One colour per model (or variant): neither the clean/adversarial blue and red nor the PR/NR purple and orange.
    ident = MODELS
    for i, (name, res) in enumerate(analyses.items()):
        s = res.sums()
        cats = ["PR natural", "PR adversarial", "NR natural", "NR adversarial"]
        vals = [s["PR_nat"], s["PR_adv"], s["NR_nat"], s["NR_adv"]]
        fig.add_trace(go.Bar(x=cats, y=vals, name=name, text=[f"{v:.2f}" for v in vals], textposition="outside",
                             cliponaxis=False, marker_color=ident[i % len(ident)]))
        lo, hi = min(lo, *vals), max(hi, *vals)
    pad = 0.18 * max(hi - lo, 1e-9)  # room for the value labels above (below) the tallest bars: none runs off
    fig.add_hline(y=0, line_color="grey", line_width=1)
    fig.update_yaxes(range=[min(lo, 0) - (pad if lo < 0 else 0), max(hi, 0) + (pad if hi > 0 else 0)])
    fig.update_layout(barmode="group", yaxis_title="Σ r_c · ā_c", height=height,
                      margin=dict(l=10, r=10, t=30, b=10), font=FONT, legend=dict(orientation="h", y=1.12))
    return fig


def channel_maps_grid(res: ChannelAnalysis, channels: Sequence[int], height: int = 360) -> go.Figure:
    """The chosen channels' maps, natural (top row) and adversarial (bottom row), on one scale."""
    chans = [int(c) for c in channels]
    k = max(1, len(chans))
    titles = [f"ch {c}<br>r = {float(res.relevance[c]):+.2g}" for c in chans] + [""] * k
    fig = make_subplots(rows=2, cols=k, subplot_titles=titles, horizontal_spacing=0.01, vertical_spacing=0.06,
                        row_titles=["natural", "adversarial"])
    maps = [res.maps_nat[c] for c in chans] + [res.maps_adv[c] for c in chans]
    lo, hi = shared_range(maps, signed=bool(min(float(m.min()) for m in maps) < 0), percentile=100)
    for j, c in enumerate(chans, start=1):
        for row, m in ((1, res.maps_nat[c]), (2, res.maps_adv[c])):
            fig.add_trace(go.Heatmap(z=_np(m), coloraxis="coloraxis",
                                     hovertemplate=f"ch {c}" + ": %{z:.3g}<extra></extra>"), row, j)
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False, autorange="reversed")
    fig.update_layout(coloraxis=dict(colorscale="Viridis", cmin=lo, cmax=hi, colorbar=dict(thickness=12)),
                      height=height, margin=dict(l=10, r=30, t=60, b=10), font=FONT)
    fig.update_annotations(font_size=11)
    return fig


# --------------------------------------------------------------------------- feature maps
def stage_sizes_figure(sizes: dict[str, dict[str, tuple[int, int, int]]], height: int = 340) -> go.Figure:
    """H×W of every stage (log scale), one bar group per setting."""
    fig = go.Figure()
    for label, sz in sizes.items():
        names = list(sz)
        # Bar labels in short form (112² for 112×112): two settings' "112×112" side by side ran together.
        fig.add_trace(go.Bar(x=names, y=[h * w for _, h, w in sz.values()], name=label,
                             text=[f"{h}²" if h == w else f"{h}×{w}" for _, h, w in sz.values()], textposition="outside",
                             hovertemplate="%{x}: %{customdata[1]}, %{customdata[0]} channels<extra></extra>",
                             customdata=[[c, f"{h}×{w}"] for c, h, w in sz.values()]))
    fig.update_layout(barmode="group", yaxis=dict(type="log", title="positions H×W"), height=height,
                      margin=dict(l=10, r=10, t=10, b=10), font=FONT, legend=dict(orientation="h", y=1.12))
    return fig


def sensitivity_figure(results: Sequence[SettingResult], height: int = 380) -> go.Figure:
    """Noise sensitivity (and, where bisection ran, the smallest flipping ε) against the last
    map's H×W. Without any bisection result the figure has only the sensitivity panel."""
    x = [r.final_positions for r in results]
    labels = [r.setting.label for r in results]
    # Labels to the left of the rightmost points and to the right of the others, so that none is
    # cut off at the plot's edge.
    right = max(x)
    where = ["top left" if v == right and v != min(x) else "top right" for v in x]
    eps = [None if r.min_eps is None or r.min_eps.eps is None else r.min_eps.eps * 255 for r in results]
    with_eps = any(r.min_eps is not None for r in results)
    fig = make_subplots(rows=1, cols=2 if with_eps else 1,
                        subplot_titles=("Relative change under fixed random noise",
                                        *(["Smallest ε that flips the label (PGD)"] if with_eps else [])))
    for key, name, colour in (("pooled", "pooled feature", "#1f77b4"), ("logits", "logits", "#ff7f0e")):
        fig.add_trace(go.Scatter(x=x, y=[r.sensitivity[key] for r in results], mode="markers+text", name=name,
                                 text=labels, textposition=where, marker=dict(size=10, color=colour)), 1, 1)
    if with_eps:
        fig.add_trace(go.Scatter(x=x, y=eps, mode="markers+text", text=labels, textposition=where,
                                 name="smallest ε", marker=dict(size=10, color="#2ca02c", symbol="diamond")), 1, 2)
        fig.update_yaxes(title_text="ε · 255", row=1, col=2)
    fig.update_xaxes(title_text="positions of the last map (H×W)", type="log")
    fig.update_yaxes(title_text="‖Δ‖ / ‖·‖", row=1, col=1)
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=40, b=10), font=FONT,
                      legend=dict(orientation="h", y=-0.2))
    return fig


def pooling_demo_figure(demo: dict[str, np.ndarray], height: int = 460) -> go.Figure:
    """Mean |Δ pooled| against the number of positions, for average and max pooling."""
    fig = go.Figure()
    styles = {"noise": ("zero-mean noise at every position", "solid"),
              "bump": ("one position raised", "dash"),
              "shift": ("every position raised alike", "dot")}
    for kind, (desc, dash) in styles.items():
        for pool, colour in (("avg", "#1f77b4"), ("max", "#d62728")):
            fig.add_trace(go.Scatter(x=demo["positions"], y=demo[f"{pool}_{kind}"], mode="lines+markers",
                                     name=f"{'average' if pool == 'avg' else 'max'} pooling · {desc}",
                                     line=dict(color=colour, dash=dash)))
    fig.update_layout(xaxis=dict(type="log", title="positions in the map (n×n)"),
                      yaxis=dict(type="log", title="mean |change of the pooled value|"),
                      height=height, margin=dict(l=10, r=10, t=10, b=10), font=FONT,
                      legend=dict(orientation="h", y=-0.25))
    return fig
