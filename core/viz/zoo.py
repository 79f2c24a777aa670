"""Figures of the model-zoo page: predictions side by side, accuracy-versus-ε curves (model
cards and live), CIFS channel masks, and 28×28 images scaled up for display."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from core.viz.palette import MODELS
import torch

from core.judging.stats import accuracy_interval
from core.viz.common import FONT, error_y

PALETTE = MODELS  # one colour per model, none meaning clean/adversarial/defended (core/viz/palette.py)


def upscale(x: torch.Tensor, factor: int = 6) -> np.ndarray:
    """A (1, C, H, W) / (C, H, W) image in [0, 1] (C = 1 or 3) as an (H·f, W·f, 3) uint8 array,
    nearest-neighbour, so the pixels stay visible."""
    if x.dim() == 4:
        x = x[0]
    if x.shape[0] == 1:
        x = x.expand(3, -1, -1)
    a = (x.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255).round().astype(np.uint8)
    return np.repeat(np.repeat(a, factor, axis=0), factor, axis=1)


def amplified_delta(delta: torch.Tensor, factor: int = 6) -> np.ndarray:
    """δ made visible (0.5 + δ/(2·max|δ|)), upscaled."""
    m = float(delta.abs().max())
    return upscale(torch.full_like(delta, 0.5) if m == 0 else 0.5 + delta / (2 * m), factor)


def outcome_figure(titles: Sequence[str], label: int, clean_probs: Sequence[torch.Tensor],
                   adv_probs: Sequence[torch.Tensor], class_names: Sequence[str], height: int = 340) -> go.Figure:
    """Per model: probability of the true class on the clean and on the attacked image, with the
    predicted class written on each bar."""
    fig = go.Figure()
    for tag, probs, colour in (("clean", clean_probs, "#1f77b4"), ("attacked", adv_probs, "#d62728")):
        p_true = [float(p[label]) for p in probs]
        text = [f"{class_names[int(p.argmax())]} ({float(p.max()):.0%})" for p in probs]
        fig.add_trace(go.Bar(name=tag, x=list(titles), y=p_true, marker_color=colour, text=text,
                             textposition="outside", cliponaxis=False,
                             hovertemplate="%{x}<br>P(true class) %{y:.1%}<br>prediction %{text}<extra>" + tag + "</extra>"))
    fig.update_layout(barmode="group", yaxis=dict(title=f"P(“{class_names[label]}”)", range=[0, 1.15],
                                                  tickformat=".0%"),
                      height=height, margin=dict(l=10, r=10, t=30, b=10), font=FONT,
                      legend=dict(orientation="h", y=1.08, x=0), title=None)
    return fig


def curves_figure(card: dict[str, list[dict]], live: dict[str, list[dict]] | None = None,
                  titles: dict[str, str] | None = None, card_label: str = "card (1,000 test images)",
                  live_label: str = "live", height: int = 520) -> go.Figure:
    """Accuracy versus ε: solid lines from the model cards, dashed markers from a live run."""
    titles = titles or {}
    fig = go.Figure()
    names = list(dict.fromkeys(list(card) + list(live or {})))
    for i, name in enumerate(names):
        colour = PALETTE[i % len(PALETTE)]
        t = titles.get(name, name)
        if name in card:
            pts = card[name]
            ci = [p.get("ci95") or [None, None] for p in pts]  # exact 95 % intervals (core.judging.stats), as error bars
            fig.add_trace(go.Scatter(x=[p["eps"] for p in pts], y=[p["accuracy"] for p in pts], mode="lines+markers",
                                     name=f"{t} — {card_label}", line=dict(color=colour, width=2),
                                     error_y=error_y([p["accuracy"] for p in pts], [c[0] for c in ci], [c[1] for c in ci],
                                                     color=colour),
                                     hovertemplate="ε %{x:.3f}: %{y:.1%}<extra>" + t + "</extra>"))
        if live and name in live:
            pts = live[name]
            ci = [accuracy_interval(round(p["accuracy"] * p["n"]), p["n"]).as_list() if "n" in p else [None, None]
                  for p in pts]
            fig.add_trace(go.Scatter(x=[p["eps"] for p in pts], y=[p["accuracy"] for p in pts], mode="lines+markers",
                                     error_y=error_y([p["accuracy"] for p in pts], [c[0] for c in ci],
                                                     [c[1] for c in ci], color=colour),
                                     name=f"{t} — {live_label} ({pts[0]['n']} images)",
                                     line=dict(color=colour, dash="dash", width=1.5), marker=dict(symbol="x", size=9),
                                     hovertemplate="ε %{x:.3f}: %{y:.1%}<extra>" + t + " (live)</extra>"))
    fig.update_layout(xaxis=dict(title="ε (L∞, [0, 1] pixels)"), yaxis=dict(title="robust accuracy", range=[0, 1],
                                                                            tickformat=".0%"),
                      height=height, margin=dict(l=10, r=10, t=30, b=10), font=FONT,
                      legend=dict(font=dict(size=11), orientation="h", yanchor="top", y=-0.18, x=0))
    return fig


def cifs_mask_figure(mask_clean: torch.Tensor, mask_adv: torch.Tensor, relevance: torch.Tensor | None = None,
                     title: str = "", height: int = 380) -> go.Figure:
    """The CIFS mask per channel (mean multiplier 1) on the clean and the attacked image;
    channels ordered by ``relevance`` (descending) when given, else by the clean mask."""
    mc, ma = mask_clean.detach().float().cpu(), mask_adv.detach().float().cpu()
    key = relevance.detach().float().cpu() if relevance is not None else mc
    order = torch.argsort(key, descending=True, stable=True)
    x = list(range(len(order)))
    text = [f"channel {int(c)}" for c in order]
    fig = go.Figure()
    fig.add_trace(go.Bar(x=x, y=mc[order].numpy(), name="clean", marker_color="#1f77b4", opacity=0.75,
                         hovertext=text))
    fig.add_trace(go.Bar(x=x, y=ma[order].numpy(), name="attacked", marker_color="#d62728", opacity=0.6,
                         hovertext=text))
    fig.add_hline(y=1.0, line_dash="dot", line_color="grey", annotation_text="no change", annotation_position="top left")
    fig.update_layout(barmode="overlay", title=title,
                      xaxis=dict(title="channel (ordered by relevance to the clean prediction)" if relevance is not None
                                 else "channel (ordered by the clean mask)", showticklabels=False),
                      yaxis=dict(title="mask multiplier m_c"), height=height,
                      margin=dict(l=10, r=10, t=40 if title else 20, b=10), font=FONT,
                      legend=dict(orientation="h", y=1.1, x=0))
    return fig


def distribution_figure(dists: dict[str, dict], titles: dict[str, str] | None = None, height: int = 440) -> go.Figure:
    """Robustness distributions: per model the ECDF of each image's smallest flipping ε (robust accuracy
    against ε, its exact 95 % band shaded), from the cards' ``distribution`` blocks
    (core/evaluation/distributions.py); a dotted line at the cards' ε."""
    titles = titles or {}
    fig = go.Figure()
    for i, (name, d) in enumerate(dists.items()):
        colour = PALETTE[i % len(PALETTE)]
        t = titles.get(name, name)
        pts = d["ecdf"]
        xs = [p["eps"] for p in pts]
        lo, hi = [p["ci95"][0] for p in pts], [p["ci95"][1] for p in pts]
        # the band as steps (each grid value holds until the next grid point), drawn as one closed polygon
        sx = [v for a, b in zip(xs, xs[1:]) for v in (a, b)] + [xs[-1]]
        s_hi = [v for v in hi[:-1] for _ in (0, 1)] + [hi[-1]]
        s_lo = [v for v in lo[:-1] for _ in (0, 1)] + [lo[-1]]
        fig.add_trace(go.Scatter(x=sx + sx[::-1], y=s_hi + s_lo[::-1], fill="toself", line=dict(width=0),
                                 fillcolor=colour, opacity=0.15, hoverinfo="skip", showlegend=False))
        fig.add_trace(go.Scatter(x=xs, y=[p["accuracy"] for p in pts], mode="lines+markers", line_shape="hv",
                                 name=f"{t} (median ε {d['median']['value']:.3g}, n = {d['n']})" if not isinstance(
                                     d['median']['value'], str) else f"{t} (median ε ∞, n = {d['n']})",
                                 line=dict(color=colour, width=2),
                                 hovertemplate="ε %{x:.3f}: %{y:.1%} still robust<extra>" + t + "</extra>"))
    if dists:
        eps0 = next(iter(dists.values()))["card_eps"]
        fig.add_vline(x=eps0, line=dict(dash="dot", color="grey"), annotation_text=f"cards' ε = {eps0:g}")
    fig.update_layout(xaxis=dict(title="ε (L∞, [0, 1] pixels)"),
                      yaxis=dict(title="images not flipped yet", range=[0, 1], tickformat=".0%"),
                      height=height, margin=dict(l=10, r=10, t=30, b=10), font=FONT,
                      legend=dict(font=dict(size=11), orientation="h", yanchor="top", y=-0.18, x=0))
    return fig
