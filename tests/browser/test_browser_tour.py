"""Real-browser test: walk the whole guided tour from the home page, one screenshot per step in
tests/_artifacts/tour/, then check a glossary anchor and presenter mode."""
from __future__ import annotations

import time

import pytest

from core.teaching.presets import PAGE_PATHS
from core.teaching.tour import STEPS
from tests.browser_util import ARTIFACTS, app_server, browser_page, require_browser

pytestmark = [pytest.mark.browser, pytest.mark.slow]
OUT = ARTIFACTS / "tour"


def _wait_idle(page, timeout_s: float = 300) -> None:
    """Until the script has finished running (Streamlit's own test attribute, three checks in a row)."""
    deadline = time.time() + timeout_s
    quiet = 0
    while time.time() < deadline:
        state = page.locator('[data-testid="stApp"]').first.get_attribute("data-test-script-state")
        quiet = quiet + 1 if state == "notRunning" else 0
        if quiet >= 3:
            return
        page.wait_for_timeout(700)
    raise AssertionError("the app kept running")


def _check_clean(page, where: str) -> str:
    body = page.inner_text("body")
    assert page.locator('[data-testid="stException"]').count() == 0, f"{where}: exception on the page"
    assert "Traceback" not in body, where
    return body


def test_walk_the_tour_with_screenshots():
    require_browser()
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("*.png"):
        old.unlink()
    n = len(STEPS)
    with app_server() as url, browser_page(width=1500, height=2400) as page:
        page.goto(url, wait_until="domcontentloaded")
        page.get_by_text("Take the whole tour").first.wait_for(timeout=90_000)
        _wait_idle(page)
        page.screenshot(path=str(OUT / "00_home.png"), full_page=True)
        page.get_by_role("button", name="Take the whole tour").click()
        for k, step in enumerate(STEPS):
            page.get_by_text(f"Guided tour — step {k + 1} of {n}").first.wait_for(timeout=120_000)
            _wait_idle(page)
            page.wait_for_timeout(1200)  # let plotly draw
            body = _check_clean(page, step.title)
            assert step.title in body
            stem = PAGE_PATHS[step.page].split("/")[-1][:-3]
            assert page.url.split("?")[0].rstrip("/").endswith("/" + stem), (step.title, page.url)
            if step.preset:
                assert "settings changed since" not in body, step.title  # the step's result is fresh
            page.screenshot(path=str(OUT / f"{k + 1:02d}_{step.page}.png"), full_page=True)
            page.get_by_role("button", name="Finish ✔" if k == n - 1 else "Next ▶").click()
        page.get_by_text(f"Guided tour — step {n} of {n}").first.wait_for(state="detached", timeout=60_000)
        _wait_idle(page)

        # A glossary link opens the page at its term.
        page.goto(url + "/glossary#bpda", wait_until="domcontentloaded")
        heading = page.locator("#bpda")
        heading.wait_for(timeout=60_000)
        _wait_idle(page)
        page.wait_for_timeout(1000)
        assert heading.bounding_box()["y"] < 600  # scrolled to the anchor
        _check_clean(page, "glossary")

        # Presenter mode on the Attack Lab after a preset.
        page.goto(url + "/attack_lab", wait_until="domcontentloaded")
        page.get_by_role("button", name="⚡ …and falls to BPDA").wait_for(timeout=90_000)
        _wait_idle(page)
        page.get_by_text("Presenter mode").first.click()
        _wait_idle(page)
        page.get_by_role("button", name="Presets").click()  # in presenter mode the presets sit in a popover
        page.get_by_role("button", name="⚡ …and falls to BPDA").click()
        page.get_by_text("gets through").first.wait_for(timeout=120_000)
        _wait_idle(page)
        page.wait_for_timeout(1200)
        body = _check_clean(page, "presenter")
        assert "Largest pixel change" in body and "Replay the attack" not in body
        page.screenshot(path=str(OUT / "presenter_attack_lab.png"), full_page=True)
    shots = sorted(OUT.glob("*.png"))
    assert len(shots) == n + 2
    assert all(s.stat().st_size > 30_000 for s in shots)
