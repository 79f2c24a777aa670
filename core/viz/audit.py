"""Figures of the gradient-masking audit (core/evaluation/audit/checks.py): success against ε, and white-box vs
transfer vs Square at the compared budgets."""
from __future__ import annotations

import plotly.graph_objects as go

from core.viz.common import error_y

VERDICT_ICON = {"pass": "✅", "warn": "⚠️", "n/a": "➖"}


def success_vs_eps_figure(result, title: str = "White-box PGD success against ε") -> go.Figure:
    """Share of clean-correct images fooled by white-box PGD at each ε of the audit."""
    eps = [p["eps"] for p in result.curve]
    ys = [p["success"] for p in result.curve]
    fig = go.Figure(go.Scatter(x=eps, y=[100 * v for v in ys], mode="lines+markers", name="white-box PGD",
                               error_y=error_y(ys, [(p.get("success_ci95") or [None])[0] for p in result.curve],
                                               [(p.get("success_ci95") or [None, None])[1] for p in result.curve],
                                               scale=100)))
    fig.add_hline(y=100, line_dash="dot", line_color="grey")
    fig.update_layout(title=title, xaxis_title="ε", yaxis_title="images fooled (%)", yaxis_range=[0, 105],
                      height=320, margin=dict(l=40, r=10, t=50, b=40))
    return fig


def attack_comparison_figure(result, title: str = "White-box vs transfer vs Square") -> go.Figure:
    """Grouped bars: success of white-box PGD, transfer from the surrogate and Square at each ε."""
    xs = [f"ε = {c['eps']:.3g}" for c in result.comparison]
    fig = go.Figure()
    keys = [("white_box", "white-box PGD"), ("transfer", "transfer (surrogate)"), ("square", "Square (no gradients)")]
    if any("square_eot" in c for c in result.comparison):  # randomized: both Squares, and the union as "square"
        keys[2:] = [("square_one_draw", "Square, one draw per query"), ("square_eot", "Square-EOT")]
    for key, name in keys:
        vals = [c.get(key, float("nan")) for c in result.comparison]
        if all(v != v for v in vals):  # no surrogate: no bars
            continue
        ci = [c.get(f"{key}_ci95") for c in result.comparison]
        fig.add_bar(x=xs, y=[100 * v if v == v else 0 for v in vals], name=name,
                    error_y=error_y([v if v == v else None for v in vals], [c[0] if c else None for c in ci],
                                    [c[1] if c else None for c in ci], scale=100, color="#444"))
    fig.update_layout(title=title, barmode="group", yaxis_title="images fooled (%)", yaxis_range=[0, 105],
                      height=320, margin=dict(l=40, r=10, t=50, b=40))
    return fig


def comparison_rows(result) -> list[dict]:
    """White-box vs transfer vs Square per ε with each success rate's exact 95 % interval (over the
    clean-correct images), the images no attack fooled (over all images: the audit's per-image worst case)
    and the paired McNemar test against white-box PGD."""
    def cell(c: dict, k: str) -> str | None:
        v, ci = c.get(k), c.get(f"{k}_ci95")
        if v is None or v != v:
            return None
        return f"{100 * v:.0f} %" + (f" ({100 * ci[0]:.0f}–{100 * ci[1]:.0f})" if ci else "")

    rows = []
    for c in result.comparison:
        row = {"ε": round(c["eps"], 4), "n": c.get("n"), "white-box": cell(c, "white_box"),
               "transfer": cell(c, "transfer"), "Square": cell(c, "square")}
        if "square_eot" in c:
            row["Square (one draw)"], row["Square-EOT"] = cell(c, "square_one_draw"), cell(c, "square_eot")
        per = c.get("robust_per_image")
        if per is not None:
            row["robust to all"] = f"{sum(per)} of {len(per)}"
        for k, t in (c.get("paired") or {}).items():
            row[f"{k} vs white-box"] = f"p = {t['p_value']:.2g}" + (" (significant)" if t["significant"] else "")
        rows.append(row)
    return rows


def checklist_rows(result) -> list[dict]:
    """One row per check for a table: icon, title, verdict, meaning."""
    return [{"": VERDICT_ICON[c.verdict], "check": c.title, "verdict": c.verdict, "what it means": c.meaning}
            for c in result.checks]


__all__ = ["VERDICT_ICON", "attack_comparison_figure", "checklist_rows", "comparison_rows", "success_vs_eps_figure"]
