"""Widgets and results of the Segmentation page's few-shot task (logic: core.evaluation.dense.fewshot_page;
figures: core.viz.dense.fewshot)."""
from __future__ import annotations

import pandas as pd
import streamlit as st
from torch import nn

from core.attacks.dense.fewshot_metrics import dice
from core.data.fewshot_episodes import Episodes
from core.evaluation.dense.fewshot_page import (ATTACKS, FewShotDemo, available_models, bounding_box, default_episode,
                                               episode_label, make_episode, n_episodes, option_label, run_demo, scene,
                                               support_options)
from core.evaluation.live_attack import Throttle
from core.judging.pages import fewshot_input
from core.viz.common import side_by_side, to_numpy_image
from core.viz.dense.fewshot import PRED_RGB, demo_figure, episode_figure
from core.viz.dense.segmentation import overlay
from ui.live_attack import LIVE_INTERVAL_S, LIVE_RENDER_COST_S, LIVE_WIDTH_PX
from ui.verdicts import show_verdict


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
    st.header("Support")
    opts = support_options(int(ep))
    pick = st.selectbox("Support image", list(range(len(opts))), format_func=lambda i: option_label(opts[i], int(ep)),
                        key=f"{page}_fs_support_{ep}",
                        help="Any shipped scene that shows this episode's novel class, with its annotated mask.")
    mode = st.radio("Support mask", ["annotated", "a box I draw"], key=f"{page}_fs_mask", horizontal=True,
                    help="A box is the weak annotation PANet also evaluates: everything inside counts as the class.")
    box = None
    if mode == "a box I draw":
        mask = scene(opts[pick])[1]
        r0, r1, c0, c1 = bounding_box(mask)
        h, w = (int(n) for n in mask.shape)
        rows = st.slider("Box rows (top to bottom)", 0, h, (r0, r1), key=f"{page}_fs_rows_{ep}_{pick}")
        cols = st.slider("Box columns (left to right)", 0, w, (c0, c1), key=f"{page}_fs_cols_{ep}_{pick}")
        box = (int(rows[0]), int(rows[1]), int(cols[0]), int(cols[1]))
    st.header("Attack")
    target = st.radio("Attack the", ["query", "support"], key=f"{page}_fs_target", horizontal=True)
    attack = st.selectbox("Attack", list(ATTACKS), key=f"{page}_fs_attack",
                          help="PGD (paper): as R-PNODE's code runs it, not clipped to [0, 1]. Dense PGD / APGD: "
                               "valid images. Square: gradient-free, on the Dice itself.")
    eps_k = st.slider("ε (×1/1000)", 5, 100, 35, 5, key=f"{page}_fs_eps", help="The paper's ε = 0.035.")
    fixed = attack in ("PGD (paper)", "Square (Dice)")
    steps = st.slider("Steps", 5, 50, 10, 5, key=f"{page}_fs_steps", disabled=fixed,
                      help="Of Dense PGD and Dense APGD (and of the CNN's Dense PGD that is transferred). "
                           + ("PGD (paper) runs the paper's 10 steps; Square its 60 queries." if fixed else ""))
    dopri5 = st.checkbox("ODE models: dopri5 (the paper's solver)", value=False, key=f"{page}_fs_dopri5",
                         help="Off: the fixed-step RK4 solver they were trained with.")
    return {"episode": int(ep), "support": None if pick == 0 else opts[pick], "box": box, "target": target,
            "attack": attack, "eps": eps_k / 1000, "steps": int(steps), "dopri5": bool(dopri5)}


def chosen_episode(fs: dict) -> Episodes | None:
    """The episode with the chosen support and mask, or None (with an error shown) for an empty box."""
    try:
        return make_episode(fs["episode"], fs["support"], fs["box"])
    except ValueError as e:
        st.error(f"Cannot use this support: {e}. Widen the box.")
        return None


def show_episode(fs: dict, ep: Episodes) -> None:
    what = episode_label(fs["episode"]).split(": ")[1]
    if fs["support"] is not None:
        what += f" from {option_label(fs['support'], fs['episode'])}"
    st.plotly_chart(episode_figure(ep.support[0], ep.support_mask[0], ep.query[0], ep.query_mask[0], what,
                                   mask_words="drawn box" if fs["box"] is not None else "mask"),
                    key="seg_fs_episode_fig")


class FewShotLive:
    """The attack shown while it runs: the attacked image now and the query's predicted mask on it, with its
    Dice, redrawn within the Attack Lab's bound (core.evaluation.live_attack.Throttle: at most 10 % of the
    attack's time, renders charged, never two redraws closer than 0.4 s)."""

    def __init__(self, ep: Episodes, target: str) -> None:
        self.ep, self.target = ep, target
        self.slot = st.empty()
        self.throttle = Throttle(min_interval=LIVE_INTERVAL_S, render_cost=LIVE_RENDER_COST_S)

    def __call__(self, title: str, x, logits) -> None:
        if self.throttle.due():
            self.throttle.run(lambda: self._draw(title, x, logits))

    def _draw(self, title: str, x, logits) -> None:
        pred = logits[:1].argmax(1)[0] == 1
        d = float(dice(pred[None], self.ep.query_mask[:1]))
        shown = x[0].clamp(0, 1)  # the paper's PGD may leave [0, 1]: shown clipped
        base = self.ep.query[0] if self.target == "support" else shown
        self.slot.image(side_by_side(to_numpy_image(shown), overlay(base, pred.float(), PRED_RGB)),
                        output_format="JPEG", width=LIVE_WIDTH_PX,
                        caption=f"Live, attacking {title}: left, the {self.target} now; right, the query's predicted "
                                f"mask on it (red), Dice **{d:.2f}**.")

    def clear(self) -> None:
        self.slot.empty()


def compute_demo(fs: dict, ep: Episodes, models: dict[str, nn.Module]):
    """The page's ``compute(progress)``: the attack with its live view, removed when it ends."""
    def compute(progress):
        live = FewShotLive(ep, fs["target"])
        try:
            return run_demo(fs["episode"], fs["target"], fs["attack"], fs["eps"], models, steps=fs["steps"],
                            progress=progress, episode=ep, watch=live)
        finally:
            live.clear()
    return compute


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
