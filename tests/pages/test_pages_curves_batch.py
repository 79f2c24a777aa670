"""The Robustness curves and Batch evaluation pages driven headless (AppTest, light settings):
the page's numbers are those of the core functions, reports are offered, uploads are read safely."""
from __future__ import annotations

import base64
import io
import re
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from core.attacks import ThreatModel
from core.evaluation.curves import CurveAttack, robustness_curves
from core.evaluation.batch.evaluate import EvalSettings, evaluate_images
from core.data.image_sets import read_bundled
from core.data.images import load_sample, prepare_for_model, to_tensor
from core.models import get_spec, load_model
from core.data.safe_text import md

pytestmark = pytest.mark.slow
PAGES = Path(__file__).resolve().parents[2] / "views"
TIMEOUT = 90


def _texts(at) -> str:
    """The page's text as a reader sees it (Markdown backslash escapes of user names removed)."""
    parts = []
    for kind in ("markdown", "success", "error", "warning", "info", "caption", "code"):
        parts += [e.value for e in getattr(at, kind)]
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", "\n".join(str(p) for p in parts))


def _stop_buttons(at) -> list:
    """The page's Stop buttons (drawn only while it computes)."""
    return [b for b in at.button if "Stop" in str(b.label)]


def _array(v) -> list[float]:
    if isinstance(v, dict) and "bdata" in v:
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"])).tolist()
    return list(v)


def test_curves_page_matches_core_and_offers_a_report():
    at = AppTest.from_file(str(PAGES / "curves.py"), default_timeout=TIMEOUT)
    for k, v in {"attacks": "FGSM,PGD", "eps": "0,1,4", "steps": "2", "seed": "3", "rs": "1", "bisect": "1",
                 "certify": "1", "sigmas": "0.25,0.5", "n": "16"}.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, at.exception
    assert not _stop_buttons(at)  # an idle page offers no Stop
    at.button(key="cur_run").click().run()
    assert not at.exception, at.exception
    assert not _stop_buttons(at)  # the run's Stop is gone once it finished
    figs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    curve = next(f for f in figs if "against ε" in json.dumps(f["layout"].get("title", ""), ensure_ascii=False))
    traces = {t["name"]: _array(t["y"]) for t in curve["data"]}
    assert set(traces) == {"FGSM · No defense", "PGD · No defense"}

    model = load_model("EfficientNet-Lite0")
    x = to_tensor(prepare_for_model(load_sample("coffee"), get_spec("EfficientNet-Lite0")))  # the default photo
    label = int(model(x).argmax(1))
    atks = [CurveAttack("FGSM", ThreatModel(eps=4 / 255, step=1 / 255, steps=2, random_start=False)),
            CurveAttack("PGD", ThreatModel(eps=4 / 255, step=1 / 255, steps=2, random_start=True))]
    res = robustness_curves(model, x, label, [0, 1 / 255, 4 / 255], atks, seed=3)
    for atk in ("FGSM", "PGD"):
        assert traces[f"{atk} · No defense"] == pytest.approx(res.get(atk).verdicts.confidence, abs=1e-5)
    text = _texts(at)
    assert "one batched run" in text
    assert len(at.dataframe) >= 3  # smallest-ε table, all numbers and the certified radius
    assert "Smallest ε that flips the label" in [h.value for h in at.subheader]
    flips = next(f.value for f in at.dataframe if "smallest flipping ε" in f.value.columns)
    assert sorted(flips["attack"]) == ["FGSM", "PGD"]
    cert = next(f.value for f in at.dataframe if "predicted_name" in f.value.columns)
    assert len(cert) == 2  # one row per σ
    assert len(at.get("download_button")) == 2


def test_curves_page_quotes_the_worst_case_with_who_found_it():
    from core.evaluation.curves import WORST_CASE, worst_case_rows

    at = AppTest.from_file(str(PAGES / "curves.py"), default_timeout=TIMEOUT)
    for k, v in {"attacks": WORST_CASE, "eps": "0,0.25,2", "steps": "2", "seed": "1", "wc_targets": "1",
                 "wc_queries": "20"}.items():
        at.query_params[k] = v
    at.run()
    at.button(key="cur_run").click().run()
    assert not at.exception, at.exception
    model = load_model("EfficientNet-Lite0")
    x = to_tensor(prepare_for_model(load_sample("coffee"), get_spec("EfficientNet-Lite0")))
    label = int(model(x).argmax(1))
    atk = CurveAttack(WORST_CASE, ThreatModel(eps=4 / 255, step=1 / 255, steps=2, random_start=True),
                      (("n_targets", 1), ("square_queries", 20)))
    expected = worst_case_rows(robustness_curves(model, x, label, [0, 0.25 / 255, 2 / 255], [atk], seed=1), 255.0)
    assert f"{WORST_CASE} (the number to quote)" in [h.value for h in at.subheader]
    table = next(f.value for f in at.dataframe if "found by" in f.value.columns)
    assert list(table["found by"]) == [r["found by"] for r in expected]
    assert expected[0]["found by"] in ("APGD-CE", "APGD-T", "Square", "")
    # the browser's grid draws a missing cell as "None": every table shows "—" instead
    assert not any(f.value.isna().any().any() for f in at.dataframe)


def _display(frame):
    """The cells of a page's dataframe as the reader sees them (the table's display values)."""
    import pyarrow as pa

    return pa.ipc.open_stream(frame.proto.arrow_data.styler.display_values).read_all().to_pandas()


def _png(seed: int) -> bytes:
    arr = np.random.default_rng(seed).integers(0, 256, (40, 50, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG")
    return buf.getvalue()


def test_batch_page_bundled_photos_match_core_and_the_cli_command():
    at = AppTest.from_file(str(PAGES / "batch.py"), default_timeout=TIMEOUT)
    for k, v in {"samples": "chelsea,coffee", "attack": "FGSM", "eps": "1,4"}.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, at.exception
    assert "clean prediction" in _texts(at)  # the label note
    assert not _stop_buttons(at)  # an idle page offers no Stop
    at.button(key="bat_run").click().run()
    assert not at.exception, at.exception
    assert not _stop_buttons(at)  # the run's Stop is gone once it finished
    df = at.dataframe[0].value
    model = load_model("EfficientNet-Lite0")
    spec = get_spec("EfficientNet-Lite0")
    items = read_bundled(lambda im: to_tensor(prepare_for_model(im, spec)), ["chelsea", "coffee"]).items
    s = EvalSettings(model="EfficientNet-Lite0", attack="FGSM", eps=(1 / 255, 4 / 255), steps=10, step_ratio=0.25,
                     random_start=True)
    want = evaluate_images(model, items, s).summary()
    assert df["accuracy"].tolist() == pytest.approx([r["accuracy"] for r in want])
    assert df["n"].tolist() == [2, 2, 2]
    assert "one attack's (FGSM)" in "\n".join(e.value for e in at.info)  # not the worst case
    assert at.dataframe[1].value["n"].tolist() == [2, 2]  # the breakdown, for a single attack too
    shown = _display(at.dataframe[0])  # missing values (no success rate when clean) read "—", not "None"
    assert shown["success rate"].tolist()[0] == "—" and "None" not in shown.to_string()
    # the browser's grid draws a missing cell as "None" whatever the display value: no cell may be missing
    assert not at.dataframe[0].value.isna().any().any()
    code = "\n".join(c.value for c in at.code)
    assert "python -m core evaluate bundled --samples chelsea,coffee" in code and "--eps 1,4" in code
    assert len(at.get("download_button")) == 2


def test_batch_page_zip_upload_is_read_safely():
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as zf:
        zf.writestr("photos/a.png", _png(1))
        zf.writestr("../escape.png", _png(2))
        zf.writestr("readme.txt", "hello")
    at = AppTest.from_file(str(PAGES / "batch.py"), default_timeout=TIMEOUT)
    at.query_params["src"] = "zip"
    at.query_params["eps"] = "2"
    at.run()
    assert not at.exception, at.exception
    at.file_uploader(key="bat_zip").set_value(("set.zip", data.getvalue(), "application/zip")).run()
    assert not at.exception, at.exception
    text = _texts(at)
    assert "escape.png" in text and "leaves the archive" in text
    assert "readme.txt" in text and "not an image" in text
    assert "1 image(s): photos/a.png" in text
    at.button(key="bat_run").click().run()
    assert not at.exception, at.exception
    assert at.dataframe[0].value["n"].tolist() == [1, 1]
    # a file that is not a zip: a message, the page survives
    at.file_uploader(key="bat_zip").set_value(("bad.zip", b"not a zip at all", "application/zip")).run()
    assert not at.exception, at.exception
    assert "not a ZIP archive" in "\n".join(e.value for e in at.error)


def test_batch_page_worst_case_shows_the_breakdown_and_robust_accuracy_below_clean():
    at = AppTest.from_file(str(PAGES / "batch.py"), default_timeout=TIMEOUT)
    for k, v in {"samples": "chelsea,coffee", "attack": "Worst case", "norm": "linf", "eps": "1,8", "steps": "1",
                 "targets": "1", "squareq": "5"}.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, at.exception
    assert at.selectbox(key="bat_attack").value == "Worst case"
    assert at.toggle(key="bat_adaptive").disabled
    assert not [w for w in at.select_slider if w.key == "bat_ratio"] and not [w for w in at.checkbox if w.key == "bat_rs"]
    at.button(key="bat_run").click().run()
    assert not at.exception, at.exception
    summary = at.dataframe[0].value
    clean = summary[summary["images"] == "clean"]["accuracy"].tolist()
    assert clean == [1.0]  # labels are the clean predictions of the bare model
    breakdown = at.dataframe[1].value
    assert breakdown["n"].tolist() == [2, 2]
    assert {"fooled first by APGD-CE", "fooled first by APGD-T", "fooled first by Square"} <= set(breakdown.columns)
    assert all(0 <= r <= clean[0] for r in breakdown["robust accuracy"])
    # robust accuracy never rises with ε, and each image is counted once per ε
    ra = breakdown["robust accuracy"].tolist()
    assert ra[1] <= ra[0]
    counted = breakdown[[c for c in breakdown.columns if c.startswith("fooled first") or c in ("clean wrong", "not fooled")]]
    assert counted.sum(axis=1).tolist() == [2, 2]
    assert [r * 2 for r in ra] == breakdown["not fooled"].tolist()
    info = "\n".join(e.value for e in at.info)
    assert "worst case per image" in info and "This is the number to quote" in info
    code = "\n".join(c.value for c in at.code)
    assert "--attack worst-case" in code
    # the shared link carries the ensemble's options and none that it refuses
    assert at.query_params["targets"] == "1" and at.query_params["squareq"] == "5"
    assert "ratio" not in at.query_params and "rs" not in at.query_params and "adaptive" not in at.query_params


def test_curves_page_keeps_an_uploaded_name_raw_for_the_report_and_escapes_it_on_screen():
    name = "my_photo*(1).png"
    at = AppTest.from_file(str(PAGES / "curves.py"), default_timeout=TIMEOUT)
    for k, v in {"attacks": "FGSM", "eps": "0,1", "steps": "1"}.items():
        at.query_params[k] = v
    at.run()
    at.radio(key="cur_src").set_value("Upload").run()
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(buf, "PNG")
    at.file_uploader(key="cur_upload").set_value((name, buf.getvalue(), "image/png")).run()
    assert not at.exception, at.exception
    # the preview's image caption (Markdown) shows the name escaped
    shown = []

    def walk(node):
        if getattr(node, "proto", None) is not None and getattr(node, "type", "") != "plotly_chart":
            shown.append(str(node.proto))
        for c in (getattr(node, "children", None) or {}).values():
            walk(c)
    walk(at._tree)
    text = "\n".join(shown)
    assert md(name).replace("\\", "\\\\") in text  # escaped for Markdown (str(proto) doubles the backslash)
    assert "my_photo*(1)" not in text
    at.button(key="cur_run").click().run()
    assert not at.exception, at.exception
    settings = at.session_state["_run_result_cur"][2][0]  # what the report's title, settings and JSON use
    assert settings["image"] == name
