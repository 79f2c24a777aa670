"""Widgets and results of the Segmentation page's few-shot task (logic: core.evaluation.dense.fewshot_page;
figures: core.viz.dense.fewshot)."""
from __future__ import annotations

import pandas as pd
import streamlit as st
from torch import nn

from core.evaluation.dense.fewshot_page import (ATTACKS, FewShotDemo, available_models, default_episode, episode_label,
                                               episodes, n_episodes)
from core.judging.pages import fewshot_input
from ui.verdicts import show_verdict
from core.viz.dense.fewshot import demo_figure, episode_figure


@st.cache_resource(show_spinner="Loading the few-shot models…")
def fewshot_models(dopri5: bool) -> dict[str, nn.Module]:
    """The shipped seed-0 few-shot models (shared, eval mode, never switched)."""
    return available_models(dopri5)


def fewshot_picker(page: str) -> dict:
    """Episode, attacked image, attack, ε, steps and the ODE solver, in the sidebar."""
    st.header("Episode")
    ep = st.selectbox("Episode (novel class)", list(range(n_episodes())), format_func=episode_label,
                      index=default_episode(),
                      key=f"{page}_fs_episode", help="60 shipped test episodes on classes never seen in training.")
    st.header("Attack")
    target = st.radio("Attack the", ["query", "support"], key=f"{page}_fs_target", horizontal=True)
    attack = st.selectbox("Attack", list(ATTACKS), key=f"{page}_fs_attack",
                          help="PGD (paper): as R-PNODE's code runs it, not clipped to [0, 1]. Dense PGD / APGD: "
                               "valid images. Square: gradient-free, on the Dice itself.")
    eps_k = st.slider("ε (×1/1000)", 5, 100, 35, 5, key=f"{page}_fs_eps", help="The paper's ε = 0.035.")
    steps = st.slider("Steps", 5, 50, 10, 5, key=f"{page}_fs_steps")
    dopri5 = st.checkbox("ODE models: dopri5 (the paper's solver)", value=False, key=f"{page}_fs_dopri5",
                         help="Off: the fixed-step RK4 solver they were trained with.")
    return {"episode": int(ep), "target": target, "attack": attack, "eps": eps_k / 1000, "steps": int(steps),
            "dopri5": bool(dopri5)}


def show_episode(index: int) -> None:
    ep = episodes().subset(slice(index, index + 1))
    st.plotly_chart(episode_figure(ep.support[0], ep.support_mask[0], ep.query[0], ep.query_mask[0],
                                   episode_label(index).split(": ")[1]), key="seg_fs_episode_fig")


def show_demo(demo: FewShotDemo) -> None:
    unfit = fewshot_input(demo.clean_dice)
    if unfit is not None:
        show_verdict(unfit)
    st.plotly_chart(demo_figure(demo), key="seg_fs_demo_fig")
    rows = [{"model": t, "clean Dice": round(demo.clean_dice[t], 3), "attacked Dice": round(demo.attacked_dice[t], 3)}
            for t in demo.clean]
    st.dataframe(pd.DataFrame(rows), hide_index=True)
    st.caption(f"{demo.attack} on the {demo.target}, ε = {demo.eps:.3f}. Red: each model's predicted mask of the novel "
               "class. One episode says little: the cards in assets/fewshot/ hold the 60-episode numbers.")
