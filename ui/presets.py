"""One-click presets on every page (the data is in :mod:`core.teaching.presets`).

How a preset reaches the widgets: a click queues it (:func:`queue`, in a button callback); at the
start of the next run, before any widget of the target page exists, :func:`apply_pending`
writes its values into ``st.session_state`` — the way Streamlit lets a program set widget values
— and, for ``autorun`` presets, sets a flag that the page's Run button reads through
:func:`consume_autorun` (``run = st.button(...) or consume_autorun("lab")``). The guided tour
queues presets the same way before switching pages, so a preset survives the page switch.

``app.py`` calls :func:`apply_pending` for the page it is about to run; each page calls
:func:`preset_bar` at its top, which applies anything still pending (pages run on their own, e.g.
by AppTest) and draws the buttons.
"""
from __future__ import annotations

import streamlit as st

from core.teaching.glossary import GLOSSARY, PAGE_TERMS, link
from core.teaching.presets import PRESETS, Preset, get_preset
from core.teaching.tour import STEPS
from ui import presenter
from ui.run import pin

PENDING = "_teach_pending"  # {"ref": "page/id", "page": key, "values": {...}, "autorun": bool}
LOADED = "_teach_loaded_{page}"  # ref of the preset last loaded on a page
_AUTORUN = "_teach_autorun_{page}"
SHELL = "_teach_shell"  # set by ui.tour.shell (app.py), which injects the presenter style itself


def queue(preset: Preset | str) -> None:
    """Load ``preset`` at the start of the next run of its page (safe in callbacks)."""
    p = get_preset(preset) if isinstance(preset, str) else preset
    st.session_state[PENDING] = {"ref": p.ref, "page": p.page, "values": p.widget_values(), "autorun": p.autorun}


def apply_pending(page: str) -> bool:
    """Write a queued preset of ``page`` into the session state; call before the page's widgets."""
    pending = st.session_state.get(PENDING)
    if not pending or pending.get("page") != page:
        return False
    del st.session_state[PENDING]
    for key, value in pending["values"].items():
        st.session_state[key] = list(value) if isinstance(value, (list, tuple)) else value
        pin(key)  # a per-image default (ui.run.input_default) keeps the preset's value
    st.session_state[LOADED.format(page=page)] = pending["ref"]
    if pending.get("autorun"):
        st.session_state[_AUTORUN.format(page=page)] = True
    return True


def clear_autorun() -> None:
    """Drop autorun flags left by an earlier run (called by app.py at the start of each run)."""
    for k in [k for k in st.session_state if isinstance(k, str) and k.startswith("_teach_autorun_")]:
        del st.session_state[k]


def consume_autorun(page: str) -> bool:
    """True once after a preset with ``autorun`` was loaded on ``page`` (presses its Run button)."""
    return bool(st.session_state.pop(_AUTORUN.format(page=page), False))


def loaded(page: str) -> Preset | None:
    """The preset last loaded on ``page`` (None if none)."""
    ref = st.session_state.get(LOADED.format(page=page))
    try:
        return get_preset(ref) if ref else None
    except KeyError:
        return None


def terms_line(page: str) -> str:
    """Markdown links to the glossary entries of the terms a page uses."""
    slugs = [s for s in PAGE_TERMS.get(page, ()) if s in GLOSSARY]
    return " · ".join(link(s, GLOSSARY[s].term.split(" (")[0]) for s in slugs)


def _tour_shows(p: Preset) -> bool:
    """Whether the tour panel is showing this preset's step (and so its "what to notice")."""
    i = st.session_state.get("_tour_step")
    return isinstance(i, int) and 0 <= i < len(STEPS) and STEPS[i].preset == p.ref


def preset_bar(page: str) -> None:
    """Apply a pending preset, then show this page's preset buttons and glossary links.

    Call it at the top of the page, before its widgets (one line per page)."""
    apply_pending(page)
    if SHELL not in st.session_state:  # run on its own (AppTest): app.py's shell did not style the page
        presenter.inject_css()
    presets = PRESETS.get(page, [])
    with st.container(key=f"teach_bar_{page}"):
        if presets and presenter.is_presenter():  # on a projector: one button, the presets behind it
            with st.popover("Presets", help="One click loads a ready-made example and runs it."):
                for p in presets:
                    st.button(p.title, key=f"preset_{page}_{p.id}", help=p.blurb, on_click=queue, args=(p,),
                              width="stretch", type="secondary")
        elif presets:
            with st.container(horizontal=True, vertical_alignment="center", gap="small"):
                st.markdown("**Presets:**", width="content",
                            help="One click loads a ready-made example and runs it. ⚡ marks the surprising ones.")
                for p in presets:
                    st.button(p.title, key=f"preset_{page}_{p.id}", help=p.blurb, on_click=queue, args=(p,),
                              width="content", type="secondary")
        current = loaded(page)
        if current is not None and current.notice and not _tour_shows(current):
            st.caption(f"**{current.title.lstrip('⚡ ')}** — what to notice: {current.notice}")
        terms = terms_line(page)
        if terms and not presenter.is_presenter():
            st.caption(f"📖 Terms on this page: {terms}")
