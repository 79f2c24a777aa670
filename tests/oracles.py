"""Independent reference implementations used as test oracles, and how their absence is handled:
a local run without them skips the oracle tests with a message; CI (``CI=true``, as ``.ci/run``
is run) fails them, so a missing oracle can never turn into a silently green suite."""
from __future__ import annotations

import os

import pytest


def on_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("true", "1", "yes")


def missing(what: str, how: str) -> None:
    """Fail on CI, skip elsewhere."""
    if on_ci():
        pytest.fail(f"{what} is missing on CI ({how})")
    pytest.skip(f"{what} is not installed ({how})")


def require_torchattacks():
    """The torchattacks module (installed by ``scripts/setup.sh dev`` with ``--no-deps``)."""
    try:
        import torchattacks
    except ImportError:
        missing("torchattacks (the attacks' test oracle)", "scripts/setup.sh dev installs it")
    return torchattacks
