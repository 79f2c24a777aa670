"""ui/run.py: the settings key, the per-page result, per-image defaults, and that every computing
page runs its work inside a concurrency slot with the time limit (ui.long_work)."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from streamlit.testing.v1 import AppTest

from core.runtime import limits
from ui import long_work
from ui.run import fingerprint

VIEWS = Path(__file__).resolve().parents[2] / "views"


def test_fingerprint_sees_the_whole_image_and_every_setting():
    x = torch.zeros(1, 3, 64, 64)
    y = x.clone()
    y[0, 2, 63, 63] = 1 / 255  # the last pixel: beyond any prefix of the bytes
    assert fingerprint(x, "m") != fingerprint(y, "m")
    assert fingerprint(x, "m") == fingerprint(x.clone(), "m")
    assert fingerprint(x, "m") != fingerprint(x, "n")
    assert fingerprint(x.reshape(1, 3, 32, 128), "m") != fingerprint(x, "m")  # same bytes, other shape
    a = Image.fromarray(np.zeros((8, 8, 3), np.uint8))
    b = Image.fromarray(np.full((8, 8, 3), 1, np.uint8))
    assert fingerprint(a) != fingerprint(b)
    assert fingerprint({"a": [1, 2]}) != fingerprint({"a": [1, 3]})
    assert fingerprint((1, 2), 3) != fingerprint(1, (2, 3))
    assert fingerprint([("a", b"xy")]) != fingerprint([("a", b"xz")]) and fingerprint(b"ab") == fingerprint(b"ab")


def _script():
    import streamlit as st

    from ui.run import input_default, run_and_show

    image = st.session_state.get("image", 0)
    input_default("label", image * 10, (image,))  # the per-image default: 10 × the image number
    label = st.number_input("label", 0, 100, key="label")
    run = st.button("Run", key="run")
    shown = run_and_show("t", run=run, inputs=(image,), settings=(label,), button="Run", label="Working…",
                         compute=lambda progress: (progress(1, 1, ""), f"result for image {image}, label {label}")[1])
    if shown is not None:
        st.success(shown.value)


def test_results_stay_with_their_inputs_and_defaults_follow_the_image():
    at = AppTest.from_function(_script, default_timeout=30).run()
    assert at.number_input(key="label").value == 0 and not at.success
    at.button(key="run").click().run()
    assert at.success[0].value == "result for image 0, label 0"
    at.number_input(key="label").set_value(3).run()  # a setting changed: the result stays, marked
    assert at.success[0].value == "result for image 0, label 0"
    assert "settings changed" in at.warning[0].value
    at.session_state["image"] = 1  # another image: the old result goes, the default follows
    at.run()
    assert not at.success and not at.warning
    assert at.number_input(key="label").value == 10
    at.button(key="run").click().run()
    assert at.success[0].value == "result for image 1, label 10"
    at.number_input(key="label").set_value(4).run()
    at.session_state["image"] = 2
    at.run()
    assert at.number_input(key="label").value == 20  # not the value chosen for the previous image


# Every page that computes: (file, page key, run button key).
COMPUTING_PAGES = [
    ("attack_lab.py", "lab", "lab_run"),
    ("defenses.py", "def", "def_run"),
    ("certify.py", "cert", "cert_run"),
    ("segmentation.py", "seg", "seg_run"),
    ("saliency.py", "sal", "sal_run"),
    ("channels.py", "ch", "ch_run"),
    ("feature_maps.py", "fm", "fm_run"),
    ("zoo.py", "zoo", "zoo_run"),
    ("zoo.py", "zoo_live", "zoo_live_run"),
    ("curves.py", "cur", "cur_run"),
    ("batch.py", "bat", "bat_run"),
    ("audit.py", "audit", "audit_run"),
]


@pytest.fixture
def fresh_slots():
    long_work._SLOTS = None
    yield
    long_work._SLOTS = None


@pytest.mark.slow
@pytest.mark.parametrize("page,key,button", COMPUTING_PAGES, ids=[p[1] for p in COMPUTING_PAGES])
def test_every_computing_page_waits_for_a_slot_and_keeps_the_time_limit(page, key, button, fresh_slots, monkeypatch):
    at = AppTest.from_file(str(VIEWS / page), default_timeout=180).run()
    assert not at.exception, at.exception
    slots = long_work._slots()
    for _ in range(limits.MAX_CONCURRENT_WORK):  # every slot busy…
        assert slots.acquire(timeout=1)
    # …until another computation ends, 3 s from now: the page's run reaches its computation well
    # before that (drawing the sidebar and the clean prediction), and then has to wait.
    threading.Timer(3.0, slots.release).start()
    # A time limit that any work exceeds: the page's computation is cancelled at its first progress
    # update after it got its slot, which shows that it runs under ui.long_work's limit.
    monkeypatch.setattr(limits, "MAX_WORK_SECONDS", 1e-6)
    t0 = time.perf_counter()
    at.button(key=button).click().run()
    assert not at.exception, at.exception
    assert at.session_state[f"_run_waited_{key}"] >= 0.5  # it waited for the slot (0 without a wait)
    assert time.perf_counter() - t0 >= 2.9
    assert any("longer than the limit" in w.value for w in at.warning)
    for _ in range(limits.MAX_CONCURRENT_WORK - 1):
        slots.release()
    assert slots._value == limits.MAX_CONCURRENT_WORK  # the page gave its slot back
