"""One box per verdict (:mod:`core.judging.pages`): the tone picks the box, the same on every page
— green: the model's answer kept; red: fooled, or a defense made it worse; blue: nothing to judge
on this input (already wrong, unsure, near chance, degenerate); yellow: a narrow margin."""
from __future__ import annotations

import streamlit as st

from core.judging.pages import Tone, Verdict

BOX = {"good": st.success, "bad": st.error, "neutral": st.info, "caution": st.warning}
ICON = {"good": "✅", "bad": "❌", "neutral": "⚪", "caution": "⚠️"}


def show_verdict(v: Verdict | str, tone: Tone | None = None) -> None:
    """Show a verdict (or a sentence with an explicit ``tone``) in its box."""
    if isinstance(v, Verdict):
        BOX[tone or v.tone](v.sentence)
    else:
        BOX[tone or "neutral"](v)


__all__ = ["BOX", "ICON", "show_verdict"]
