"""Figures of robustness curves, certified radius against σ, and batch evaluation. No Streamlit."""
from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from core.evaluation.curves import NO_DEFENSE, CertPoint, CurveResult
from core.judging.stats import accuracy_interval
from core.viz.common import FONT, error_y, title_layout

OK = "#2ca02c"
BAD = "#d62728"
GREY = "#7f7f7f"
DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")


def eps_axis(norm: str) -> tuple[str, float]:
    """Axis title and the factor that turns ε into the displayed value (k/255 for L∞)."""
    return ("ε (k/255, L∞)", 255.0) if norm == "linf" else ("ε (L2, [0, 1] pixel scale)", 1.0)


def _layout(fig: go.Figure, title: str, height: int) -> go.Figure:
    fig.update_layout(height=height, margin=dict(l=10, r=10, b=10), font=FONT, legend=dict(orientation="h", y=-0.22))
    fig.update_layout(**title_layout(fig, title))
    return fig


def curve_figure(res: CurveResult, class_names: Sequence[str], min_eps: dict[tuple[str, str], float | None] | None = None,
                 title: str | None = None, height: int = 460) -> go.Figure:
    """Confidence in the label against ε, one line per attack (colour) × defense (dash).

    Markers: green where the (defended) prediction is the label, red where it is not, grey
    where a certified defense abstains. Dotted vertical lines: the smallest flipping ε found by
    bisection, per attack (and defense)."""
    xt, k = eps_axis(res.norm)
    lab = class_names[res.label] if res.label < len(class_names) else str(res.label)
    attacks = list(dict.fromkeys(s.attack for s in res.series))
    defenses = list(dict.fromkeys(s.defense for s in res.series))
    colours = {a: qualitative.Plotly[i % len(qualitative.Plotly)] for i, a in enumerate(attacks)}
    fig = go.Figure()
    for s in res.series:
        v = s.verdicts
        mcol = [GREY if p < 0 else (OK if c else BAD) for p, c in zip(v.pred, v.correct)]
        text = [("abstain" if p < 0 else class_names[p] if p < len(class_names) else str(p)) for p in v.pred]
        dash = DASHES[defenses.index(s.defense) % len(DASHES)]
        fig.add_trace(go.Scatter(
            x=[e * k for e in s.eps], y=v.confidence, mode="lines+markers",
            name=f"{s.attack} · {s.defense}", line=dict(color=colours[s.attack], dash=dash, width=2),
            marker=dict(color=mcol, size=9, line=dict(color=colours[s.attack], width=1.5),
                        symbol=["circle" if c else ("square" if p < 0 else "x") for p, c in zip(v.pred, v.correct)]),
            text=text, hovertemplate="ε = %{x:.3g}: P(label) = %{y:.1%}, predicted %{text}<extra>%{fullData.name}</extra>"))
    flips = sorted(((e, atk, d) for (atk, d), e in (min_eps or {}).items() if e is not None), key=lambda t: t[0])
    for i, (e, atk, d) in enumerate(flips):
        colour = colours.get(atk, GREY)
        fig.add_vline(x=e * k, line=dict(color=colour, dash="dot", width=1.5))
        # One label per line, stacked downwards in order of ε: flips close together would
        # otherwise write their labels over each other at the top of the plot.
        fig.add_annotation(x=e * k, y=1 - 0.07 * (i % 8), xref="x", yref="paper", xanchor="left", yanchor="top",
                           text=f"{atk}{'' if d == NO_DEFENSE else ' · ' + d}: {e * k:.3g}", showarrow=False,
                           font=dict(size=11, color=colour), bgcolor="rgba(255,255,255,0.85)")
    fig.update_xaxes(title_text=xt, rangemode="tozero")
    fig.update_yaxes(title_text=f"P({lab[:30]})", range=[-0.02, 1.02], tickformat=".0%")
    return _layout(fig, title if title is not None else f"Confidence in “{lab}” against ε", height)


def certified_radius_figure(points: Sequence[CertPoint], class_names: Sequence[str] | None = None,
                            title: str = "Certified L2 radius against σ", height: int = 380) -> go.Figure:
    """The certified radius per σ (0 and grey where the smoothed classifier abstains, red where
    it certifies another class than the label) and the ceiling R_max = σΦ⁻¹(α^{1/n})."""
    xs = [p.sigma for p in points]
    names = [("abstain" if p.predicted < 0 else (class_names[p.predicted] if class_names else str(p.predicted)))
             for p in points]
    col = [GREY if p.predicted < 0 else (OK if p.correct else BAD) for p in points]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=xs, y=[p.max_radius for p in points], mode="lines", name="ceiling R_max (all votes)",
                             line=dict(color=GREY, dash="dash")))
    fig.add_trace(go.Scatter(x=xs, y=[p.radius for p in points], mode="lines+markers", name="certified radius R",
                             marker=dict(color=col, size=11), line=dict(color="#1f77b4"), text=names,
                             customdata=[p.p_lower for p in points],
                             hovertemplate="σ = %{x}: R = %{y:.3f}, %{text}, p̲A = %{customdata:.3f}<extra></extra>"))
    fig.update_xaxes(title_text="noise σ ([0, 1] pixel scale)")
    fig.update_yaxes(title_text="L2 radius", rangemode="tozero")
    return _layout(fig, title, height)


def batch_figure(summary: Sequence[dict], norm: str, title: str = "", height: int = 400) -> go.Figure:
    """Accuracy (left) and attack success rate (right) against ε, one line per defense; the
    accuracy line starts at the clean accuracy (ε = 0)."""
    xt, k = eps_axis(norm)
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Accuracy (agreement with the label)",
                                                        "Attack success rate (of images correct when clean)"))
    defenses = list(dict.fromkeys(r["defense"] for r in summary))
    for i, d in enumerate(defenses):
        col = qualitative.Plotly[i % len(qualitative.Plotly)]
        rows = [r for r in summary if r["defense"] == d]
        clean = [r for r in rows if r["kind"] == "clean"]
        att = sorted((r for r in rows if r["kind"] == "attack"), key=lambda r: r["eps"])
        acc = clean[:1] + [r for r in att if r["eps"] > 0 or not clean]
        fig.add_trace(go.Scatter(x=[r["eps"] * k for r in acc], y=[r["accuracy"] for r in acc], mode="lines+markers",
                                 name=d, legendgroup=d, line=dict(color=col),
                                 error_y=error_y([r["accuracy"] for r in acc],
                                                 [r.get("accuracy_ci95_lo") for r in acc],
                                                 [r.get("accuracy_ci95_hi") for r in acc], color=col)), 1, 1)
        sr = [r for r in att if r["success_rate"] is not None]
        fig.add_trace(go.Scatter(x=[r["eps"] * k for r in sr], y=[r["success_rate"] for r in sr], mode="lines+markers",
                                 name=d, legendgroup=d, showlegend=False, line=dict(color=col),
                                 error_y=error_y([r["success_rate"] for r in sr], [r.get("success_ci95_lo") for r in sr],
                                                 [r.get("success_ci95_hi") for r in sr], color=col)), 1, 2)
    fig.update_xaxes(title_text=xt, rangemode="tozero")
    fig.update_yaxes(range=[-0.02, 1.02], tickformat=".0%")
    return _layout(fig, title, height)


__all__ = ["batch_figure", "certified_radius_figure", "curve_figure", "eps_axis"]


def _ci_text(lo: float | None, hi: float | None) -> str | None:
    return None if lo is None or hi is None else f"{100 * lo:.1f}–{100 * hi:.1f} %"


def _vs_bare_text(r: dict) -> str | None:
    if r.get("vs_bare_p") is None:
        return None
    return (f"{100 * r['vs_bare_difference']:+.1f} pts, p = {r['vs_bare_p']:.2g}"
            + (" (significant)" if r["vs_bare_significant"] else ""))


def batch_summary_table(summary: Sequence[dict], eps_scale: float) -> list[dict]:
    """The Batch page's summary table: one row per defense × clean/attacked × ε, ε in display units,
    with each accuracy's exact 95 % interval and, for a defense, the paired test against the bare model."""
    return [{"defense": r["defense"], "images": r["kind"], "ε": round(r["eps"] * eps_scale, 4),
             "accuracy": r["accuracy"], "95 % interval": _ci_text(r.get("accuracy_ci95_lo"), r.get("accuracy_ci95_hi")),
             "vs bare model (McNemar)": _vs_bare_text(r),
             "success rate": r["success_rate"],
             "success 95 % interval": _ci_text(r.get("success_ci95_lo"), r.get("success_ci95_hi")),
             "abstain": r["abstain_rate"], "mean P(label)": r["mean_confidence"], "n": r["n"]} for r in summary]


def batch_breakdown_table(breakdown: Sequence[dict], attacks: Sequence[str], eps_scale: float) -> list[dict]:
    """Robust accuracy per ε with its exact 95 % interval and the share of images each attack fooled
    first (:meth:`core.evaluation.batch.evaluate.BatchResult.breakdown`), ε in display units."""
    return [{"ε": round(r["eps"] * eps_scale, 4), "robust accuracy": r["robust_accuracy"],
             "95 % interval": _ci_text(*accuracy_interval(r["robust"], r["n"]).as_list()) if "robust" in r else None,
             "clean wrong": r["clean_misclassified"],
             **{f"fooled first by {a}": r[f"fooled_by_{a}"] for a in attacks},
             "not fooled": r["not_fooled"], "n": r["n"]} for r in breakdown]
