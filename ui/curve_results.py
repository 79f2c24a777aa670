"""The Robustness curves page's result sections after its main chart: the worst case as a
verdict on one photo, the smallest flipping ε per attack, the adversarial images along each
curve, every number, and the certified radius against σ. Drawn from what
:func:`core.evaluation.curves.curves_with_extras` computed; the page (views/curves.py) picks the settings
and draws the chart."""
from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from core.evaluation.curves import NO_DEFENSE, WORST_CASE, CertPoint, CurveResult, flip_rows, worst_case_rows
from core.evaluation.ensemble import WORST_CASE_SUMMARY
from core.explain.feature_maps import Bisection
from core.judging.stats import accuracy_interval
from core.viz.curves import certified_radius_figure
from core.viz.defenses import image_grid_figure
from ui.tables import show_table


def show_worst_case(curves: CurveResult, scale: float, unit: str) -> None:
    """The worst-case ensemble's row per classifier, when the curve has one, with what n = 1 means."""
    rows = worst_case_rows(curves, scale)
    if not rows:
        return
    one_photo = accuracy_interval(1, 1)
    st.subheader(f"{WORST_CASE} (the number to quote)")
    show_table(rows)  # "—" where the ensemble never fooled it (or fooled it at the smallest ε)
    st.caption(f"ε in {unit}, on this grid. {WORST_CASE}: {WORST_CASE_SUMMARY} \"found by\": the first attack of the "
               "ensemble that fooled the classifier at that ε. Where a defense classifies the ensemble's images without "
               "the adaptive attacker, the images were made on the undefended model. This is one photo (n = 1): a "
               f"verdict, not an accuracy — 1 of 1 correct has the exact 95 % interval "
               f"{one_photo.short(0)} %. For a robust accuracy with its interval, use Batch evaluation.")


def show_flips(flips: dict[tuple[str, str], Bisection], scale: float, unit: str) -> None:
    """The bisection's smallest flipping ε per attack and classifier, when it was asked for."""
    if not flips:
        return
    st.subheader("Smallest ε that flips the label")
    st.dataframe(flip_rows(flips, scale), hide_index=True, width="stretch")
    st.caption(f"ε in {unit}. Bisection between the curve's last failing and first succeeding ε, to 0.1/255 (L∞) "
               "or 0.01 (L2) or 5 %: the smallest ε *seen* to succeed, an upper bound on the true threshold "
               "(an attack's success need not be monotone in ε). Below 0.5/255 a perturbation may not survive "
               "saving the image with 8 bits per channel.")


def show_images_and_numbers(curves: CurveResult, names: Sequence[str], scale: float, unit: str, key: str) -> None:
    """Two expanders: each undefended series' adversarial image at every ε with its prediction,
    and the table of every point of every curve."""
    with st.expander("Adversarial images along the curve"):
        for s in curves.series:
            if s.defense != NO_DEFENSE or s.x_adv is None:
                continue
            titles = [f"{e * scale:.3g}: {names[p][:16] if p >= 0 else 'abstain'}"
                      for e, p in zip(s.eps, s.verdicts.pred)]
            st.plotly_chart(image_grid_figure(s.x_adv, titles=titles, cols=min(len(s.eps), 6), height=260,
                                              title=f"{s.attack}: the image at each {unit} and its prediction"),
                            key=f"{key}_grid_{s.attack}", width="stretch")
    with st.expander("All numbers"):
        show_table([{**r, "eps_shown": r["eps"] * scale,
                     "pred_name": names[r["pred"]] if r["pred"] >= 0 else "abstain"}
                    for r in curves.rows()])  # "found_by" is "—" for the single attacks


def show_certified(cert: Sequence[CertPoint], names: Sequence[str], key: str) -> None:
    """The certified radius of randomized smoothing against σ, when it was asked for."""
    if not cert:
        return
    st.subheader("Certified radius against σ")
    st.plotly_chart(certified_radius_figure(cert, names), key=f"{key}_cert_fig", width="stretch")
    st.caption("Randomized smoothing (Cohen et al. 2019) certifies that no L2 perturbation smaller than R changes "
               "the smoothed vote (with probability ≥ 1 − α). A larger σ raises the ceiling R_max but blurs the photo "
               "for a model never trained on noise, so it often abstains (grey). Every σ uses the same noise draws, "
               "scaled.")
    st.dataframe([{**p.as_row(), "predicted_name": names[p.predicted] if p.predicted >= 0 else "abstain"}
                  for p in cert], hide_index=True, width="stretch")


__all__ = ["show_certified", "show_flips", "show_images_and_numbers", "show_worst_case"]
