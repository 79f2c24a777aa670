"""Where a page's time goes, for the latency benchmark (bench/page_latency.py).

Off unless the server is started with ``EXPLORER_TIMINGS=FILE``: then every script run appends
one JSON line to FILE with the page, the whole script run's seconds, and its stages —
``compute`` (the run-and-show computation: model calls and analysis in ``core``), ``figures``
(building and sending plotly figures: ``st.plotly_chart``), ``images`` (encoding and sending
``st.image`` pictures) and their counts and encoded sizes — so the benchmark can print a
breakdown of click → result next to what the browser measured. Nothing is recorded, and nothing
is wrapped, when the variable is unset.

How: :func:`install` wraps ``st.plotly_chart`` and ``st.image`` (and the same methods of the
delta generator, used as ``col.image(...)``) with timers that add to the current script run's
record; :func:`stage` times a block (``ui.run.run_and_show`` uses it for ``compute``);
:func:`script_run` (in app.py) opens and writes the record. Wrapping the library's functions is
confined to this benchmark mode because Streamlit offers no per-element timing.
"""
from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from typing import Any
from collections.abc import Callable, Iterator

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

ENV = "EXPLORER_TIMINGS"
_LOCAL = threading.local()  # one record per script thread
_WRITE_LOCK = threading.Lock()
_INSTALLED = False


def enabled() -> bool:
    return bool(os.environ.get(ENV))


def _record() -> dict | None:
    return getattr(_LOCAL, "record", None)


def add(stage_name: str, seconds: float, size: int = 0) -> None:
    """Add ``seconds`` (and ``size`` bytes) to a stage of the current script run's record."""
    rec = _record()
    if rec is None:
        return
    s = rec["stages"].setdefault(stage_name, {"seconds": 0.0, "count": 0, "bytes": 0})
    s["seconds"] += seconds
    s["count"] += 1
    s["bytes"] += int(size)


@contextlib.contextmanager
def stage(stage_name: str) -> Iterator[None]:
    """Time a block as ``stage_name`` (no cost when timings are off)."""
    if _record() is None:
        yield
        return
    t0 = time.perf_counter()
    try:
        yield
    finally:
        add(stage_name, time.perf_counter() - t0)


def _fig_bytes(fig: Any) -> int:
    try:
        return len(fig.to_json())
    except Exception:  # a figure plotly cannot serialise is Streamlit's problem to report, not ours
        return 0


def _timed(fn: Callable, stage_name: str, size_of: Callable[[Any], int] | None) -> Callable:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if _record() is None:
            return fn(*args, **kwargs)
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            secs = time.perf_counter() - t0
            fig = next((a for a in args if hasattr(a, "to_json")), kwargs.get("figure_or_data"))
            add(stage_name, secs, size_of(fig) if (size_of and fig is not None) else 0)

    wrapper.__wrapped__ = fn  # type: ignore[attr-defined]
    return wrapper


def install() -> None:
    """Wrap the element functions once per process (only when timings are on)."""
    global _INSTALLED
    if _INSTALLED or not enabled():
        return
    _INSTALLED = True
    for name, stage_name, size_of in (("plotly_chart", "figures", _fig_bytes), ("image", "images", None)):
        setattr(DeltaGenerator, name, _timed(getattr(DeltaGenerator, name), stage_name, size_of))
        setattr(st, name, _timed(getattr(st, name), stage_name, size_of))


@contextlib.contextmanager
def script_run(page: str) -> Iterator[None]:
    """Record one script run of ``page`` (app.py wraps the navigation's run in it)."""
    if not enabled():
        yield
        return
    install()
    _LOCAL.record = {"page": page, "t": time.time(), "stages": {}}
    t0 = time.perf_counter()
    try:
        yield
    finally:
        rec = _LOCAL.record
        _LOCAL.record = None
        rec["seconds"] = time.perf_counter() - t0
        with _WRITE_LOCK, open(os.environ[ENV], "a", encoding="utf-8") as f:
            f.write(json.dumps(rec) + "\n")


__all__ = ["ENV", "add", "enabled", "install", "script_run", "stage"]
