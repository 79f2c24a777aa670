"""Reports (core/viz/report.py): the HTML holds every figure, image, table and number and embeds the
same JSON document as ``to_json``; hostile text is escaped; the Attack Lab builder."""
from __future__ import annotations

import base64
import json
import re
from html.parser import HTMLParser

import plotly.graph_objects as go
import pytest
import torch
from torch import nn

from core.data.images import decode_png_tensor, quantize_8bit
from core.viz.report import LIBRARIES, Report, attack_report, jsonable


class Collect(HTMLParser):
    """Plotly divs, <img> sources, <script> bodies, table cells and the title, from an HTML file."""

    def __init__(self) -> None:
        super().__init__()
        self.plot_divs, self.imgs, self.cells, self.scripts = [], [], [], []
        self._script: dict | None = None
        self._cell = False
        self._buf = ""
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "div" and "plotly-graph-div" in (a.get("class") or ""):
            self.plot_divs.append(a.get("id"))
        elif tag == "img":
            self.imgs.append(a)
        elif tag == "script":
            self._script = {"attrs": a, "text": ""}
        elif tag in ("td", "th"):
            self._cell, self._buf = True, ""
        elif tag == "title":
            self._in_title = True

    def handle_endtag(self, tag):
        if tag == "script" and self._script is not None:
            self.scripts.append(self._script)
            self._script = None
        elif tag in ("td", "th"):
            self.cells.append(self._buf)
            self._cell = False
        elif tag == "title":
            self._in_title = False

    def handle_data(self, data):
        if self._script is not None:
            self._script["text"] += data
        if self._cell:
            self._buf += data
        if self._in_title:
            self.title += data


def _report() -> tuple[Report, torch.Tensor]:
    img = torch.rand(1, 3, 12, 10, generator=torch.Generator().manual_seed(0))
    rep = Report("Test <report>", page="views/x.py", settings={"eps": 4 / 255, "attack": "PGD", "nested": {"a": [1, 2]}},
                 seeds={"attack": 7}, notes=["a note with <b>markup</b>"])
    rep.add_section("Curves", "text & more")
    rep.add_figure(go.Figure(go.Scatter(x=[0, 1, 2], y=[0.9, 0.5, 0.125], name="PGD")), "first <figure>")
    rep.add_figure(go.Figure(go.Bar(x=["a", "b"], y=[3, 4])), "second")
    rep.add_numbers({"accuracy": 0.625, "flag": True, "nothing": None, "inf": float("inf")}, "Numbers")
    rep.add_section("Tables")
    rep.add_table([{"eps": 0.0, "acc": 1.0}, {"eps": 0.5, "acc": 0.25, "extra": "<script>alert(1)</script>"}], "rows")
    rep.add_image(img, "the <image>")
    return rep, img


def test_html_holds_figures_images_tables_numbers_and_the_json():
    rep, img = _report()
    html = rep.to_html()
    p = Collect()
    p.feed(html)
    assert p.title == "Test <report>"
    # two figures, plotly.js inlined exactly once, no network reference
    assert p.plot_divs == ["figure-1", "figure-2"]
    plotly_js = [s for s in p.scripts if "Plotly" in s["text"] and len(s["text"]) > 1_000_000]
    assert len(plotly_js) == 1
    rest = html.replace(plotly_js[0]["text"], "")  # plotly.js itself names URLs it never loads here
    assert "cdn.plot.ly" not in rest and 'src="http' not in rest and "src='http" not in rest
    # the figure data is in the page
    assert "[0.9,0.5,0.125]" in html.replace(" ", "") or "0.125" in html
    # the image is the 8-bit PNG of the tensor
    (im,) = p.imgs
    assert im["src"].startswith("data:image/png;base64,")
    got = decode_png_tensor(base64.b64decode(im["src"].split(",", 1)[1]))
    assert torch.equal(got, quantize_8bit(img))
    assert (im["width"], im["height"]) == ("10", "12")
    # tables and numbers, escaped
    assert "0.625" in p.cells and "✓" in p.cells and "inf" in p.cells
    assert "<script>alert(1)</script>" in p.cells  # as text, not as an element
    assert "<script>alert(1)</script>" not in html
    assert "<b>markup</b>" not in html
    # the embedded JSON equals to_json()
    (data,) = [s for s in p.scripts if s["attrs"].get("id") == "report-data"]
    assert data["attrs"]["type"] == "application/json"
    assert json.loads(data["text"]) == json.loads(rep.to_json())


def test_json_has_the_same_numbers_settings_seeds_and_environment():
    rep, img = _report()
    doc = json.loads(rep.to_json())
    assert doc["schema"].startswith("robustness-explorer-report/")
    assert doc["settings"]["eps"] == pytest.approx(4 / 255) and doc["seeds"] == {"attack": 7}
    env = doc["environment"]
    for lib in ("python", *LIBRARIES, "device", "created_utc"):
        assert env[lib]
    assert env["torch"] == torch.__version__.split("+")[0] or env["torch"].startswith(torch.__version__.split("+")[0])
    s1, s2 = doc["sections"]
    kinds = [it["type"] for it in s1["items"]]
    assert kinds == ["figure", "figure", "numbers"]
    fig = s1["items"][0]["figure"]
    assert "template" not in fig["layout"]
    assert list(go.Figure(fig).data[0].y) == [0.9, 0.5, 0.125]
    assert s1["items"][2]["values"] == {"accuracy": 0.625, "flag": True, "nothing": None, "inf": "inf"}
    table = s2["items"][0]
    assert table["columns"] == ["eps", "acc", "extra"] and table["rows"][1]["acc"] == 0.25
    assert s2["items"][1]["width"] == 10 and len(s2["items"][1]["png_sha256"]) == 64
    # strict JSON (no NaN/Infinity tokens)
    json.loads(rep.to_json(), parse_constant=lambda c: pytest.fail(f"non-standard constant {c}"))


def test_a_report_without_figures_has_no_plotly_and_jsonable_handles_odd_values():
    rep = Report("plain")
    rep.add_numbers({"t": torch.tensor([1.5, 2.0]), "s": torch.tensor(3), "nan": float("nan")})
    html = rep.to_html()
    assert "Plotly" not in html
    assert json.loads(rep.to_json())["sections"][0]["items"][0]["values"] == {"t": [1.5, 2.0], "s": 3, "nan": "nan"}
    assert jsonable((1, {2: float("-inf")})) == [1, {"2": "-inf"}]


def test_attack_lab_report_builder():
    from core.attacks import FGSM, ThreatModel

    g = torch.Generator().manual_seed(1)
    model = nn.Sequential(nn.Flatten(), nn.Linear(48, 5)).eval().requires_grad_(False)
    x = torch.rand(1, 3, 4, 4, generator=g)
    with torch.no_grad():
        y = model(x).argmax(1)
    res = FGSM(ThreatModel(eps=0.1)).run(model, x, y, seed=3)
    names = [f"class{i}" for i in range(5)]
    rep = attack_report(res, names, model_name="tiny", image_label="noise", seed=3)
    doc = json.loads(rep.to_json())
    assert doc["settings"]["attack"] == "FGSM" and doc["settings"]["eps"] == pytest.approx(0.1)
    assert doc["seeds"]["attack"] == 3
    nums = next(it["values"] for s in doc["sections"] for it in s["items"] if it["type"] == "numbers")
    assert nums["success"] == bool(res.success[0])
    assert nums["linf"] == pytest.approx(float(res.linf[0]))
    html = rep.to_html()
    p = Collect()
    p.feed(html)
    assert len(p.plot_divs) == len(rep.figures) >= 4  # |δ| heatmap, two top-k bars, replay
    assert len(p.imgs) == 3
    assert re.search(r"Attack Lab: FGSM on tiny", html)
