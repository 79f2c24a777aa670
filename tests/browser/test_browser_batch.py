"""The Batch evaluation page in a real browser: a shared link opens the view, Run starts the
work, Stop really stops it (the server goes idle) and keeps the finished images."""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.browser_util import app_server, browser_page, require_browser

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _server_pid(url: str) -> int | None:
    """The pid of the ``streamlit run`` process serving ``url`` (started by ``app_server``)."""
    port = url.rsplit(":", 1)[1]
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            args = (d / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"streamlit" in b" ".join(args) and port.encode() in args:
            return int(d.name)
    return None


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its threads (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_stop_button_stops_the_work_and_keeps_finished_images():
    require_browser()
    with app_server() as url, browser_page(height=1800) as page:
        server_pid = _server_pid(url)
        page.goto(f"{url}/batch?src=bundled&attack=PGD&steps=20&eps=1,4&rs=0", wait_until="networkidle")
        page.get_by_text("Batch evaluation", exact=False).first.wait_for(timeout=60_000)
        page.get_by_role("button", name="Run").click()
        # wait until the second image is being attacked, then stop
        page.get_by_text("image 2/7", exact=False).first.wait_for(timeout=120_000)
        page.get_by_role("button", name="⏹ Stop").click()
        page.get_by_text("Stopped after", exact=False).first.wait_for(timeout=60_000)
        page.get_by_text("Partial results", exact=False).first.wait_for(timeout=60_000)  # drawn after the notice
        text = page.inner_text("body")
        assert "Stopped after 1 of 7 image(s)" in text or "Stopped after 2 of 7 image(s)" in text
        assert "Partial results" in text
        assert server_pid is not None
        if server_pid:
            time.sleep(2)
            t1 = _cpu_seconds(server_pid)
            time.sleep(5)
            assert _cpu_seconds(server_pid) - t1 < 2.0  # idle: the attack loop is gone
