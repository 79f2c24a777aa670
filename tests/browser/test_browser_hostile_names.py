"""A hostile name on the Batch page in a real browser: an archive whose own name, member names
and skip notes carry Markdown image/link syntax, HTML and KaTeX creates no <img>, no link, no
formula and no network request; the names are shown as text. Then an upload the browser refuses
(over the one upload limit) is refused by the uploader with the limit in its message; Streamlit's
uploader keeps the previous file (the refused one never reaches the server), and the page says
which file its images come from."""
from __future__ import annotations


import pytest

from core.runtime import limits
from hostile_corpus import make_zip, small_png
from tests.browser_util import app_server, browser_page, require_browser

pytestmark = [pytest.mark.browser, pytest.mark.slow]

BEACON = "http://127.0.0.1:9/beacon"


def test_hostile_names_on_the_batch_page_create_no_element_or_request():
    require_browser()
    member = f"![m]({BEACON}-member.png) $x^2$ :red[RED] <img src={BEACON}-html.png>.png"
    note = f"[link]({BEACON}-note.png) ![n]({BEACON}-note-img.png).txt"
    data = make_zip([(member, small_png(1)), (note, b"not an image"), (f"../![t]({BEACON}-traversal.png).png", small_png(2))])
    requests: list[str] = []
    with app_server() as url, browser_page(height=2000) as page:
        page.on("request", lambda r: requests.append(r.url))
        page.goto(f"{url}/batch?src=zip", wait_until="networkidle")
        page.get_by_text("Batch evaluation", exact=False).first.wait_for(timeout=60_000)
        page.locator("input[type=file]").first.set_input_files(
            files=[{"name": "![z](beacon-zipname.png) $y$.zip", "mimeType": "application/zip", "buffer": data}])
        page.get_by_text("1 image(s):", exact=False).first.wait_for(timeout=120_000)
        page.get_by_text("skipped or ignored", exact=False).first.click()  # open the notes
        page.get_by_text("not an image", exact=False).first.wait_for(timeout=30_000)
        # the same archive, refused as a whole: its own name in the error
        page.locator("input[type=file]").first.set_input_files(
            files=[{"name": "![z](beacon-refused.png).zip", "mimeType": "application/zip", "buffer": b"no zip"}])
        page.get_by_text("Could not use", exact=False).first.wait_for(timeout=60_000)
        text = page.inner_text("body")
        page.wait_for_timeout(1500)
        assert "![z](beacon-refused.png).zip" in text  # shown literally
        assert page.locator("img[src*='beacon']").count() == 0
        assert page.locator("a[href*='beacon'], a[href^='javascript']").count() == 0
        assert page.locator(".katex, [data-testid='stMarkdownContainer'] span[style*='color']").count() == 0
        assert not [r for r in requests if "beacon" in r], [r for r in requests if "beacon" in r]

        # a good archive, then a file over the upload limit: the browser refuses it with the limit; the
        # page says which file is in use
        page.locator("input[type=file]").first.set_input_files(
            files=[{"name": "good.zip", "mimeType": "application/zip", "buffer": make_zip([("ok.png", small_png(3))])}])
        page.get_by_text("1 image(s): ok.png", exact=False).first.wait_for(timeout=60_000)
        big = bytes(limits.MAX_UPLOAD_BYTES + 1000)
        page.locator("input[type=file]").first.set_input_files(
            files=[{"name": "big.zip", "mimeType": "application/zip", "buffer": big}])
        page.wait_for_timeout(4000)
        text = page.inner_text("body")
        assert f"{limits.MAX_UPLOAD_MB}" in text and "big.zip" in text  # the uploader says why
        assert "File must be 20.0MB or smaller" in text  # Streamlit's message: the same limit
        assert "In use: good.zip" in text and "Could not use" not in text, text[-1500:]
