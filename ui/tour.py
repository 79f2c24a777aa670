"""The guided tour panel and the teaching shell that app.py runs before every page.

The tour's position lives in ``st.session_state["_tour_step"]`` (an index into
:data:`core.teaching.tour.STEPS`, absent when no tour runs), so it survives reruns and page switches.
Entering a step queues its preset (:func:`ui.presets.queue`) and switches to its page; app.py's
:func:`shell` applies the preset before the page's widgets exist and shows the panel at the top of
the page: step k of n, the explanation with its equation, what to notice, Back / Next.
"""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from core.teaching.presets import PAGE_PATHS, PAGE_TITLES
from core.teaching.tour import PATHS, STEPS, path_of, path_start
from ui import presenter
from ui.presenter import LAYOUT_CSS
from ui.presets import SHELL, apply_pending, clear_autorun, queue

STEP = "_tour_step"


def active_step() -> int | None:
    """The index of the current tour step, or None when no tour runs."""
    i = st.session_state.get(STEP)
    return i if isinstance(i, int) and 0 <= i < len(STEPS) else None


def go_to(index: int) -> None:
    """Enter tour step ``index``: queue its preset and switch to its page (does not return)."""
    index = max(0, min(int(index), len(STEPS) - 1))
    st.session_state[STEP] = index
    step = STEPS[index]
    if step.preset:
        queue(step.preset)
    st.switch_page(step.page_path)


def start(path: str | None = None) -> None:
    """Start the tour at the first step of a path (or at the beginning)."""
    go_to(path_start(path) if path else 0)


def end() -> None:
    """Leave the tour (stays on the current page)."""
    st.session_state.pop(STEP, None)
    st.rerun()


def page_key_for_url_path(url_path: str) -> str | None:
    """The page key (core.teaching.presets.PAGE_PATHS) of a navigation url path (the file's stem)."""
    for key, path in PAGE_PATHS.items():
        if Path(path).stem == url_path:
            return key
    return None


def tour_panel(page: str | None) -> None:
    """The tour panel at the top of the page (nothing when no tour runs)."""
    i = active_step()
    if i is None:
        return
    step, n = STEPS[i], len(STEPS)
    here = step.page == page
    with st.container(border=True, key="tour_panel"):
        if not here:
            c1, c2, c3 = st.columns([5, 1.3, 1], vertical_alignment="center")
            c1.markdown(f"🧭 **The tour is paused at step {i + 1} of {n}**: *{step.title}* "
                        f"(on the {PAGE_TITLES[step.page]} page).")
            if c2.button("▶ Resume the tour", key="tour_resume", width="stretch"):
                go_to(i)
            if c3.button("✖ End tour", key="tour_end_paused", width="stretch"):
                end()
            return
        path = path_of(i)
        # Compact: one line of where we are, the buttons, what to notice; the explanation folds out,
        # so that the page's image and result stay on the first screen.
        b0, b1, b2, b3, b4 = st.columns([5, 1, 1.1, 1.3, 1.1], vertical_alignment="center")
        b0.markdown(f"🧭 **Guided tour — step {i + 1} of {n}** · {step.title}")
        back = b1.button("◀ Back", key="tour_back", disabled=i == 0, width="stretch")
        last = i == n - 1
        nxt = b2.button("Finish ✔" if last else "Next ▶", key="tour_next", type="primary", width="stretch")
        reload = b3.button("↺ Reload step", key="tour_reload", width="stretch", disabled=not step.preset,
                           help="Load this step's settings again (undoes your changes) and run it.")
        stop = b4.button("✖ End tour", key="tour_end", width="stretch")
        notice = step.what_to_notice()
        if notice:
            st.info(f"**What to notice:** {notice}", icon="👀")
        with st.expander("Explanation of this step", expanded=False):
            st.caption(f"Tour path: {path.question}")
            st.markdown(step.explanation)
            if step.latex:
                st.latex(step.latex)
            if step.preset and not presenter.is_presenter():
                st.caption("The settings of this step are loaded and computed for you; change anything you like, "
                           "then press **Next** to go on.")
        if back:
            go_to(i - 1)
        if nxt:
            if last:
                end()
            go_to(i + 1)
        if reload:
            go_to(i)
        if stop:
            end()


def shell(url_path: str) -> None:
    """What app.py runs before every page: the presenter switch and style, a pending preset of
    the page about to run (before its widgets exist), and the tour panel."""
    page = page_key_for_url_path(url_path)
    st.session_state[SHELL] = True
    presenter.toggle()
    presenter.inject_css()
    st.markdown(LAYOUT_CSS, unsafe_allow_html=True)  # a constant: no user text reaches it
    clear_autorun()
    if page is not None:
        apply_pending(page)
    tour_panel(page)


__all__ = ["PATHS", "STEP", "active_step", "end", "go_to", "page_key_for_url_path", "shell", "start", "tour_panel"]
