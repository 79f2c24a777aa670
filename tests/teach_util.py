"""Shared helpers of the teaching-mode tests: load a page's presets in AppTest, one click each."""
from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from core.teaching.presets import PAGE_PATHS, Preset

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 120
RESULT_KEYS = {p: f"_run_result_{p}" for p in ("lab", "def", "cert", "sal", "ch", "fm", "seg", "cur", "bat", "zoo")}


def result(at: AppTest, page: str):
    """The result ``page`` keeps (ui.run.run_and_show)."""
    return at.session_state[RESULT_KEYS[page]][2]


def open_page(page: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / PAGE_PATHS[page]), default_timeout=TIMEOUT).run()
    assert not at.exception, at.exception
    return at


def texts(at: AppTest) -> str:
    parts = []
    for kind in ("markdown", "success", "error", "warning", "info", "caption"):
        parts += [e.value for e in getattr(at, kind)]
    return "\n".join(str(p) for p in parts)


def load(at: AppTest, preset: Preset) -> AppTest:
    """Click the preset's button and check that it loaded, ran and rendered without error."""
    at.button(key=f"preset_{preset.page}_{preset.id}").click().run()
    assert not at.exception, (preset.ref, at.exception)
    state = at.session_state
    for key, value in preset.widget_values().items():
        if key in state:  # widgets that the page shows for these settings hold exactly the preset's value
            assert state[key] == value, (preset.ref, key, state[key], value)
    for key in preset.values:
        assert key in state, (preset.ref, key)
    if preset.autorun:
        assert RESULT_KEYS[preset.page] in state, f"{preset.ref}: nothing was computed"
        body = texts(at)
        assert "settings changed since" not in body, f"{preset.ref}: the result is stale"
    assert f"_teach_autorun_{preset.page}" not in state  # the autorun flag was consumed
    return at
