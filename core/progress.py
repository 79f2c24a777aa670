"""Progress reporting and cancellation shared by every long computation in ``core``.

A progress callback has the signature ``progress(done, total, message)``. To stop a
computation, the callback (or anything it calls) raises :class:`Cancelled`; the computation
lets it propagate, leaving no state behind (shared models are never modified).
"""
from __future__ import annotations

from typing import Callable, Optional

ProgressFn = Optional[Callable[[int, int, str], None]]


class Cancelled(Exception):
    """Raised by a progress callback to stop a long computation."""


def report(progress: ProgressFn, done: int, total: int, message: str = "") -> None:
    """Call ``progress`` if one was given."""
    if progress is not None:
        progress(done, total, message)
