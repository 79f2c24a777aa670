"""Every page that shows a user-derived string (uploaded file names, archive and member names,
skip notes that quote them, URL values) shows it as text: walking each page headless (AppTest)
with hostile names, every string of every element that Streamlit renders as Markdown (text,
captions, alerts, image captions, labels, help) has the name's Markdown fully escaped, so no
image, link, autolink, HTML, directive (``:red[…]``, icons), KaTeX or block can come from it.
A real browser checks the same on the Batch page (tests/browser/test_browser_hostile_names.py)."""
from __future__ import annotations

import string
import warnings
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.data import safe_text
from hostile_corpus import make_zip, small_png

VIEWS = Path(__file__).resolve().parents[2] / "views"
MARK = "ZQX"  # every hostile name starts with it, so its rendering can be found
NAME = (f"{MARK}![x](http://127.0.0.1:9/b.png)<img src=x>[l](javascript:alert(1)):red[**R**]:material/home:"
        "$\\frac{a}{b}$`c`www.example.com a@b.co\x1b]0;t\x07\r\n# h\u202e.png")
PUNCT = set(string.punctuation)
# (page, source radio key, uploader key)
UPLOAD_PAGES = [("attack_lab.py", "lab"), ("certify.py", "cert"), ("channels.py", "ch"), ("curves.py", "cur"),
                ("defenses.py", "def"), ("feature_maps.py", "fm"), ("saliency.py", "sal"),
                ("segmentation.py", "seg")]


def _strings(msg):
    """Every string field of a protobuf message, recursively (bytes such as Arrow tables and
    images are not Markdown and are left out)."""
    for field, value in msg.ListFields():
        values = value if isinstance(value, (list, tuple)) or type(value).__name__.startswith("Repeated") else [value]
        for v in values:
            if isinstance(v, str):
                yield v
            elif hasattr(v, "ListFields"):
                yield from _strings(v)


def _page_strings(at) -> list[str]:
    out: list[str] = []

    def walk(node):
        proto = getattr(node, "proto", None)
        if proto is not None and hasattr(proto, "ListFields") and getattr(node, "type", "") not in (
                "arrow_data_frame", "code", "plotly_chart"):  # plain-text sinks, not Markdown
            out.extend(_strings(proto))
        children = getattr(node, "children", None)
        if isinstance(children, dict):
            for c in children.values():
                walk(c)

    walk(at._tree)
    return out


def _escaped(window: str) -> bool:
    i = 0
    while i < len(window):
        if window[i] == "\\":
            if i + 1 < len(window) and window[i + 1] not in PUNCT:  # (the window may end inside a pair)
                return False
            i += 2
            continue
        if window[i] in PUNCT or window[i] in "\r\n\x1b\x07\u202e":
            return False
        i += 1
    return True


def assert_names_inert(at, where: str) -> int:
    """Each rendering of a hostile name is escaped; returns how many renderings were found."""
    found = 0
    for s in _page_strings(at):
        start = 0
        while (i := s.find(MARK, start)) >= 0:
            found += 1
            end = i + len(MARK)
            # the escaped rendering of (a prefix of) the name: every punctuation escaped
            rest = s[end:]
            window = rest[: len(safe_text.md(NAME[len(MARK):], max_chars=None))]
            cut = window.split("…")[0]  # a shortened name ends with "…"
            assert _escaped(cut), (where, s[i:i + 160])
            start = end
    return found


def _upload(at, key: str, name: str, data: bytes, mime: str = "image/png"):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return at.file_uploader(key=key).set_value((name, data, mime)).run()


@pytest.mark.parametrize("page,key", UPLOAD_PAGES, ids=[p for p, _ in UPLOAD_PAGES])
def test_hostile_upload_names_are_inert_on_every_page(page, key):
    at = AppTest.from_file(str(VIEWS / page), default_timeout=180).run()
    assert not at.exception, at.exception
    at.radio(key=f"{key}_src").set_value("Upload").run()
    _upload(at, f"{key}_upload", NAME, small_png(3, 64, 48))
    assert not at.exception, [e.value for e in at.exception]
    shown_ok = assert_names_inert(at, f"{page} (good file)")
    _upload(at, f"{key}_upload", NAME + ".jpg", b"<svg onload=alert(1)>not an image")  # refused: the error quotes it
    assert not at.exception
    errors = [e.value for e in at.error]
    assert errors and any(MARK in e for e in errors), errors
    assert assert_names_inert(at, f"{page} (refused file)") >= 1
    if page != "segmentation.py":  # shows no file name for a good upload
        assert shown_ok >= 1, f"{page} does not show the uploaded file's name"


def test_hostile_archive_member_and_file_names_are_inert_on_the_batch_page():
    at = AppTest.from_file(str(VIEWS / "batch.py"), default_timeout=180)
    at.query_params["src"] = "zip"
    at.query_params["attack"] = NAME[:40]  # a hostile URL value: quoted in the link notes
    at.run()
    assert not at.exception
    assert assert_names_inert(at, "batch: URL notes") >= 1
    data = make_zip([(f"dir/{NAME}", small_png(1)), (f"{NAME}.txt", b"not an image"), (f"../{NAME}", small_png(2))])
    _upload(at, "bat_zip", f"{NAME}.zip", data, "application/zip")
    assert not at.exception, [e.value for e in at.exception]
    assert assert_names_inert(at, "batch: archive members") >= 3  # caption + two skip notes
    _upload(at, "bat_zip", f"{NAME}.zip", b"not a zip", "application/zip")
    assert any(MARK in e.value for e in at.error)
    assert assert_names_inert(at, "batch: refused archive") >= 1
    at.radio(key="bat_src").set_value("Image files").run()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        at.file_uploader(key="bat_files").set_value([(f"{NAME}", small_png(4), "image/png"),
                                                     (f"b{NAME}.png", b"GIF89a broken", "image/png")]).run()
    assert not at.exception, [e.value for e in at.exception]
    assert assert_names_inert(at, "batch: files") >= 2
