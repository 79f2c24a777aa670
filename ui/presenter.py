"""Presenter mode: larger type and figures, fewer controls, the key numbers large (for a projector).

The switch lives in app.py's shared sidebar (``st.session_state["presenter"]``). Pages ask
:func:`is_presenter` to hide advanced sections, pass key figures through :func:`big` and show
headline numbers with :func:`key_numbers`. :func:`inject_css` enlarges the type with a fixed style
sheet (no user content is ever put into it).
"""
from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

KEY = "presenter"

# Streamlit sizes its type and spacing in rem, so a larger root font scales the whole page.
# Metric values and headings get an extra push; plotly figures are scaled by big().
_CSS = """<style>
html { font-size: 21px; }
[data-testid="stMetricValue"] { font-size: 2.6rem !important; line-height: 1.15; }
[data-testid="stMetricLabel"] p { font-size: 1.05rem !important; }
[data-testid="stMain"] h1 { font-size: 2.6rem; }
[data-testid="stMainBlockContainer"] { padding-left: 2rem; padding-right: 2rem; max-width: 100%; }
</style>"""


# Always on (app.py's shell): less empty space above the page title, so that the image and the
# result reach the first screen.
LAYOUT_CSS = """<style>
[data-testid="stMainBlockContainer"] { padding-top: 2.2rem; }
</style>"""


def is_presenter() -> bool:
    """Whether presenter mode is on in this session."""
    return bool(st.session_state.get(KEY, False))


def toggle() -> bool:
    """The presenter-mode switch (rendered once, in app.py's sidebar)."""
    return st.sidebar.toggle("🎤 Presenter mode", key=KEY,
                             help="For a projector: larger type and figures, fewer controls, the key numbers "
                                  "large. Advanced sections (replay, transfer, downloads) are hidden.")


def inject_css() -> None:
    """Enlarge the type when presenter mode is on (a fixed style tag, nothing else)."""
    if is_presenter():
        st.markdown(_CSS, unsafe_allow_html=True)


def big(fig, scale: float = 1.45):
    """A plotly figure made taller, with larger fonts, in presenter mode (unchanged otherwise)."""
    if not is_presenter():
        return fig
    h = fig.layout.height or 320
    size = (fig.layout.font.size if fig.layout.font and fig.layout.font.size else 12)
    fig.update_layout(height=int(h * scale), font=dict(size=int(round(size * 1.4))))
    return fig


def key_numbers(items: Sequence[tuple[str, str]], help: str | None = None) -> None:
    """The headline numbers of a result as large metrics, in presenter mode only."""
    if not is_presenter() or not items:
        return
    cols = st.columns(len(items))
    for c, (label, value) in zip(cols, items):
        c.metric(label, value, help=help)
