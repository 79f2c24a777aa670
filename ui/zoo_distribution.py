"""The Model zoo page's robustness distributions: the chosen models' ECDFs of the smallest flipping ε
(from their cards) and the medians with their intervals; says which chosen models have none yet."""
from __future__ import annotations

import streamlit as st

from core.data.safe_text import md
from core.viz.zoo import distribution_figure
from ui.tables import show_table


def show_distributions(cards: dict[str, dict], chosen: list[str], titles: dict[str, str]) -> None:
    st.header("Robustness distributions")
    dists = {n: cards[n]["distribution"] for n in chosen if cards[n].get("distribution")}
    missing = [n for n in chosen if n not in dists]
    if missing:
        st.info("No robustness distribution yet for " + ", ".join(f"**{md(titles[n])}**" for n in missing)
                + " (made by `tools/per_image_zoo.py`, minutes to hours per model on this CPU).")
    if not dists:
        return
    st.plotly_chart(distribution_figure(dists, titles), key="zoo_distribution", width="stretch")
    def eps(v) -> str:
        return "∞" if isinstance(v, str) else f"{float(v):.3g}"

    show_table([{"model": titles[n], "median smallest ε": eps(d["median"]["value"]),
                 "95 % interval": f"{eps(d['median']['interval95'][0])}–{eps(d['median']['interval95'][1])}", "images": d["n"]}
                for n, d in dists.items()], key="zoo_distribution_table")
    st.caption("For each image, the smallest ε on a grid at which the worst-case ensemble's gradient attacks "
               "(APGD-CE, targeted APGD-DLR) flip the prediction, searched upwards; the curve is the share of "
               "images not flipped yet — robust accuracy against ε — with its exact 95 % band. Models that all "
               "sit at 0 % at the cards' ε differ here, at smaller ε. Each value is an upper bound: a stronger "
               "attack could flip an image sooner.")
