"""Every preset of the Robustness curves, Batch evaluation and Model zoo pages loads, runs and
renders (AppTest)."""
from __future__ import annotations

import pytest

from core.teaching.presets import PRESETS
from tests.teach_util import load, open_page, result

pytestmark = pytest.mark.slow


def test_curves_presets():
    at = open_page("cur")
    for p in PRESETS["cur"]:
        load(at, p)
        run = result(at, "cur")[2]
        curves, flips = run.curves, run.flips
        assert {s.attack for s in curves.series} == {"FGSM", "PGD"} and not flips
        assert len(at.get("plotly_chart")) >= 1


def test_batch_presets():
    at = open_page("bat")
    for p in PRESETS["bat"]:
        load(at, p)
        assert len(at.get("plotly_chart")) >= 1


def test_zoo_presets():
    at = open_page("zoo")
    for p in PRESETS["zoo"]:
        load(at, p)
        outs = result(at, "zoo").outcomes
        held = {o.name: o.held for o in outs}
        assert held == {"fmnist-standard": False, "fmnist-pgd-at": True}  # what the notice says
