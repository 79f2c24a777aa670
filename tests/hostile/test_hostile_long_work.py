"""ui/long_work.py in AppTest: the progress bar with Stop, the time limit, the concurrency slots.

(Stop itself interrupts a running script, which AppTest cannot do mid-run; the real-server test
tests/hostile/test_hostile_stop.py presses Stop in a browser.)
"""
from __future__ import annotations

import threading
import time

import pytest
from streamlit.testing.v1 import AppTest

from core.runtime import limits
from ui import long_work


def _work_script():
    import time as _t

    import streamlit as st

    from core.runtime.progress import Cancelled
    from ui.long_work import stoppable_progress, stopped_notice

    stopped_notice("w")
    seconds = float(st.session_state.get("max_seconds", 0))
    try:
        with stoppable_progress("Working…", key="w", max_seconds=seconds) as progress:
            for i in range(int(st.session_state.get("steps", 5))):
                _t.sleep(float(st.session_state.get("sleep", 0.0)))
                progress(i + 1, 5, f"step {i + 1}")
        st.success(f"done after {progress.calls} updates; waited {progress.waited_s:.1f} s")
    except Cancelled as e:
        st.warning(f"Stopped: {e}.")


@pytest.fixture(autouse=True)
def fresh_slots():
    long_work._SLOTS = None
    yield
    long_work._SLOTS = None


def test_bar_and_stop_button_vanish_when_done_and_the_slot_is_returned():
    at = AppTest.from_function(_work_script, default_timeout=30).run()
    assert not at.exception
    assert "done after 5 updates" in at.success[0].value
    assert not at.button  # the Stop button lived only while the work ran
    assert long_work._slots()._value == limits.MAX_CONCURRENT_WORK


def test_the_time_limit_cancels_with_a_message():
    at = AppTest.from_function(_work_script, default_timeout=30)
    at.session_state["max_seconds"] = 0.2
    at.session_state["sleep"] = 0.15
    at.session_state["steps"] = 50
    at.run()
    assert not at.exception
    assert "longer than the limit of 0.2 s" in at.warning[0].value
    assert long_work._slots()._value == limits.MAX_CONCURRENT_WORK  # given back after Cancelled


def test_the_default_time_limit_comes_from_core_limits(monkeypatch):
    monkeypatch.setattr(limits, "MAX_WORK_SECONDS", 0.1)

    def script():
        import time as _t

        import streamlit as st

        from core.runtime.progress import Cancelled
        from ui.long_work import stoppable_progress

        try:
            with stoppable_progress("Working…", key="w") as progress:
                for i in range(100):
                    _t.sleep(0.05)
                    progress(i, 100)
        except Cancelled as e:
            st.warning(str(e))

    at = AppTest.from_function(script, default_timeout=30).run()
    assert "0.1 s" in at.warning[0].value


def test_a_session_waits_for_a_free_slot():
    slots = long_work._slots()
    for _ in range(limits.MAX_CONCURRENT_WORK):
        assert slots.acquire(timeout=1)
    threading.Timer(1.5, slots.release).start()  # another computation finishes after 1.5 s
    t0 = time.perf_counter()
    at = AppTest.from_function(_work_script, default_timeout=30).run()
    assert not at.exception
    assert time.perf_counter() - t0 >= 1.4
    assert "waited" in at.success[0].value and "waited 0.0 s" not in at.success[0].value
    for _ in range(limits.MAX_CONCURRENT_WORK - 1):
        slots.release()
    assert slots._value == limits.MAX_CONCURRENT_WORK


class _Note:  # records what work_slot shows while it waits
    def __init__(self) -> None:
        self.texts: list[str] = []

    def caption(self, text: str) -> None:
        self.texts.append(text)


def test_work_without_a_bar_takes_a_slot_waits_for_one_and_gives_it_back():
    slots = long_work._slots()
    held = [slots.acquire(timeout=1) for _ in range(limits.MAX_CONCURRENT_WORK)]
    assert all(held)
    threading.Timer(1.2, slots.release).start()  # another computation finishes after 1.2 s
    note, t0 = _Note(), time.perf_counter()
    with long_work.work_slot(note):
        assert time.perf_counter() - t0 >= 1.1 and slots._value == 0  # it holds the freed slot
        assert note.texts and note.texts[0].startswith("Waiting:")
    with pytest.raises(RuntimeError):
        with long_work.work_slot(_Note()):
            raise RuntimeError("the work failed")
    for _ in range(limits.MAX_CONCURRENT_WORK - 1):
        slots.release()
    assert slots._value == limits.MAX_CONCURRENT_WORK  # given back both times


def test_stopped_notice_after_a_stop():
    at = AppTest.from_function(_work_script, default_timeout=30)
    at.session_state["_long_work_stopped_w"] = True
    at.session_state["steps"] = 0
    at.run()
    assert any("Stopped. Nothing is running now" in i.value for i in at.info)
    at.run()  # shown once
    assert not any("Stopped." in i.value for i in at.info)


def _throttle_script():
    import streamlit as st

    from ui import long_work

    clock = {"t": 0.0}
    long_work._now = lambda: clock["t"]
    sent: list[float] = []

    class Bar:  # records what the real bar would have been sent
        def progress(self, frac, text=""):
            sent.append(round(frac, 2))

    interval = st.session_state.get("interval")
    with long_work.StoppableProgress("Working…", key="w", interval_s=interval) as progress:
        progress._bar = Bar()
        for i in range(10):
            clock["t"] += 0.0625  # ten steps of 1/16 s (exact in binary): faster than the bar's interval
            progress(i + 1, 10)
    st.write(f"calls {progress.calls} sent {sent}")


@pytest.mark.parametrize("interval, sent", [
    # the default, 0.5 s: steps 1 and 9 (at 1/16 and 9/16 s) are the first ones 0.5 s after the last update
    (None, "[0.1, 0.9, 1.0]"),
    # a page's own interval: 0.2 s gives steps 1, 5, 9; 1 s (the Attack Lab) only the first and the last
    (0.2, "[0.1, 0.5, 0.9, 1.0]"),
    (1.0, "[0.1, 1.0]"),
])
def test_the_bar_is_updated_at_most_once_per_interval_and_always_at_the_end(interval, sent):
    assert long_work.BAR_INTERVAL_S == 0.5
    original = long_work._now
    try:
        at = AppTest.from_function(_throttle_script, default_timeout=30)
        if interval is not None:
            at.session_state["interval"] = interval
        at.run()
    finally:
        long_work._now = original
    assert not at.exception
    assert at.markdown[0].value == f"calls 10 sent {sent}"
