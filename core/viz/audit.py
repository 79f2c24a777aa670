"""Figures of the gradient-masking audit (core/audit.py): success against ε, and white-box vs
transfer vs Square at the compared budgets."""
from __future__ import annotations

import plotly.graph_objects as go

VERDICT_ICON = {"pass": "✅", "warn": "⚠️", "n/a": "➖"}


def success_vs_eps_figure(result, title: str = "White-box PGD success against ε") -> go.Figure:
    """Share of clean-correct images fooled by white-box PGD at each ε of the audit."""
    eps = [p["eps"] for p in result.curve]
    fig = go.Figure(go.Scatter(x=eps, y=[100 * p["success"] for p in result.curve], mode="lines+markers",
                               name="white-box PGD"))
    fig.add_hline(y=100, line_dash="dot", line_color="grey")
    fig.update_layout(title=title, xaxis_title="ε", yaxis_title="images fooled (%)", yaxis_range=[0, 105],
                      height=320, margin=dict(l=40, r=10, t=50, b=40))
    return fig


def attack_comparison_figure(result, title: str = "White-box vs transfer vs Square") -> go.Figure:
    """Grouped bars: success of white-box PGD, transfer from the surrogate and Square at each ε."""
    xs = [f"ε = {c['eps']:.3g}" for c in result.comparison]
    fig = go.Figure()
    for key, name in (("white_box", "white-box PGD"), ("transfer", "transfer (surrogate)"), ("square", "Square (no gradients)")):
        vals = [c[key] for c in result.comparison]
        if all(v != v for v in vals):  # no surrogate: no bars
            continue
        fig.add_bar(x=xs, y=[100 * v if v == v else 0 for v in vals], name=name)
    fig.update_layout(title=title, barmode="group", yaxis_title="images fooled (%)", yaxis_range=[0, 105],
                      height=320, margin=dict(l=40, r=10, t=50, b=40))
    return fig


def checklist_rows(result) -> list[dict]:
    """One row per check for a table: icon, title, verdict, meaning."""
    return [{"": VERDICT_ICON[c.verdict], "check": c.title, "verdict": c.verdict, "what it means": c.meaning}
            for c in result.checks]


__all__ = ["VERDICT_ICON", "attack_comparison_figure", "checklist_rows", "success_vs_eps_figure"]
