"""core/data/safe_text.py: one escaping rule per sink, on the hostile names of tests/hostile_corpus.py."""
from __future__ import annotations

import csv
import io
import re
import string
from html.parser import HTMLParser

from core.data import safe_text
from hostile_corpus import HOSTILE_NAMES

PUNCT = set(string.punctuation)


def _md_unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def test_md_escapes_every_punctuation_character_and_keeps_the_text():
    for name in HOSTILE_NAMES + ["plain name.png", "ünïcödé_🐱.jpg"]:
        out = safe_text.md(name, max_chars=None)
        # every ASCII punctuation character is preceded by a backslash (an escaped one)
        i = 0
        while i < len(out):
            if out[i] == "\\":
                assert i + 1 < len(out) and out[i + 1] in PUNCT, (name, out)
                i += 2
                continue
            assert out[i] not in PUNCT, (name, out, i)
            assert out[i] not in "\n\r\x1b\x07\u202e", (name, out)
            i += 1
        if name.isprintable():
            assert _md_unescape(out) == name  # nothing lost for ordinary text
    assert safe_text.md("a" * 500).endswith("…") and len(_md_unescape(safe_text.md("a" * 500))) == 200


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text = ""

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)

    def handle_data(self, data):
        self.text += data


def test_html_creates_no_element_and_shows_the_name():
    for name in HOSTILE_NAMES:
        p = _Tags()
        p.feed(f"<p title=\"{safe_text.html(name)}\">{safe_text.html(name)}</p>")
        p.close()
        assert p.tags == ["p"], (name, p.tags)
        assert "\x1b" not in p.text and "\u202e" not in p.text


def test_terminal_removes_every_control_and_format_character():
    for name in HOSTILE_NAMES + ["\x00\x08\x7f\x9b[31m", "zero\u200bwidth", "line\u2028sep"]:
        out = safe_text.terminal(name)
        assert all(c.isprintable() or c == " " for c in out), (name, out)
    assert safe_text.terminal("\x1b]0;t\x07") == "\\x1b]0;t\\x07"
    assert safe_text.terminal("ok.png\rforged") == "ok.png\\x0dforged"
    assert safe_text.terminal("ünïcödé_🐱.jpg") == "ünïcödé_🐱.jpg"


def test_csv_cell_neutralises_formulas_and_leaves_numbers():
    for name in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", "  =1"):
        assert safe_text.csv_cell(name).startswith("'"), name
    for name in ("a=1", "photo.png", "", "1.5"):
        assert safe_text.csv_cell(name) == name
    assert safe_text.csv_cell(-1.5) == -1.5 and safe_text.csv_cell(None) is None
    # through the csv module and back: no cell starts with a formula character
    buf = io.StringIO()
    csv.writer(buf).writerows([[safe_text.csv_cell(n)] for n in HOSTILE_NAMES])
    for row in csv.reader(io.StringIO(buf.getvalue())):
        assert not row[0].lstrip(" ").startswith(("=", "+", "-", "@", "\t", "\r")), row
