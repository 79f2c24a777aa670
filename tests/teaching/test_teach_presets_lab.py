"""Every Attack Lab preset loads, runs and renders (AppTest), the "what to notice" claims hold on the
rendered page, and presenter mode hides the advanced sections and shows the key numbers."""
from __future__ import annotations

import pytest

from core.teaching.presets import PRESETS, get_preset
from tests.teach_util import load, open_page, texts

pytestmark = pytest.mark.slow


def test_attack_lab_presets_one_after_another():
    at = open_page("lab")
    assert at.button(key="preset_lab_fgsm_tiny")  # the bar is drawn
    for p in PRESETS["lab"]:
        load(at, p)
        body = texts(at)
        success = "\n".join(s.value for s in at.success)
        error = "\n".join(e.value for e in at.error)
        # A successful attack is red (the model was fooled: one colour meaning on every page, core.judging.pages)
        if p.id == "fgsm_tiny":
            assert "FGSM succeeded" in error and "espresso" in error
            metrics = {m.label: m.value for m in at.metric}
            assert metrics["L∞ of δ"] == "1.00/255" and float(metrics["PSNR"].split()[0]) > 45
        elif p.id == "pgd_cat":
            assert "PGD succeeded" in error
            assert "Replay the attack" in [s.value for s in at.subheader]
        elif p.id == "targeted_goldfish":
            assert "PGD succeeded" in error and "“goldfish”" in error
        elif p.id == "jpeg_holds":
            # the bare model is fooled and JPEG gives espresso back: "restored" (against a non-adaptive attacker)
            assert "**restored** the true class “espresso”" in success and "adversarial → “espresso”" in success
            assert "non-adaptive" in body  # the page's warning is shown
        elif p.id in ("jpeg_falls", "bits_falls"):
            assert "adaptive attacker (BPDA" in error and "**gets through**" in error
        assert p.notice in body  # the preset bar says what to notice


def test_presenter_mode_on_the_attack_lab():
    at = open_page("lab")
    at.session_state["presenter"] = True
    load(at, get_preset("lab/fgsm_tiny"))
    labels = [m.label for m in at.metric]
    assert {"Clean: espresso", "Adversarial: consomme", "Largest pixel change", "PSNR"} <= set(labels)
    headers = [s.value for s in at.subheader]
    assert "Replay the attack" not in headers and not any("transfer" in h for h in headers)
    assert any(e.label == "Attack settings" for e in at.expander)  # the attack's knobs are folded away
    assert any("<style>" in m.value for m in at.markdown)  # the larger type
    at.session_state["presenter"] = False
    at.run()
    assert "Replay the attack" in [s.value for s in at.subheader]
    assert "Clean: espresso" not in [m.label for m in at.metric]
    assert not any("<style>" in m.value for m in at.markdown)
