"""One escaping rule per sink for every string that came from a user.

File names, archive member names, class names read from user files, URL parameters and messages
that quote them are *data*; wherever they reach a sink that interprets text they go through the
helper of that sink, and only there (the raw text is kept everywhere else, so a name is escaped
exactly once, for the sink it ends up in):

* :func:`md` — Streamlit Markdown (``st.markdown``, ``st.caption``, ``st.error``/``warning``/``info``,
  widget labels and help). Every ASCII punctuation character is backslash-escaped (CommonMark lets
  any of them be escaped), so no emphasis, link, image, autolink (``http:``/``www.``/``a@b.c``),
  HTML, Streamlit directive (``:red[…]``, ``:material/…:``, emoji shortcodes) or KaTeX (``$…$``)
  can start inside the name; line breaks and other control/format characters become visible
  placeholders, so a name cannot start a new block (a heading, a list, a table).
* :func:`html` — HTML text or attribute values (``html.escape`` with quotes) plus the same
  control-character rule.
* :func:`terminal` — text printed to a terminal: C0/C1 control characters (ESC, CR, BEL, BS, NUL,
  DEL, CSI …) and Unicode format characters (bidirectional overrides, zero-width marks) are
  written as visible ``\\xNN``/``\\uNNNN`` escapes, so a name cannot move the cursor, clear the
  screen, set the window title or forge a line.
* :func:`csv_cell` — one CSV cell that a spreadsheet will open: a text value starting with
  ``=``, ``+``, ``-``, ``@``, a tab or a carriage return (also after leading spaces) gets a
  leading apostrophe, so it is shown as text instead of being run as a formula (OWASP's "CSV
  injection" advice); numbers are left alone.

Every helper takes ``max_chars`` (None: no cut) and never raises on any ``str()``-able value.
"""
from __future__ import annotations

import html as _html
import string
import unicodedata
from typing import Any

__all__ = ["md", "html", "terminal", "csv_cell", "FORMULA_START"]

_MD_SPECIAL = frozenset(string.punctuation)  # every ASCII punctuation character
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")


def _cut(text: str, max_chars: int | None) -> str:
    if max_chars is not None and len(text) > max_chars:
        return text[: max(0, max_chars - 1)] + "…"
    return text


def _is_control(ch: str) -> bool:
    """C0/C1 controls, DEL, and Unicode format/separator characters (bidi overrides, zero-width
    joiners, line/paragraph separators)."""
    return unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn") and ch not in ("\u200d",)


def _visible(ch: str) -> str:
    o = ord(ch)
    return f"\\x{o:02x}" if o < 0x100 else (f"\\u{o:04x}" if o < 0x10000 else f"\\U{o:08x}")


def terminal(value: Any, max_chars: int | None = None) -> str:
    """Text that a terminal prints as it is: control and format characters become ``\\xNN``."""
    text = str(value)
    return _cut("".join(_visible(c) if _is_control(c) else c for c in text), max_chars)


def md(value: Any, max_chars: int | None = 200) -> str:
    """Text that Streamlit's Markdown shows literally (one line)."""
    text = _cut(str(value), max_chars)
    out = []
    for c in text:
        if c in _MD_SPECIAL:
            out.append("\\" + c)
        elif c in "\n\r\t\v\f" or c in "\u2028\u2029":
            out.append(" ")
        elif _is_control(c):
            out.append("\\\\" + _visible(c)[1:])  # a literal backslash, then xNN
        else:
            out.append(c)
    return "".join(out)


def html(value: Any, max_chars: int | None = None) -> str:
    """Text for HTML content or a quoted attribute value."""
    text = _cut(str(value), max_chars)
    return _html.escape("".join(_visible(c) if _is_control(c) and c not in "\n\t" else c for c in text), quote=True)


def csv_cell(value: Any) -> Any:
    """A CSV cell that a spreadsheet shows as text: strings starting (after spaces) with
    ``= + - @``, a tab or a line break get a leading apostrophe; other values are returned
    unchanged (numbers stay numbers)."""
    if not isinstance(value, str):
        return value
    if value.lstrip(" ").startswith(FORMULA_START) or value.startswith(FORMULA_START):
        return "'" + value
    return value
