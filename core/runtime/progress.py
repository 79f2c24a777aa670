"""Progress reporting and cancellation shared by every long computation in ``core``.

A progress callback has the signature ``progress(done, total, message)``. To stop a
computation, the callback (or anything it calls) raises :class:`Cancelled`; the computation
lets it propagate, leaving no state behind (shared models are never modified).
"""
from __future__ import annotations

from typing import Optional
from collections.abc import Callable

ProgressFn = Optional[Callable[[int, int, str], None]]


class Cancelled(Exception):
    """Raised by a progress callback to stop a long computation."""


def report(progress: ProgressFn, done: int, total: int, message: str = "") -> None:
    """Call ``progress`` if one was given."""
    if progress is not None:
        progress(done, total, message)


def stage(progress: ProgressFn, index: int, count: int, name: str = "") -> ProgressFn:
    """A callback for stage ``index`` of ``count`` stages of one computation: the stage's own
    ``(done, total)`` is mapped onto the whole computation's bar (stage i covers i/count…(i+1)/count),
    and its messages are prefixed with ``name``. None stays None."""
    if progress is None:
        return None
    scale = 1000

    def update(done: int, total: int, message: str = "") -> None:
        frac = min(1.0, max(0.0, done / total)) if total > 0 else 0.0
        text = f"{name}: {message}".strip(": ") if name else message
        progress(int(round((index + frac) * scale)), count * scale, text)

    return update
