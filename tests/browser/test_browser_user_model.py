"""Real browser: upload a weights file in the Attack Lab's sidebar, see its probe prediction,
use it, and run an attack on it (the server is on loopback, so uploads are on)."""
from __future__ import annotations

import pytest
import torch
import torchvision

from tests.browser_util import ARTIFACTS, app_server, browser_page, require_browser

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_upload_weights_probe_and_attack(tmp_path):
    require_browser()
    from playwright.sync_api import TimeoutError as PlaywrightTimeout  # optional: after require_browser's check

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    weights = tmp_path / "my_mobilenet.pt"  # ~10 MB, under the 20 MB upload limit
    torch.save(torchvision.models.mobilenet_v3_small().state_dict(), weights)
    with app_server() as url, browser_page() as page:
        page.goto(url + "/attack_lab", wait_until="domcontentloaded")
        page.get_by_text("Use your own model").first.wait_for(timeout=90_000)
        page.get_by_text("Use your own model").first.click()
        page.get_by_text("Upload a weights or ONNX file").first.click()
        arch = page.locator('[data-testid="stSelectbox"]').filter(has_text="Architecture").first
        option = page.get_by_role("option", name="mobilenet_v3_small", exact=True)
        for attempt in range(4):  # under load a rerun from the previous click can close the list again
            arch.click(timeout=60_000)
            try:
                option.click(timeout=15_000)
                break
            except PlaywrightTimeout:
                if attempt == 3:
                    raise
        uploader = page.locator('[data-testid="stFileUploader"]').filter(has_text="Weights file")
        uploader.locator('input[type="file"]').set_input_files(str(weights))
        page.get_by_role("button", name="Check model").wait_for(timeout=90_000)
        page.wait_for_timeout(1000)
        page.get_by_role("button", name="Check model").click()
        page.get_by_text("Probe on", exact=False).first.wait_for(timeout=120_000)
        probe = page.get_by_text("Probe on", exact=False).first.inner_text()
        assert probe.startswith("Probe on Cat (Chelsea): ")
        top1 = probe.split(": ", 1)[1].split(" (")[0]  # the random network's top class on the photo
        page.get_by_text("Clean prediction (top 5)").first.wait_for(timeout=120_000)  # this run is finished
        page.wait_for_timeout(1000)
        page.screenshot(path=str(ARTIFACTS / "user_model_probe.png"), full_page=True)
        use = page.get_by_role("button", name="Use Yours: my_mobilenet.pt")
        use.scroll_into_view_if_needed(timeout=30_000)
        use.click(timeout=60_000)
        page.get_by_text("Use Yours", exact=False).first.wait_for(state="detached", timeout=120_000)
        page.get_by_text("Clean prediction (top 5)").first.wait_for(timeout=120_000)
        page.wait_for_timeout(1500)
        body = page.inner_text("body")
        assert "tiger cat" not in body and top1 in body  # the page now shows the uploaded model's prediction
        page.get_by_role("button", name="Run attack").click()
        page.get_by_text("Replay the attack").first.wait_for(timeout=180_000)
        page.wait_for_timeout(1000)
        body = page.inner_text("body")
        assert "Traceback" not in body
        assert "succeeded" in body or "did not reach its goal" in body
        page.screenshot(path=str(ARTIFACTS / "user_model_upload.png"), full_page=True)
