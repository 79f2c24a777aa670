"""The run-and-show path every computing page takes.

A page is a short script: sidebar widgets → :func:`run_and_show` → render. ::

    inputs = (x, model_name)                       # what the result is *about* (image, model)
    settings = (choice, label, defense_params)      # how it was computed
    res = run_and_show("lab", run=run, inputs=inputs, settings=settings, button="Run attack",
                       label="Running PGD…", compute=lambda progress: core_fn(..., progress=progress))
    if res is None:                                 # nothing computed yet for this image and model
        ...preview...; st.stop()
    ...render res.value...

What it does:

* **One settings key.** :func:`fingerprint` hashes the inputs and settings: tensors and images by
  their whole content, everything else by ``repr``. No page writes its own hash.
* **Stop, time limit, concurrency slot.** The computation runs inside
  :func:`ui.long_work.stoppable_progress`: it takes one of the server's
  ``limits.MAX_CONCURRENT_WORK`` slots (waiting, stoppable, when all are busy), shows a progress
  bar with a Stop button (or only the bar, for pages whose Stop sits beside their Run button: a
  :class:`ui.long_work.StopButton`) that disappears when the work ends, and is cancelled past
  ``limits.MAX_WORK_SECONDS``. ``Cancelled`` becomes a "Stopped" notice, ``ValueError`` (a bad
  combination of settings) an error message; the page stops there and keeps its earlier result.
* **One result per page**, kept in the session with the keys it was computed for. When the
  *inputs* change (another photo or model) the old result is dropped, so the page never shows an
  old photo's images and verdict under the new photo. When only the *settings* changed, the old
  result stays, under a "settings changed" note (:attr:`Shown.stale`).
* **Per-image defaults** (:func:`input_default`): a widget whose default depends on the image (the
  correct class) is reset to the new default whenever the inputs change, instead of keeping the
  previous photo's value as a keyed Streamlit widget otherwise does.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from collections.abc import Callable

import numpy as np
import streamlit as st
import torch
from PIL import Image

from core.runtime.progress import Cancelled, ProgressFn
from ui import timings
from ui.long_work import StopButton, StoppableProgress, stopped_notice

T = TypeVar("T")

_RESULT = "_run_result_{}"  # (inputs key, settings key, value)
_WAITED = "_run_waited_{}"  # seconds the last run of a page waited for a slot (tests read it)
_DEFAULT_FOR = "_default_for_{}"  # the inputs key the per-image default of a widget was set for
PINNED = "pinned"  # _DEFAULT_FOR value meaning "a preset or the URL set this widget: keep it once"


def _feed(h: hashlib._Hash, part: Any) -> None:
    if isinstance(part, (bytes, bytearray, memoryview)):
        h.update(b"b%d:" % len(part))
        h.update(part)
    elif isinstance(part, torch.Tensor):
        t = part.detach().cpu().contiguous()
        h.update(repr((tuple(t.shape), str(t.dtype))).encode())
        h.update(t.numpy().tobytes())
    elif isinstance(part, np.ndarray):
        h.update(repr((part.shape, str(part.dtype))).encode())
        h.update(np.ascontiguousarray(part).tobytes())
    elif isinstance(part, Image.Image):
        h.update(repr((part.mode, part.size)).encode())
        h.update(part.tobytes())
    elif isinstance(part, (tuple, list)):
        h.update(b"(")
        for p in part:
            _feed(h, p)
            h.update(b",")
        h.update(b")")
    elif isinstance(part, dict):
        h.update(b"{")
        for k, v in part.items():
            _feed(h, k)
            h.update(b":")
            _feed(h, v)
            h.update(b",")
        h.update(b"}")
    else:
        h.update(repr(part).encode())


def fingerprint(*parts: Any) -> str:
    """A key for a page's inputs and settings: bytes, tensors, arrays and images by their whole
    content (shape, type and bytes), containers item by item, anything else by ``repr``."""
    h = hashlib.sha256()
    for p in parts:
        _feed(h, p)
        h.update(b"|")
    return h.hexdigest()


@dataclass
class Shown(Generic[T]):
    """The page's kept result: ``value``, and whether the settings changed since (``stale``)."""

    value: T
    stale: bool


def input_default(key: str, value: Any, inputs: Any) -> None:
    """Give widget ``key`` the per-image default ``value`` whenever ``inputs`` (the image and model
    it depends on) change. Call before the widget is created; create the widget without its own
    default (``index``/``value``), so that the session state is its only source.

    A keyed Streamlit widget keeps its value when its default argument changes; without this, the
    correct-class box would keep the previous photo's class after an upload. A value set by a
    preset or a shared link (:func:`pin`) is kept for the inputs it came with."""
    fp = inputs if isinstance(inputs, str) else fingerprint(inputs)
    mark = _DEFAULT_FOR.format(key)
    seen = st.session_state.get(mark)
    if seen == fp and key in st.session_state:
        return
    st.session_state[mark] = fp
    if seen == PINNED and key in st.session_state:
        return  # a preset or the URL chose it together with this image
    st.session_state[key] = value


def pin(key: str) -> None:
    """Mark widget ``key`` as set on purpose (a preset, a shared link): :func:`input_default`
    keeps its value for the next inputs it sees instead of replacing it by the default."""
    st.session_state[_DEFAULT_FOR.format(key)] = PINNED


def run_and_show(page: str, *, run: bool, inputs: tuple, settings: tuple, compute: Callable[[ProgressFn], T],
                 label: str = "Working…", button: str = "Run", stop_button: StopButton | None = None,
                 keep_partial: T | None = None, bar_interval_s: float | None = None) -> Shown[T] | None:
    """Run ``compute`` when ``run`` is true, keep its result for ``page`` and return what to show.

    ``inputs``: what the result is about (the image tensor, the model name…); a result computed
    for other inputs is dropped. ``settings``: everything else the result depends on.
    ``compute(progress)`` does the work, reporting to ``progress`` (a ``core`` ProgressFn).
    ``label``: the progress bar's text; ``button``: the name of the page's run button in the
    "settings changed" note. ``stop_button``: the page's own Stop button (the bar gets none),
    drawn when the work starts and removed when it ends, however it ends. ``keep_partial``: an
    object ``compute`` fills as it goes (Batch): it is kept before the work starts, so a Stop
    leaves the finished part on the page. ``bar_interval_s``: the least time between two bar
    updates (default ``ui.long_work.BAR_INTERVAL_S``), longer for a page that shows the progress
    in a view of its own (the Attack Lab's live picture).

    Returns None when there is nothing to show for these inputs (the page shows a preview)."""
    in_key = fingerprint(*inputs)
    key = fingerprint(in_key, *settings)
    slot = _RESULT.format(page)
    stored = st.session_state.get(slot)
    if stored is not None and stored[0] != in_key:  # another photo or model: the old result is not about it
        del st.session_state[slot]
        stored = None
    stopped = stopped_notice(page)
    if run:
        if keep_partial is not None:
            st.session_state[slot] = (in_key, key, keep_partial)
        progress = StoppableProgress(label, page, stop_button=stop_button is None, interval_s=bar_interval_s)
        if stop_button is not None:
            stop_button.show()
        try:
            try:
                with progress, timings.stage("compute"):
                    value = compute(progress)
            except Exception:  # not on Streamlit's own interruption: its rerun redraws the page
                if stop_button is not None:
                    stop_button.clear()
                raise
            else:
                if stop_button is not None:
                    stop_button.clear()
            finally:
                st.session_state[_WAITED.format(page)] = progress.waited_s
        except Cancelled as e:
            st.warning(f"Stopped: {e}." if str(e) else "Stopped.")
            if keep_partial is None:
                st.stop()
            value = keep_partial
        except ValueError as e:  # a bad combination of settings: say so, keep the page alive
            st.error(f"Cannot compute this: {e}")
            st.stop()
        st.session_state[slot] = (in_key, key, value)
        stored = st.session_state[slot]
    if stored is None:
        return None
    stale = stored[1] != key
    if stale and not stopped:
        st.warning(f"The settings changed since this result was computed: press **{button}** to update it.")
    return Shown(stored[2], stale)


def kept(page: str) -> Any:
    """The kept result of ``page`` (whatever inputs it was computed for), or None."""
    stored = st.session_state.get(_RESULT.format(page))
    return None if stored is None else stored[2]


def forget(page: str) -> None:
    """Drop the kept result of ``page``."""
    st.session_state.pop(_RESULT.format(page), None)


__all__ = ["Shown", "fingerprint", "forget", "input_default", "kept", "pin", "run_and_show"]
