"""The model-zoo page's per-class chart: clean and attacked accuracy of each Fashion-MNIST class for
the chosen models (from the cards' ``per_class`` blocks, :mod:`core.evaluation.zoo.per_class`)."""
from __future__ import annotations

import plotly.graph_objects as go

from core.viz.palette import MODELS

from core.viz.common import FONT

PALETTE = MODELS  # one colour per model, none meaning clean/adversarial/defended (core/viz/palette.py)


def per_class_figure(blocks: dict[str, dict], titles: dict[str, str] | None = None, height: int = 460) -> go.Figure:
    """Grouped bars: attacked accuracy per class and model (solid), clean accuracy as a marker above."""
    titles = titles or {}
    fig = go.Figure()
    for i, (name, pc) in enumerate(blocks.items()):
        colour = PALETTE[i % len(PALETTE)]
        rows = pc["classes"]
        classes = [r["name"] for r in rows]
        label = "worst case" if pc["source"] == "worst_case" else "PGD-20"
        t = titles.get(name, name)
        fig.add_trace(go.Bar(x=classes, y=[r["attacked_accuracy"] for r in rows], name=f"{t} — {label}",
                             marker_color=colour, offsetgroup=str(i),
                             hovertemplate="%{x}: %{y:.0%} " + label + "<extra>" + t + "</extra>"))
        fig.add_trace(go.Scatter(x=classes, y=[r["clean_accuracy"] for r in rows], mode="markers",
                                 name=f"{t} — clean", marker=dict(color=colour, symbol="line-ew-open", size=18,
                                                                  line=dict(width=3, color=colour)),
                                 offsetgroup=str(i), showlegend=False,
                                 hovertemplate="%{x}: %{y:.0%} clean<extra>" + t + "</extra>"))
    fig.update_layout(barmode="group", scattermode="group", yaxis=dict(title="accuracy", range=[0, 1], tickformat=".0%"),
                      height=height, margin=dict(l=10, r=10, t=30, b=10), font=FONT,
                      legend=dict(orientation="h", yanchor="top", y=-0.15, x=0))
    return fig


def push_in_rows(blocks: dict[str, dict], titles: dict[str, str] | None = None) -> list[dict]:
    """Table rows: how often attacks push other classes' images into the protected classes."""
    titles = titles or {}
    out = []
    for name, pc in blocks.items():
        p = pc.get("push_in")
        if not p:
            continue
        out.append({"model": titles.get(name, name), "attack": "worst case" if pc["source"] == "worst_case" else "PGD-20",
                    "attacked → " + "/".join(p["protected_names"]) + " %":
                        None if p["attack_push_in_rate"] is None else 100 * p["attack_push_in_rate"],
                    "share of fooled %": None if p["share_of_fooled_into_protected"] is None
                    else 100 * p["share_of_fooled_into_protected"],
                    "clean → protected": f"{p['clean_into_protected']} / {p['other_images']}"})
    return out
