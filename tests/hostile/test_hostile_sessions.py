"""Many users at once on one real server: eight browser sessions run different attacks and
defenses in the Attack Lab at the same time, on the shared cached model. Their results (the
downloaded 8-bit adversarial PNG, the images shown, the metrics, the verdict) must equal those
of the same runs made one after another, with no error on any page and bounded server memory.
"""
from __future__ import annotations

import hashlib
import re
import time
from pathlib import Path
from urllib.parse import urlencode, urlparse

import pytest

from tests.browser_util import app_server, require_browser

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# Eight sessions: different attacks, seeds, photos and defenses (cheap settings: 224 px on a CPU).
CONFIGS = [
    {"attack": "FGSM", "seed": "0"},
    {"attack": "PGD", "steps": "3", "seed": "1"},
    {"attack": "N-FGSM", "seed": "2", "sample": "coffee"},
    {"attack": "TRADES-KL", "steps": "2", "seed": "3"},
    {"attack": "APGD-CE", "steps": "3", "seed": "4", "sample": "coffee"},
    {"attack": "PGD", "steps": "2", "seed": "5", "defense": "JPEG", "adaptive": "1"},
    {"attack": "FGSM", "eps": "2", "seed": "6", "defense": "Bit-depth reduction", "adaptive": "0"},
    {"attack": "PGD", "steps": "2", "seed": "7", "defense": "Median filter", "adaptive": "1", "sample": "coffee"},
]
SERVER_PEAK_MB = 3000  # VmHWM of the server after all sessions (measured 1.36 GB)


def server_pid(url: str) -> int | None:
    """The pid of the ``streamlit run`` process serving ``url`` (found by its port)."""
    port = str(urlparse(url).port)
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            args = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"streamlit" in b" ".join(args) and b"--server.port" in args \
                and args[args.index(b"--server.port") + 1] == port.encode():
            return int(proc.name)
    return None


def vm_hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Session:
    """One browser page = one Streamlit session, counting the script runs the server finished
    (``script_finished`` messages on its websocket), so that a run is awaited exactly."""

    def __init__(self, ctx, url: str, cfg: dict) -> None:
        self.cfg = cfg
        self.finished = 0
        self.page = ctx.new_page()
        self.page.on("websocket", lambda ws: ws.on("framereceived", self._frame))
        self.page.goto(f"{url}/attack_lab?{urlencode(cfg)}", wait_until="domcontentloaded")

    def _frame(self, payload) -> None:
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        if isinstance(payload, (bytes, bytearray)):
            msg = ForwardMsg()
            try:
                msg.ParseFromString(bytes(payload))
            except Exception:  # noqa: BLE001 - not a ForwardMsg
                return
            if msg.WhichOneof("type") == "script_finished":
                self.finished += 1

    def wait_runs(self, n: int, timeout_s: float = 240) -> None:
        deadline = time.monotonic() + timeout_s
        while self.finished < n:
            assert time.monotonic() < deadline, f"session {self.cfg}: run {n} did not finish"
            self.page.wait_for_timeout(100)

    def ready(self) -> None:
        self.page.get_by_text("Clean prediction (top 5)").first.wait_for(timeout=180_000)
        self.wait_runs(1)

    def click_run(self) -> int:
        n = self.finished
        self.page.get_by_role("button", name="Run attack").click()
        return n + 1

    def signature(self) -> dict:
        """What the session shows after its run, in a form that can be compared exactly."""
        page = self.page
        page.get_by_text("Prediction on the downloaded file").first.wait_for(timeout=30_000)
        n = self.finished
        with page.expect_download(timeout=60_000) as dl:
            page.get_by_role("button", name="Download adversarial PNG").click()
        png = Path(dl.value.path()).read_bytes()
        self.wait_runs(n + 1)  # the download button reruns the script; let that finish
        body = page.inner_text("body")
        # Media URLs are content hashes of the images the page shows.
        imgs = page.eval_on_selector_all('[data-testid="stImage"] img', "els => els.map(e => e.getAttribute('src'))")
        return {
            "png_sha256": hashlib.sha256(png).hexdigest(),
            "images": sorted(urlparse(s).path for s in imgs),
            "metrics": page.locator('[data-testid="stMetricValue"]').all_inner_texts(),
            "verdict": re.sub(r" in [0-9.]+ s\.", "", page.locator('[data-testid="stAlert"]').first.inner_text()),
            "errors": [w for w in ("Traceback", "redacted", "Cannot run this attack") if w in body],
        }


def test_eight_concurrent_sessions_match_sequential_runs():
    require_browser()
    from playwright.sync_api import sync_playwright

    from tests.browser_util import CHROMIUM, FLAGS

    t_start = time.perf_counter()
    with app_server() as url, sync_playwright() as pw:
        pid = server_pid(url)
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        ctx = browser.new_context(viewport={"width": 1400, "height": 2200}, accept_downloads=True)
        try:
            sessions = [Session(ctx, url, cfg) for cfg in CONFIGS]  # eight sessions load at once
            for s in sessions:
                s.ready()
            t_load = time.perf_counter() - t_start

            # One after another: each session runs while the others wait.
            t0 = time.perf_counter()
            sequential = []
            for s in sessions:
                s.wait_runs(s.click_run())
                sequential.append(s.signature())
            t_seq = time.perf_counter() - t0

            # All at once: every session presses Run within a fraction of a second.
            t0 = time.perf_counter()
            targets = [s.click_run() for s in sessions]
            for s, n in zip(sessions, targets):
                s.wait_runs(n)
            t_conc = time.perf_counter() - t0
            concurrent = [s.signature() for s in sessions]
        finally:
            ctx.close()
            browser.close()
        peak = vm_hwm_mb(pid) if pid else float("nan")

    print(f"\nload {t_load:.1f} s, sequential runs {t_seq:.1f} s, concurrent runs {t_conc:.1f} s, "
          f"server VmHWM {peak:.0f} MB, total {time.perf_counter() - t_start:.1f} s")
    for cfg, a, b in zip(CONFIGS, sequential, concurrent):
        assert not a["errors"] and not b["errors"], (cfg, a["errors"], b["errors"])
        assert a == b, f"session {cfg} differs when run concurrently:\n{a}\n{b}"
    assert len({s["png_sha256"] for s in sequential}) == len(CONFIGS)  # the runs really differ
    assert pid is not None and peak < SERVER_PEAK_MB, f"server peak memory {peak:.0f} MB"
