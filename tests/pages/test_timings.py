"""ui/timings.py: off by default; with EXPLORER_TIMINGS set, one JSON line per script run with its stages."""
from __future__ import annotations

import json
import time

from ui import timings


def test_off_without_the_variable(monkeypatch, tmp_path):
    monkeypatch.delenv(timings.ENV, raising=False)
    with timings.script_run("attack_lab"):
        with timings.stage("compute"):
            pass
    assert not list(tmp_path.iterdir())
    assert not timings.enabled()


def test_one_record_per_script_run_with_its_stages(monkeypatch, tmp_path):
    f = tmp_path / "t.jsonl"
    monkeypatch.setenv(timings.ENV, str(f))
    for _ in range(2):
        with timings.script_run("zoo"):
            with timings.stage("compute"):
                time.sleep(0.02)
            timings.add("figures", 0.5, size=1234)
            timings.add("figures", 0.25, size=10)
    timings.add("figures", 9.0)  # outside a script run: ignored
    recs = [json.loads(line) for line in f.read_text().splitlines()]
    assert len(recs) == 2
    for r in recs:
        assert r["page"] == "zoo"
        assert r["stages"]["figures"] == {"seconds": 0.75, "count": 2, "bytes": 1244}
        assert 0.02 <= r["stages"]["compute"]["seconds"] <= r["seconds"]
        assert r["stages"]["compute"]["count"] == 1
