"""Real-browser test: upload a photo in the Attack Lab, run an attack, save a screenshot."""
from __future__ import annotations

import pytest

from tests.browser_util import ARTIFACTS, ROOT, app_server, browser_page, require_browser

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_upload_attack_screenshot():
    require_browser()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    photo = ROOT / "assets" / "samples" / "coffee.jpg"
    with app_server() as url, browser_page() as page:
        # A link to a sub-page as the fresh server's first request must still get app.py's
        # navigation (the views live in views/, not pages/, so Streamlit never falls back to its
        # pages-folder mode).
        page.goto(url + "/attack_lab", wait_until="domcontentloaded")
        page.get_by_text("Batch evaluation").first.wait_for(timeout=60_000)  # app.py's navigation
        page.get_by_text("Attack Lab", exact=False).first.wait_for(timeout=60_000)
        page.get_by_text("Upload", exact=True).first.click()
        page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(str(photo))
        page.get_by_text("Clean prediction (top 5)").first.wait_for(timeout=90_000)
        page.get_by_role("button", name="Run attack").click()
        page.get_by_text("Replay the attack").first.wait_for(timeout=120_000)
        page.wait_for_timeout(1500)  # let the plotly charts draw
        body = page.inner_text("body")
        assert "Traceback" not in body
        assert "succeeded" in body or "did not reach its goal" in body
        assert "Prediction on the downloaded file" in body
        page.screenshot(path=str(ARTIFACTS / "attack_lab.png"), full_page=True)
    assert (ARTIFACTS / "attack_lab.png").stat().st_size > 50_000
