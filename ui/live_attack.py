"""The Attack Lab's view of an attack while it runs, and of the best example kept after a Stop.

:class:`LivePanel` is the ``on_update`` of :func:`core.lab.run_attack_lab`: it redraws one
placeholder with the current iterate, its amplified perturbation and the model's confidence in
the true and the leading wrong class (how often is bounded by :class:`core.live_attack.LiveWatch`).
:func:`show_stopped` draws a run that was stopped: the best example found so far, its step, and
the bare model's prediction on it.
"""
from __future__ import annotations

import streamlit as st
from torch import nn

from core.analysis import predict, topk
from core.live_attack import LiveState
from core.safe_text import md
from core.viz.common import amplified_perturbation, side_by_side, to_numpy_image, topk_bar

LIVE_CAPTION = "Live, step {step} of {total}: the image now"  # the browser test reads it
# At most four redraws a second (core.live_attack.LiveWatch's min_interval): more frames cannot be
# followed, and each costs the browser time that delays the final result.
LIVE_INTERVAL_S = 0.25
LIVE_WIDTH_PX = 560  # the two pictures side by side, each about as wide as a final image below


class LivePanel:
    """Two placeholders redrawn while the attack runs; :meth:`clear` removes them.

    Each redraw is two messages to the browser: one picture (the iterate and its amplified
    perturbation side by side, a JPEG) and one line of text (the two confidences). The browser
    re-renders the page once per message it receives, at about 0.1 s each on a 2-core machine where
    it shares the cores with the attack (docs/BENCHMARKS.md: PGD-10 takes 0.75 s alone and 1.4 s in
    the app); the earlier panel of columns, two pictures and two bars was ten messages a frame."""

    def __init__(self, class_names: list[str]) -> None:
        self.names = list(class_names)
        self.picture = st.empty()
        self.text = st.empty()

    def __call__(self, s: LiveState) -> None:
        # JPEG: a passing frame, a fifth of a PNG's bytes (the final images stay lossless PNGs)
        self.picture.image(side_by_side(to_numpy_image(s.x_current), amplified_perturbation(s.x_current - s.x_clean)),
                           output_format="JPEG", width=LIVE_WIDTH_PX,
                           caption=LIVE_CAPTION.format(step=s.step + 1, total=s.total)
                           + "; right, its perturbation, amplified (grey = 0)")
        self.text.markdown(
            f"P(true: {md(self.names[s.label])}) = **{s.p_label:.0%}** · P(leading wrong: "
            f"{md(self.names[s.wrong_class])}) = **{s.p_wrong:.0%}** · best so far: step {s.best_step + 1}. "
            ":gray[Redrawn every few steps, within 10 % of the attack's time; Stop keeps the best example.]")

    def clear(self) -> None:
        self.picture.empty()
        self.text.empty()


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


__all__ = ["LIVE_CAPTION", "LIVE_INTERVAL_S", "LIVE_WIDTH_PX", "LivePanel", "show_stopped"]
