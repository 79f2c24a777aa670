"""Every Defenses preset loads, runs and renders (AppTest), and the page shows what its "what to
notice" line says (the same claims are checked on the core functions in test_teach_claims*.py)."""
from __future__ import annotations

import pytest

from core.teaching.presets import PRESETS
from tests.teach_util import load, open_page, result, texts

pytestmark = pytest.mark.slow
ESPRESSO = 967


def test_defenses_presets():
    at = open_page("def")
    for p in PRESETS["def"]:
        load(at, p)
        cmp = result(at, "def")
        body = texts(at)
        base_fooled = int(cmp.base_attack.adv_logits.argmax()) != ESPRESSO
        assert cmp.label == ESPRESSO and base_fooled, p.ref
        verdicts = {r.name: r.correct for r in cmp.rows}
        if p.id == "transforms_nonadaptive":
            assert not cmp.adaptive and verdicts == {"JPEG": True, "Bit-depth reduction": True}
            assert "Non-adaptive attack" in body
        elif p.id == "transforms_bpda":
            assert cmp.adaptive and verdicts == {"JPEG": False, "Bit-depth reduction": False}
            assert "PGD via BPDA" in body
        elif p.id == "smoothing_holds":
            (row,) = cmp.rows
            assert cmp.adaptive and row.correct and "EOT" in row.attacker
            assert float(row.output.certificate.radius[0]) > 0.25
            assert "certified L2 radius" in body
