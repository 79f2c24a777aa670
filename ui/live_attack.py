"""The Attack Lab's view of an attack while it runs, and of the best example kept after a Stop.

:class:`LivePanel` is the ``on_update`` of :func:`core.evaluation.lab.run_attack_lab`: it redraws one
placeholder with the current iterate, its amplified perturbation and the model's confidence in
the true and the leading wrong class (how often is bounded by :class:`core.evaluation.live_attack.LiveWatch`).
:func:`show_stopped` draws a run that was stopped: the best example found so far, its step, and
the bare model's prediction on it.
"""
from __future__ import annotations

import streamlit as st
from torch import nn

from core.explain.analysis import predict, topk
from core.evaluation.live_attack import LiveState
from core.data.safe_text import md
from core.viz.common import amplified_perturbation, side_by_side, to_numpy_image, topk_bar

LIVE_CAPTION = "Live, step {step} of {total}: the image now"  # the browser test reads it
# What a redraw costs the attack through the browser, which the server cannot time: each redraw is a
# React render of the page (~0.1 s, DevTools trace, docs/BENCHMARKS.md) on one of the two cores the
# attack runs on, so about 0.05 s of the attack's time. core.evaluation.live_attack.LiveWatch charges it to every
# redraw, so the redraws, renders included, stay within 10 % of the attack: none in the first 0.5 s,
# then about one a second (PGD-10 on EfficientNet-Lite0, the default, gets one, near its middle).
# With bench/page_latency.py, redraws made no difference beyond this machine's spread (22 runs with
# the 0.4 s interval alone against 22 with no redraw at the defaults: medians 1.37 and 1.49 s,
# Mann-Whitney p = 0.24, in that order).
LIVE_RENDER_COST_S = 0.05
LIVE_INTERVAL_S = 0.4  # and never two redraws closer than this (a fast model's frames)
LIVE_WIDTH_PX = 560  # the two pictures side by side, each about as wide as a final image below


class LivePanel:
    """One placeholder redrawn while the attack runs; :meth:`clear` removes it.

    Each redraw is one message to the browser: one picture (the iterate and its amplified
    perturbation side by side, a JPEG) whose caption carries the step and the two confidences. The
    browser re-renders the page once per message it receives, at about 0.1 s each on a 2-core
    machine where it shares the cores with the attack (docs/BENCHMARKS.md: PGD-10 takes 0.75 s
    alone and 1.4 s in the app); the first panel of columns, two pictures and two bars was ten
    messages a frame, the second (picture + a line of text) two. The Attack Lab also updates its
    progress bar only every ``ui.long_work.QUIET_BAR_INTERVAL_S`` while this panel shows the step."""

    def __init__(self, class_names: list[str]) -> None:
        self.names = list(class_names)
        self.picture = st.empty()

    def __call__(self, s: LiveState) -> None:
        # JPEG: a passing frame, a fifth of a PNG's bytes (the final images stay lossless PNGs)
        self.picture.image(side_by_side(to_numpy_image(s.x_current), amplified_perturbation(s.x_current - s.x_clean)),
                           output_format="JPEG", width=LIVE_WIDTH_PX, caption=live_caption(s, self.names))

    def clear(self) -> None:
        self.picture.empty()


def live_caption(s: LiveState, names: list[str]) -> str:
    """The live picture's caption (Markdown): the step, the two confidences, the best step so far."""
    return (LIVE_CAPTION.format(step=s.step + 1, total=s.total)
            + "; right, its perturbation, amplified (grey = 0).  \n"
            f"P(true: {md(names[s.label])}) = **{s.p_label:.0%}** · P(leading wrong: "
            f"{md(names[s.wrong_class])}) = **{s.p_wrong:.0%}** · best so far: step {s.best_step + 1}. "
            "Stop keeps the best example so far.")


def show_stopped(s: LiveState, model: nn.Module) -> None:
    """A stopped run: the best example so far (or a note that no step had finished)."""
    names = model.class_names
    if s.best_x is None:
        st.info("Stopped before the first step finished: nothing to show. Press **Run attack** again.")
        return
    clean, best = topk(predict(model, s.x_clean), names), topk(predict(model, s.best_x), names)
    fooled = best.top1 != s.label
    (st.error if fooled else st.warning)(
        f"⏹️ **Stopped at step {s.step + 1} of {s.total}.** The best example so far (step {s.best_step + 1}): "
        f"the model says “{best.names[0]}” ({best.probs[0]:.0%})"
        + (" — it is already fooled." if fooled else f", still the correct class “{names[s.label]}”."))
    c1, c2, c3 = st.columns(3)
    c1.image(to_numpy_image(s.x_clean), caption=f"Original: {clean.names[0]} ({clean.probs[0]:.0%})", width="stretch")
    c2.image(to_numpy_image(s.best_x), caption=f"Best so far: {best.names[0]} ({best.probs[0]:.0%})", width="stretch")
    c3.image(amplified_perturbation(s.best_x - s.x_clean), caption="Its perturbation, amplified", width="stretch")
    st.plotly_chart(topk_bar(best.names, best.probs, "Best example so far: top 5", highlight=names[s.label]),
                    key="lab_stopped_bar")
    st.caption("The replay, the download and the report need a finished run: press **Run attack** again.")


__all__ = ["LIVE_CAPTION", "LIVE_INTERVAL_S", "LIVE_RENDER_COST_S", "LIVE_WIDTH_PX", "LivePanel", "live_caption",
           "show_stopped"]
