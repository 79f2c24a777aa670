"""Real browser: several different photos in a row on the pages with a per-image default.

After each new photo the page must show that photo, the model's class for it in the "Correct
class" box (not the previous photo's), no "shared with an uploaded image" notice (the page wrote
``src=upload`` into the URL itself) and no old result; after Run the verdict names the new
photo's class. The expected classes are computed here with core, independently of the page."""
from __future__ import annotations

import time

import pytest

from core.explain.analysis import predict, topk
from core.data.images import decode_image, load_sample, prepare_for_model, to_tensor
from core.models import get_spec, load_model
from tests.browser_util import ROOT, app_server, browser_page, require_browser

pytestmark = [pytest.mark.browser, pytest.mark.slow]
SAMPLES = ROOT / "assets" / "samples"
SHARED_NOTICE = "This view was shared with an uploaded image"


def _top1(img) -> str:
    m = load_model("EfficientNet-Lite0")
    return topk(predict(m, to_tensor(prepare_for_model(img, get_spec("EfficientNet-Lite0")))), m.class_names).names[0]


def _idle(page, timeout: float = 240) -> None:
    """Wait until the script has not been running for 0.5 s."""
    deadline, quiet = time.time() + timeout, None
    while time.time() < deadline:
        state = page.evaluate("() => document.querySelector('[data-testid=\"stApp\"]')"
                              "?.getAttribute('data-test-script-state')")
        if state in ("initial", "running", "rerunRequested"):
            quiet = None
        elif quiet is None:
            quiet = time.time()
        elif time.time() - quiet > 0.5:
            return
        page.wait_for_timeout(100)
    raise AssertionError("the page kept running")


def _visible_text(page) -> str:
    """The text of the page's visible, current (not stale) elements."""
    return page.evaluate("""() => {
        const out = [];
        for (const c of document.querySelectorAll('[data-testid="stElementContainer"]')) {
            if (c.getAttribute('data-stale') === 'true') continue;
            const r = c.getBoundingClientRect();
            if (r.width === 0 && r.height === 0) continue;
            out.push(c.innerText);
        }
        return out.join('\\n');
    }""")


def _label_box(page) -> str:
    """What the "Correct class" box shows: its text and the value of its input."""
    return page.locator('[data-testid="stSelectbox"]', has_text="Correct class").first.evaluate(
        "el => el.textContent + ' | ' + [...el.querySelectorAll('input')].map(i => i.value"
        " || i.getAttribute('aria-label') || '').join(' ')")


def _upload(page, path) -> None:
    page.locator('[data-testid="stFileUploader"] input[type="file"]').first.set_input_files(str(path))
    page.wait_for_timeout(1500)
    _idle(page)


def _run(page, button: str, marker: str) -> str:
    page.get_by_role("button", name=button, exact=True).click()
    deadline = time.time() + 240
    while marker not in _visible_text(page):
        assert time.time() < deadline, f"no {marker!r} after {button}"
        page.wait_for_timeout(250)
    _idle(page)
    return _visible_text(page)


def _check_fresh(page, caption: str, cls: str, old_cls: str | None) -> None:
    text = _visible_text(page)
    assert cls in _label_box(page), (caption, _label_box(page), cls)
    assert SHARED_NOTICE not in text
    assert "settings changed" not in text  # the old photo's result was dropped, not kept as stale
    assert caption in text  # the new photo, under its caption
    if old_cls is not None and old_cls != cls:
        assert f"Original: {old_cls}" not in text


def test_attack_lab_photo_after_photo():
    require_browser()
    photos = [SAMPLES / "chelsea.jpg", SAMPLES / "grace_hopper.jpg", SAMPLES / "rocket.jpg"]
    classes = [_top1(decode_image(p.read_bytes(), p.name)) for p in photos]
    coffee = _top1(load_sample("coffee"))
    with app_server() as url, browser_page(1440, 900) as page:
        page.goto(url + "/attack_lab")
        page.get_by_text("Clean prediction (top 5)").first.wait_for(timeout=120_000)
        _idle(page)
        text = _run(page, "Run attack", "L∞ of δ")
        assert f"Original: {coffee}" in text
        page.get_by_text("Upload", exact=True).first.click()
        _idle(page)
        old = coffee
        for path, cls in zip(photos, classes):
            _upload(page, path)
            _check_fresh(page, f"{path.name} as the model sees it", cls, old)
            text = _run(page, "Run attack", "L∞ of δ")
            assert f"Original: {cls}" in text and f"“{cls}” →" in text, (path.name, cls)
            assert SHARED_NOTICE not in text
            old = cls


@pytest.mark.parametrize("path,button,marker", [("defenses", "Run", "Total time"),
                                                ("curves", "Run", "Markers: green circle")])
def test_label_follows_each_new_photo(path, button, marker):
    require_browser()
    photos = [SAMPLES / "chelsea.jpg", SAMPLES / "flower.jpg"]
    classes = [_top1(decode_image(p.read_bytes(), p.name)) for p in photos]
    with app_server() as url, browser_page(1440, 900) as page:
        page.goto(f"{url}/{path}")
        page.locator('[data-testid="stSelectbox"]', has_text="Correct class").first.wait_for(timeout=120_000)
        _idle(page)
        _run(page, button, marker)
        page.get_by_text("Upload", exact=True).first.click()
        _idle(page)
        for p, cls in zip(photos, classes):
            _upload(page, p)
            _check_fresh(page, f"{p.name}: the model says {cls}", cls, None)
        text = _run(page, button, marker)
        assert classes[-1] in _label_box(page) and "settings changed" not in text
