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
from core.viz.common import amplified_perturbation, to_numpy_image, topk_bar

LIVE_CAPTION = "Live, step {step} of {total}: the image now"  # the browser test reads it
# At most four redraws a second (core.live_attack.LiveWatch's min_interval): more frames cannot be
# followed, and each costs the browser time that delays the final result.
LIVE_INTERVAL_S = 0.25


class LivePanel:
    """One placeholder redrawn while the attack runs; :meth:`clear` removes it."""

    def __init__(self, class_names: list[str]) -> None:
        self.names = list(class_names)
        self.slot = st.empty()

    def __call__(self, s: LiveState) -> None:
        with self.slot.container():
            c1, c2, c3 = st.columns([1, 1, 1.2])
            # JPEG: a passing frame, a fifth of a PNG's bytes (the final images stay lossless PNGs)
            c1.image(to_numpy_image(s.x_current), width="stretch", output_format="JPEG",
                     caption=LIVE_CAPTION.format(step=s.step + 1, total=s.total))
            c2.image(amplified_perturbation(s.x_current - s.x_clean), width="stretch", output_format="JPEG",
                     caption="Its perturbation, amplified (grey = 0)")
            with c3:
                st.progress(min(1.0, max(0.0, s.p_label)), text=f"P(true: {self.names[s.label]}) = {s.p_label:.0%}")
                st.progress(min(1.0, max(0.0, s.p_wrong)),
                            text=f"P(leading wrong: {self.names[s.wrong_class]}) = {s.p_wrong:.0%}")
                st.caption(f"Best so far: step {s.best_step + 1}. The view is redrawn every few steps, within "
                           "10 % of the attack's time; Stop keeps the best example.")

    def clear(self) -> None:
        self.slot.empty()


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


__all__ = ["LIVE_CAPTION", "LIVE_INTERVAL_S", "LivePanel", "show_stopped"]
