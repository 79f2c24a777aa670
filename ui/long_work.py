"""Long computations in a page: a progress bar with a **Stop** button, and a time limit.

The pattern (the Attack Lab uses it; every page with a long computation should)::

    from ui.long_work import stoppable_progress, stopped_notice

    run = st.button("Run attack", key="lab_run")
    stopped_notice("lab")                        # "Stopped" after the user pressed Stop
    if run:
        try:
            with stoppable_progress("Running PGD…", key="lab") as progress:
                result = attack.run(model, x, y, progress=progress)
        except Cancelled as e:                   # the time limit (or core) stopped it
            st.warning(f"Stopped: {e}")
            st.stop()

How Stop works. Pressing any widget while a script runs makes the browser ask the server for a
rerun; Streamlit (``runner.fastReruns``, on by default) then interrupts the running script at
its next ``st.*`` call by raising ``RerunException``. The progress callback updates the bar at
every step that comes at least ``BAR_INTERVAL_S`` after the last update (and at the last step),
so the interruption comes within one step of the computation, or within 0.5 s when steps are
faster than that (every bar update is a message the browser re-renders the whole page for, and on
a small machine the browser shares the cores with the computation: at 0.2 s the Segmentation
page's bar alone slowed its result by about a second, docs/BENCHMARKS.md). A page whose progress
shows elsewhere may ask for a longer interval (``interval_s``; ``QUIET_BAR_INTERVAL_S`` = 1 s on the
Attack Lab and Segmentation): the exception
unwinds through ``core`` (it is a ``BaseException``, so no ``except Exception`` there catches
it; shared models are never modified, so nothing is left half-changed), the thread is free, and
the rerun draws the page again with the Run button released. The Stop button's callback marks
the stop so that :func:`stopped_notice` can say what happened. A computation that does not
report progress (a single long call) can only be interrupted when it returns; keep work inside
``core`` functions that take a ``progress`` callback.

The time limit. ``limits.MAX_WORK_SECONDS`` (read at call time) bounds one computation: the
callback raises :class:`core.runtime.progress.Cancelled` once it is exceeded, so that limits on steps,
samples and batches that are each reasonable cannot multiply into an hour of work (e.g. 200
steps x 5 restarts of an EOT attack through randomized smoothing).

Many users at once. Entering the ``with`` block takes one of ``limits.MAX_CONCURRENT_WORK``
process-wide slots (leaving it, normally or by Stop, gives the slot back), so at most that many
computations run in one server at a time and the memory they need is bounded (each pass through
a model is bounded by ``limits.MAX_GRAD_PIXELS``/``MAX_FORWARD_PIXELS``). A session that finds
every slot taken shows "Waiting…" in its bar, and can be stopped while it waits. On a CPU more
concurrent computations than cores only share the cores, so waiting costs no throughput.

:class:`StopButton` (the Batch and Curves pages) is the same mechanism with the button beside the
page's Run button: :func:`ui.run.run_and_show` draws it when the work starts and
removes it when the work ends, so an idle page shows no Stop.
"""
from __future__ import annotations

import contextlib
import itertools
import threading
import time
from typing import Any
from collections.abc import Callable, Iterator

import streamlit as st

from core.runtime import limits
from core.data import safe_text
from core.runtime.progress import Cancelled

_FLAG = "_long_work_stopped_{}"
BAR_INTERVAL_S = 0.5  # the least time between two bar updates (the module docstring)
# For a page whose bar redraws measurably slowed its result, or whose progress shows elsewhere:
# the Attack Lab (its live picture shows the step) and Segmentation (docs/BENCHMARKS.md).
QUIET_BAR_INTERVAL_S = 1.0
_now = time.monotonic  # the bar's clock (a test replaces it)
_SEQ = itertools.count()  # a fresh Stop-button key per bar: a page may show several bars in one run


_SLOTS: threading.BoundedSemaphore | None = None
_SLOTS_LOCK = threading.Lock()


def _slots() -> threading.BoundedSemaphore:
    """The process-wide slots for long computations (created on first use)."""
    global _SLOTS
    with _SLOTS_LOCK:
        if _SLOTS is None:
            _SLOTS = threading.BoundedSemaphore(max(1, int(limits.MAX_CONCURRENT_WORK)))
        return _SLOTS


def _mark_stopped(key: str) -> None:
    st.session_state[_FLAG.format(key)] = True


class StoppableProgress:
    """A progress bar and a Stop button in one placeholder; callable as a ``core`` ProgressFn.

    Use it as a context manager so that the bar and the button disappear when the work ends.
    """

    def __init__(self, label: str, key: str, max_seconds: float | None = None, stop_button: bool = True,
                 interval_s: float | None = None) -> None:
        self.label = label
        # the least time between two bar updates: BAR_INTERVAL_S (read at call time) unless given
        self.interval_s = interval_s
        self.key = key
        self.max_seconds = limits.MAX_WORK_SECONDS if max_seconds is None else float(max_seconds)
        st.session_state.pop(_FLAG.format(key), None)
        self._holder = st.empty()
        with self._holder.container():
            if not stop_button:  # the page has a Stop button of its own
                self._bar = st.progress(0.0, text=label)
            else:
                bar_col, stop_col = st.columns([6, 1], vertical_alignment="center")
                self._bar = bar_col.progress(0.0, text=label)
                stop_col.button("⏹ Stop", key=f"{key}_stop_{next(_SEQ)}", on_click=_mark_stopped, args=(key,),
                                width="stretch",
                                help="Stop this computation. The page keeps the settings; nothing keeps running.")
        self._t0 = time.monotonic()
        self._last_bar = -float("inf")
        self._holding = False
        self.calls = 0
        self.waited_s = 0.0

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self._t0

    def __call__(self, done: int, total: int, message: str = "") -> None:
        self.calls += 1
        if self.max_seconds > 0 and self.elapsed > self.max_seconds:
            raise Cancelled(f"the computation took longer than the limit of {self.max_seconds:g} s "
                            f"(at {done} of {total}); choose fewer steps or samples")
        now = _now()
        interval = BAR_INTERVAL_S if self.interval_s is None else self.interval_s
        if done < total and now - self._last_bar < interval:
            return
        self._last_bar = now
        frac = min(1.0, max(0.0, done / total)) if total > 0 else 0.0
        # Each update is also the point where Streamlit can interrupt the script (Stop). The bar's
        # text is Markdown and messages quote image and member names: escaped for that sink.
        self._bar.progress(frac, text=f"{self.label} {safe_text.md(message, max_chars=160)}".strip())

    def __enter__(self) -> StoppableProgress:
        self.waited_s = _acquire_slot(lambda text: self._bar.progress(0.0, text=text))
        self._holding = True
        if self.waited_s > 0.5:
            self._bar.progress(0.0, text=self.label)
        self._t0 = time.monotonic()  # the time limit counts from the start of the work
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        if self._holding:
            self._holding = False
            _slots().release()
        # On Streamlit's own interruption (a BaseException that is not an Exception) the rerun
        # redraws the page; sending more elements now would only be interrupted again.
        if exc_type is None or issubclass(exc_type, Exception):
            self._holder.empty()
        return False


def _waiting_text(waited_s: float) -> str:
    return f"Waiting: {limits.MAX_CONCURRENT_WORK} computations are running on this server ({waited_s:.0f} s)…"


def _acquire_slot(show_wait: Callable[[str], Any]) -> float:
    """Take one of the process-wide computation slots; while none is free, ``show_wait(text)``
    every 0.5 s (each call is a point where Stop or any widget can interrupt the wait).
    Returns the seconds waited."""
    slots = _slots()
    t0 = time.monotonic()
    while not slots.acquire(timeout=0.5):
        show_wait(_waiting_text(time.monotonic() - t0))
    return time.monotonic() - t0


@contextlib.contextmanager
def work_slot(note: Any) -> Iterator[None]:
    """One computation slot, for short work that a page does after its result without a bar of its
    own (Segmentation's details): ``note`` (an ``st.empty()``) says what is computed, or that the
    work waits for a slot. The slot is given back however the block ends."""
    _acquire_slot(note.caption)
    try:
        yield
    finally:
        _slots().release()


class StopButton:
    """A Stop button for the page ``key`` beside its Run button, present only while the page
    computes: creating it reserves its place (call it where the button belongs), and
    :func:`ui.run.run_and_show` draws the button when the work starts and removes it when the work
    ends, however it ends; a page that is not computing shows none. Pressing it marks the stop
    exactly as the bar's own button does (so :func:`stopped_notice` reports it); :attr:`pressed`
    tells the page, before anything else reads the mark, that this run follows a Stop."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.pressed = bool(st.session_state.get(_FLAG.format(key), False))
        self._slot = st.empty()

    def show(self) -> None:
        self._slot.button("⏹ Stop", key=f"{self.key}_stop_button", on_click=_mark_stopped, args=(self.key,),
                          width="content",
                          help="Stops the computation at the next progress update; finished work is kept.")

    def clear(self) -> None:
        self._slot.empty()


def stoppable_progress(label: str, key: str, max_seconds: float | None = None) -> StoppableProgress:
    """A progress bar with a Stop button (see the module docstring); ``key`` names the page's
    computation (one per page, e.g. ``"lab"``). ``max_seconds`` defaults to
    ``limits.MAX_WORK_SECONDS``; 0 turns the time limit off."""
    return StoppableProgress(label, key, max_seconds)


def stopped_notice(key: str) -> bool:
    """Show a notice on the first run after the user pressed Stop; True if there was one."""
    if st.session_state.pop(_FLAG.format(key), False):
        st.info("⏹️ Stopped. Nothing is running now; change the settings or press the button again.")
        return True
    return False


__all__ = ["BAR_INTERVAL_S", "QUIET_BAR_INTERVAL_S", "StopButton", "StoppableProgress", "stoppable_progress",
           "stopped_notice", "work_slot"]
