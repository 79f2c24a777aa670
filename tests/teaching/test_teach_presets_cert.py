"""Every Certify preset loads, runs and renders (AppTest) and shows what it claims."""
from __future__ import annotations

import pytest

from core.teaching.presets import PRESETS
from tests.teach_util import load, open_page, result, texts

pytestmark = pytest.mark.slow


def test_certify_presets():
    at = open_page("cert")
    for p in PRESETS["cert"]:
        load(at, p)
        results, used = result(at, "cert")
        body = texts(at)
        cert = results["Randomized smoothing"].certificate
        if p.id == "coffee_certified":
            assert list(results) == ["Randomized smoothing"]
            assert int(cert.predicted[0]) == 967 and float(cert.radius[0]) == pytest.approx(0.405, abs=0.001)
            assert "Certified: “espresso”" in body
        elif p.id == "too_much_noise":
            assert int(cert.predicted[0]) == -1 and "Abstains" in body
        elif p.id == "smooth_reduce":
            assert set(results) == {"Randomized smoothing", "Smooth-Reduce"}
            assert used["Randomized smoothing"]["n"] == used["Smooth-Reduce"]["n"] == 32
