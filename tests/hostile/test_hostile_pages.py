"""Hostile input at the page level: uploads from the generated corpus through the Attack Lab,
and hostile values in the URL (ui/urlstate.py) on every page that reads the URL.

A page must show a clear message (``st.error``/``st.warning``) or work; it must never end in an
exception, and a value from the URL must never reach a widget or ``core`` outside its limits.
"""
from __future__ import annotations

import math
import re
import warnings
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.runtime import limits
from tests.hostile_corpus import build_corpus

ROOT = Path(__file__).resolve().parents[2]
LAB = str(ROOT / "views" / "attack_lab.py")
pytestmark = pytest.mark.slow

# Values an attacker (or a mangled link) might put in a query string.
HOSTILE_VALUES = [
    "nan", "NaN", "-nan", "inf", "-inf", "Infinity", "1e309", "-1e309", "1e-320", "-1", "-0", "0",
    "99999999999999999999999", "-99999999999999999999999", "2147483648", "9" * 12, "0x1F", "1_000", "1e3",
    "", " ", "\t", "\x00", "%00", "None", "null", "true", "[1,2]", "{}", ",,,", "1,2,3," * 60,
    "💥", "ünïcödé", "\u202egnp.exe", "a" * 10_000, "<script>alert(1)</script>", "../../etc/passwd",
    "PGD'; DROP TABLE x; --", "__import__('os').system('id')", "${7*7}", "{{7*7}}",
]

SAMPLE_UPLOADS = [
    # name in the corpus -> what must happen ("ok": the page shows the clean prediction)
    ("valid_rgb_jpeg_quality-95.jpg", "ok"), ("mode_I16.png", "ok"), ("exif_orientation_6.jpg", "ok"),
    ("cmyk.jpg", "ok"), ("palette_trns.gif", "ok"), ("animated.gif", "ok"), ("rgba.webp", "ok"),
    ("gray16.png", "ok"), ("thin_12000x1.png", "ok"), ("multipage.tiff", "ok"), ("png_named.jpg", "ok"),
    ("<img src=x onerror=alert(1)>.png", "ok"),
    ("cat.png", "error"), ("page.jpg", "error"), ("empty.png", "error"), ("truncated_50pct.bmp", "error"),
    ("png_claims_100000x100000.png", "error"), (f"real_bomb_{int(limits.MAX_IMAGE_PIXELS ** 0.5) + 16}x"
                                                f"{int(limits.MAX_IMAGE_PIXELS ** 0.5) + 16}.png", "error"),
    ("too_many_bytes.png", "error"), ("ztxt_bomb.png", "error"),
    ("random_0.png", "either"), ("fuzz_3.gif", "either"),
]


def _texts(at, kinds=("markdown", "success", "error", "warning", "info", "caption")) -> str:
    parts = []
    for kind in kinds:
        parts += [str(e.value) for e in getattr(at, kind)]
    return "\n".join(parts)


def _mime(name: str) -> str:
    ext = name.rsplit(".", 1)[-1].lower()
    return {"jpg": "image/jpeg", "jpeg": "image/jpeg", "tif": "image/tiff"}.get(ext, f"image/{ext}")


def test_corpus_uploads_on_the_attack_lab():
    corpus = {c.name: c for c in build_corpus()}
    at = AppTest.from_file(LAB, default_timeout=120).run()
    assert not at.exception
    at.radio(key="lab_src").set_value("Upload").run()
    assert not at.exception
    outcomes = {}
    for name, want in SAMPLE_UPLOADS:
        case = corpus[name]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            at.file_uploader(key="lab_upload").set_value((name, case.data, _mime(name))).run()
        assert not at.exception, (name, [e.value for e in at.exception])
        errors = [e.value for e in at.error]
        shown = any(getattr(c, "key", None) == "lab_clean_only" for c in at.get("plotly_chart"))
        if errors:
            assert any("Could not use" in e for e in errors), (name, errors)
            assert not shown
            outcomes[name] = "error"
        else:
            assert shown, (name, _texts(at))
            outcomes[name] = "ok"
        if want != "either":
            assert outcomes[name] == want, (name, outcomes[name], errors)
    # The odd-but-valid strip goes all the way through an attack.
    at.file_uploader(key="lab_upload").set_value(("strip.png", corpus["thin_12000x1.png"].data, "image/png")).run()
    at.selectbox(key="lab_attack").set_value("FGSM").run()
    at.button(key="lab_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert "succeeded" in _texts(at) or "did not reach" in _texts(at)


def test_upload_with_a_refused_extension_is_stopped_by_streamlit():
    """The browser only offers the allowed extensions; a crafted websocket message with another
    name is refused by Streamlit itself (a server-side extension check while deserialising the
    widget), before any of our code sees the bytes. With ``client.showErrorDetails = "none"``
    (.streamlit/config.toml, which AppTest reads too) the page shows a redacted notice, no
    traceback."""
    at = AppTest.from_file(LAB, default_timeout=120).run()
    at.radio(key="lab_src").set_value("Upload").run()
    at.file_uploader(key="lab_upload").set_value(("vector.svg", b"<svg/>", "image/svg+xml")).run()
    assert len(at.exception) == 1
    exc = at.exception[0]
    assert "redacted" in exc.message
    assert not exc.stack_trace and "Invalid file extension" not in exc.message


# --------------------------------------------------------------------------- URL parameters
def test_parse_value_never_raises_anything_but_url_value_error():
    from ui.urlstate import UrlValueError, attack_lab_params, parse_value

    params = attack_lab_params()
    assert len(params) >= 10
    for p in params:
        options = p.options() if p.kind in ("choice", "list") else []
        for raw in HOSTILE_VALUES + [str(o) for o in options[:3]]:
            try:
                v, notes = parse_value(raw, p)
            except UrlValueError as e:
                assert str(e)
                continue
            assert isinstance(notes, list)
            if p.kind in ("int", "float"):
                assert isinstance(v, (int, float)) and math.isfinite(v), (p.name, raw, v)
                assert p.lo is None or v >= p.lo
                assert p.hi is None or v <= p.hi
                if p.kind == "int":
                    assert isinstance(v, int)
            elif p.kind == "bool":
                assert isinstance(v, bool)
            elif p.kind == "choice" and p.url_to_widget is None:
                assert v in options, (p.name, raw, v)


def _url_param_names(page: Path) -> list[str]:
    names = re.findall(r'UrlParam\(\s*"(\w+)"', page.read_text())
    if "attack_lab_params()" in page.read_text():
        from ui.urlstate import attack_lab_params

        names += [p.name for p in attack_lab_params()]
    return sorted(set(names))


def _url_pages() -> list[Path]:
    return sorted(p for p in (ROOT / "views").glob("*.py") if "UrlState(" in p.read_text())


@pytest.mark.parametrize("page", _url_pages(), ids=lambda p: p.stem)
def test_hostile_query_strings_leave_pages_working(page):
    names = _url_param_names(page)
    assert names, page
    combos = [
        {n: HOSTILE_VALUES[(i * 7) % len(HOSTILE_VALUES)] for i, n in enumerate(names)},
        {n: HOSTILE_VALUES[(i * 7 + 3) % len(HOSTILE_VALUES)] for i, n in enumerate(names)},
        {n: ["nan", "-1", "a" * 500] for n in names},  # repeated parameters
        {**{f"unknown_{i}_{'x' * 40}": "1" for i in range(50)}, "steps": "1e9", "seed": "-7", "eps": "inf"},
    ]
    for qp in combos:
        at = AppTest.from_file(str(page), default_timeout=120)
        at.query_params.update(qp)
        at.run()
        assert not at.exception, (page.stem, qp, [e.value for e in at.exception])
        warned = _texts(at, ("warning",))
        assert "could not be used" in warned, (page.stem, warned[:300])
        # Every number that reached a slider or number input lies within the widget's range.
        for kind in ("slider", "number_input"):
            for w in at.get(kind):
                vals = w.value if isinstance(w.value, (list, tuple)) else [w.value]
                for v in vals:
                    if isinstance(v, (int, float)):
                        assert math.isfinite(v), (page.stem, w.key, v)
                        if getattr(w, "min", None) is not None:
                            assert w.min <= v <= w.max, (page.stem, w.key, v, w.min, w.max)
        steps = [w for w in at.get("slider") if str(w.key).endswith("_steps")]
        for w in steps:
            assert 1 <= w.value <= limits.MAX_ATTACK_STEPS


def test_clamped_url_values_run_a_cheap_attack():
    at = AppTest.from_file(LAB, default_timeout=120)
    at.query_params.update({"attack": "FGSM", "eps": "999", "seed": "-5", "goal": "targeted", "target": "99999",
                            "model": "../../etc/passwd", "defense": "<script>", "src": "bundled", "sample": "nan"})
    at.run()
    assert not at.exception
    assert at.slider(key="lab_eps_linf").value == 64  # clamped to the widget's maximum
    assert at.number_input(key="lab_seed").value == 0
    assert at.selectbox(key="lab_target").value == 999
    at.button(key="lab_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert "A chosen class" in str(at.radio(key="lab_goal").value) or at.radio(key="lab_goal").value == "targeted"
