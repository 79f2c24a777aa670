"""Real-browser test: the Claims page at 1440×900, normal and in presenter mode, with screenshots in
tests/_artifacts/claims/, and one row's live link opening its page."""
from __future__ import annotations

import pytest

from tests.browser_util import ARTIFACTS, app_server, browser_page, require_browser
from tests.browser.test_browser_tour import _check_clean, _wait_idle

pytestmark = [pytest.mark.browser, pytest.mark.slow]
OUT = ARTIFACTS / "claims"


def test_claims_page_in_the_browser():
    require_browser()
    OUT.mkdir(parents=True, exist_ok=True)
    with app_server() as url, browser_page(1440, 900) as page:
        page.goto(url + "/claims", wait_until="domcontentloaded")
        page.get_by_text("Claims, checked").first.wait_for(timeout=90_000)
        page.get_by_text("PGD adversarial training").first.wait_for(timeout=90_000)
        _wait_idle(page)
        page.wait_for_timeout(1000)
        body = _check_clean(page, "claims")
        assert "holds here" in body and "gradient masking found" in body and "n = 1,000" in body
        page.screenshot(path=str(OUT / "claims_1440x900.png"))
        page.locator(".st-key-claims_row_zoo_fmnist-cifs").scroll_into_view_if_needed()
        page.wait_for_timeout(500)
        page.screenshot(path=str(OUT / "claims_row_cifs.png"))
        page.get_by_text("Presenter mode").first.click()
        _wait_idle(page)
        page.wait_for_timeout(1000)
        _check_clean(page, "claims, presenter")
        page.screenshot(path=str(OUT / "claims_presenter_1440x900.png"))
        page.locator(".st-key-claims_row_defense_smoothing").scroll_into_view_if_needed()
        page.wait_for_timeout(500)
        page.screenshot(path=str(OUT / "claims_presenter_row_smoothing.png"))
        # a row's live link loads its preset on its page
        page.get_by_role("button", name="Open live: Model zoo").first.click()
        page.get_by_text("Accuracy versus ε").first.wait_for(timeout=180_000)
        _wait_idle(page)
        _check_clean(page, "zoo from claims")
    shots = sorted(OUT.glob("*.png"))
    assert len(shots) == 4 and all(s.stat().st_size > 20_000 for s in shots)
