"""Stop in a real browser: a long attack started in the Attack Lab stops within moments of
pressing Stop, the server's CPU goes idle (the attack loop is gone, not left running in the
background), and the server answers the next request at once."""
from __future__ import annotations

import os
import re
import time
import urllib.request
from pathlib import Path

import pytest

from tests.browser_util import app_server, browser_page, require_browser
from tests.hostile.test_hostile_sessions import server_pid

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and all its threads (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_rate(pid: int, seconds: float) -> float:
    t0, c0 = time.perf_counter(), cpu_seconds(pid)
    time.sleep(seconds)
    return (cpu_seconds(pid) - c0) / (time.perf_counter() - t0)


def test_stop_ends_a_long_attack_and_frees_the_server():
    require_browser()
    with app_server() as url, browser_page(height=1800) as page:
        pid = server_pid(url)
        assert pid is not None
        # 200 steps x 5 restarts = 1000 forward+backward passes: minutes on a CPU.
        page.goto(f"{url}/attack_lab?attack=PGD&steps=200&restarts=5&seed=0", wait_until="domcontentloaded")
        page.get_by_text("Clean prediction (top 5)").first.wait_for(timeout=120_000)
        page.get_by_role("button", name="Run attack").click()
        page.get_by_text(re.compile(r"step ([3-9]|\d\d+)/1000")).first.wait_for(timeout=120_000)
        busy = cpu_rate(pid, 1.0)

        t_stop = time.perf_counter()
        page.get_by_role("button", name="⏹ Stop").click()
        page.get_by_text("Stopped. Nothing is running now").first.wait_for(timeout=30_000)
        latency = time.perf_counter() - t_stop

        time.sleep(1.0)
        idle = cpu_rate(pid, 3.0)
        t0 = time.perf_counter()
        with urllib.request.urlopen(url + "/_stcore/health", timeout=5) as r:
            assert r.status == 200
        health_s = time.perf_counter() - t0
        body = page.inner_text("body")
        assert "Replay the attack" not in body  # the attack did not finish
        assert not re.search(r"step \d+/1000", body)  # its progress bar is gone

        # The same session runs a short attack normally afterwards.
        page.goto(f"{url}/attack_lab?attack=FGSM&seed=0", wait_until="domcontentloaded")
        page.get_by_text("Clean prediction (top 5)").first.wait_for(timeout=60_000)
        page.get_by_role("button", name="Run attack").click()
        page.get_by_text("Replay the attack").first.wait_for(timeout=60_000)

    print(f"\nCPU while attacking {busy:.2f} cores; Stop took {latency:.1f} s; CPU after {idle:.2f} cores; "
          f"health {health_s * 1000:.0f} ms")
    assert latency < 15, f"Stop took {latency:.1f} s"
    assert idle < 0.25, f"the server still used {idle:.2f} cores after Stop"
    assert health_s < 2
