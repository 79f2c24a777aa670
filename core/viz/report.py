"""Reports: one self-contained HTML file and one JSON file with the same numbers, from any page.

A :class:`Report` collects, in order, sections holding text, plotly figures, images, tables and
named numbers, plus the settings and seeds that produced them. ``to_html()`` writes a single file
that opens in any browser without the app or a network: plotly.js is inlined once in the head,
images are base64 PNGs (8-bit, as :func:`core.data.images.encode_png` writes them), and the JSON
document itself is embedded in a ``<script type="application/json" id="report-data">`` element,
so a program can read the numbers back from the HTML too. ``to_json()`` gives the same document
on its own (figures as plotly JSON without the theme template, images as their size and SHA-256).

Every report records the library versions (Python, torch, torchvision, numpy, plotly, Pillow,
scipy, captum, streamlit — read from the installed packages' metadata, nothing is imported), the
device (:func:`core.runtime.device.describe_device`), the platform and the time it was made (UTC).

Hooks for pages (see also ``ui/report.py``)::

    from core.report import Report
    rep = Report("Defenses", page="views/defenses.py", settings={...}, seeds={"attack": seed})
    rep.add_section("Result")
    rep.add_numbers({"accuracy": 0.8}); rep.add_table(rows); rep.add_figure(fig, "caption")
    rep.add_image(x_adv, "adversarial image")
    html, js = rep.to_html(), rep.to_json()
"""
from __future__ import annotations

import base64
import dataclasses
import datetime as _dt
import hashlib
import io
import json
import math
import platform
from importlib import metadata
from typing import Any
from collections.abc import Sequence

import numpy as np
import plotly.io as pio
import torch
from PIL import Image
from plotly.offline import get_plotlyjs

from core.data import safe_text
from core.explain.analysis import topk
from core.evaluation.curves import worst_case_rows
from core.runtime.device import describe_device
from core.data.images import encode_png
from core.evaluation.lab import LabRun, summarize, summary_numbers
from core.judging.stats import accuracy_interval
from core.viz.attack import delta_heatmap, trajectory_figure
from core.viz.common import amplified_perturbation, topk_bar
from core.viz.curves import certified_radius_figure

LIBRARIES = ("torch", "torchvision", "numpy", "plotly", "pillow", "scipy", "captum", "streamlit")
SCHEMA = "robustness-explorer-report/1"


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries that shape the numbers (from package metadata)."""
    out = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def environment() -> dict[str, str]:
    """Library versions, device, platform and the time (UTC)."""
    return {**library_versions(), "device": describe_device(), "platform": platform.platform(),
            "created_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}


def jsonable(v: Any) -> Any:
    """``v`` as plain JSON values: tensors and arrays to lists, dataclasses to dicts, tuples to
    lists, non-finite floats to the strings "inf", "-inf", "nan"."""
    if isinstance(v, torch.Tensor):
        v = v.detach().cpu()
        return jsonable(v.item() if v.dim() == 0 else v.tolist())
    if isinstance(v, np.ndarray):
        return jsonable(v.tolist())
    if isinstance(v, np.generic):
        return jsonable(v.item())
    if isinstance(v, bool) or v is None or isinstance(v, (int, str)):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else ("nan" if math.isnan(v) else ("inf" if v > 0 else "-inf"))
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return jsonable(dataclasses.asdict(v))
    if isinstance(v, dict):
        return {str(k): jsonable(u) for k, u in v.items()}
    if isinstance(v, (list, tuple, set, frozenset)):
        return [jsonable(u) for u in v]
    return str(v)


def _png(image: Any) -> tuple[bytes, int, int]:
    """PNG bytes, width and height of a tensor in [0, 1] ((3, H, W) or (1, 3, H, W)), an
    (H, W, 3) uint8 array, or a PIL image."""
    if isinstance(image, torch.Tensor):
        png = encode_png(image.detach().float().cpu())
        h, w = image.shape[-2:]
        return png, int(w), int(h)
    if isinstance(image, np.ndarray):
        image = Image.fromarray(np.ascontiguousarray(image.astype(np.uint8)))
    if isinstance(image, Image.Image):
        buf = io.BytesIO()
        image.convert("RGB").save(buf, format="PNG")
        return buf.getvalue(), image.width, image.height
    raise TypeError(f"cannot make a PNG of {type(image).__name__}")


def _fmt(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "✓" if v else "✗"
    if isinstance(v, float):
        if not math.isfinite(v):
            return str(v)
        return f"{v:.4g}"
    if isinstance(v, (list, tuple)):
        return ", ".join(_fmt(u) for u in v)
    return str(v)


class Report:
    """An ordered collection of sections (text, figures, images, tables, numbers) with the
    settings, seeds and environment that produced them. See the module docstring."""

    def __init__(self, title: str, *, page: str = "", settings: dict | None = None, seeds: dict | None = None,
                 notes: Sequence[str] = ()) -> None:
        self.title = str(title)
        self.page = str(page)
        self.settings: dict = dict(settings or {})
        self.seeds: dict = dict(seeds or {})
        self.notes: list[str] = [str(n) for n in notes]
        self.env = environment()
        self.sections: list[dict] = []

    # ------------------------------------------------------------------ building
    def _current(self) -> dict:
        if not self.sections:
            self.add_section("Results")
        return self.sections[-1]

    def add_section(self, title: str, text: str = "") -> Report:
        """Start a new section; what is added next goes into it."""
        self.sections.append({"title": str(title), "text": str(text), "items": []})
        return self

    def add_text(self, text: str) -> Report:
        self._current()["items"].append({"type": "text", "text": str(text)})
        return self

    def add_figure(self, fig: Any, caption: str = "") -> Report:
        """A plotly figure (kept as the figure; serialised when the report is written)."""
        self._current()["items"].append({"type": "figure", "caption": str(caption), "figure": fig})
        return self

    def add_image(self, image: Any, caption: str = "") -> Report:
        """An image: a tensor in [0, 1], an (H, W, 3) uint8 array or a PIL image; stored as PNG."""
        png, w, h = _png(image)
        self._current()["items"].append({"type": "image", "caption": str(caption), "png": png, "width": w,
                                         "height": h})
        return self

    def add_table(self, rows: Sequence[dict], caption: str = "", columns: Sequence[str] | None = None) -> Report:
        """A table from a list of dicts (columns: the given ones, else the union in first-seen order)."""
        rows = [jsonable(dict(r)) for r in rows]
        if columns is None:
            columns = []
            for r in rows:
                columns += [k for k in r if k not in columns]
        self._current()["items"].append({"type": "table", "caption": str(caption), "columns": list(columns),
                                         "rows": rows})
        return self

    def add_numbers(self, numbers: dict, caption: str = "") -> Report:
        """Named numbers (or short values)."""
        self._current()["items"].append({"type": "numbers", "caption": str(caption), "values": jsonable(numbers)})
        return self

    # ------------------------------------------------------------------ output
    @property
    def figures(self) -> list[Any]:
        return [it["figure"] for s in self.sections for it in s["items"] if it["type"] == "figure"]

    def to_dict(self) -> dict:
        """The JSON document (figures as plotly JSON without the theme template)."""
        sections = []
        for s in self.sections:
            items = []
            for it in s["items"]:
                if it["type"] == "figure":
                    fj = json.loads(it["figure"].to_json())
                    fj.get("layout", {}).pop("template", None)
                    items.append({"type": "figure", "caption": it["caption"], "figure": fj})
                elif it["type"] == "image":
                    items.append({"type": "image", "caption": it["caption"], "width": it["width"],
                                  "height": it["height"], "png_sha256": hashlib.sha256(it["png"]).hexdigest()})
                else:
                    items.append(jsonable(it))
            sections.append({"title": s["title"], "text": s["text"], "items": items})
        return {"schema": SCHEMA, "title": self.title, "page": self.page, "settings": jsonable(self.settings),
                "seeds": jsonable(self.seeds), "notes": list(self.notes), "environment": dict(self.env),
                "sections": sections}

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False, allow_nan=False)

    def to_html(self) -> str:
        """One self-contained HTML file (module docstring)."""
        esc = safe_text.html
        body: list[str] = [f"<h1>{esc(self.title)}</h1>"]
        meta = f"Made {esc(self.env['created_utc'])} on {esc(self.env['device'])}"
        if self.page:
            meta += f" · page <code>{esc(self.page)}</code>"
        body.append(f"<p class='meta'>{meta}</p>")
        for n in self.notes:
            body.append(f"<p class='note'>{esc(n)}</p>")
        body.append(self._kv_table("Settings", self.settings))
        if self.seeds:
            body.append(self._kv_table("Seeds", self.seeds))
        n_fig = 0
        for s in self.sections:
            body.append(f"<section><h2>{esc(s['title'])}</h2>")
            if s["text"]:
                body.append(f"<p>{esc(s['text'])}</p>")
            for it in s["items"]:
                kind = it["type"]
                if kind == "text":
                    body.append(f"<p>{esc(it['text'])}</p>")
                elif kind == "figure":
                    n_fig += 1
                    div = pio.to_html(it["figure"], full_html=False, include_plotlyjs=False, div_id=f"figure-{n_fig}",
                                      config={"displaylogo": False, "responsive": True})
                    body.append(f"<figure class='plot'>{div}<figcaption>{esc(it['caption'])}</figcaption></figure>")
                elif kind == "image":
                    b64 = base64.b64encode(it["png"]).decode("ascii")
                    body.append(f"<figure class='image'><img alt='{esc(it['caption'])}' width='{it['width']}' "
                                f"height='{it['height']}' src='data:image/png;base64,{b64}'>"
                                f"<figcaption>{esc(it['caption'])}</figcaption></figure>")
                elif kind == "table":
                    body.append(self._table(it["columns"], it["rows"], it["caption"]))
                elif kind == "numbers":
                    body.append(self._kv_table(it["caption"], it["values"]))
            body.append("</section>")
        body.append(self._kv_table("Environment", self.env))
        data = self.to_json(indent=None).replace("</", "<\\/")
        head_js = f"<script type='text/javascript'>{get_plotlyjs()}</script>" if n_fig else ""
        return ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
                f"<title>{esc(self.title)}</title><style>{_CSS}</style>{head_js}</head><body>"
                + "\n".join(body)
                + f"\n<script type='application/json' id='report-data'>{data}</script></body></html>\n")

    @staticmethod
    def _kv_table(caption: str, values: dict) -> str:
        esc = safe_text.html
        rows = "".join(f"<tr><th>{esc(str(k))}</th><td>{esc(_fmt(v if not isinstance(v, dict) else json.dumps(jsonable(v), ensure_ascii=False)))}</td></tr>"
                       for k, v in jsonable(values).items())
        cap = f"<caption>{esc(caption)}</caption>" if caption else ""
        return f"<table class='kv'>{cap}{rows}</table>"

    @staticmethod
    def _table(columns: Sequence[str], rows: Sequence[dict], caption: str) -> str:
        esc = safe_text.html
        head = "".join(f"<th>{esc(str(c))}</th>" for c in columns)
        body = "".join("<tr>" + "".join(f"<td>{esc(_fmt(r.get(c)))}</td>" for c in columns) + "</tr>" for r in rows)
        cap = f"<caption>{esc(caption)}</caption>" if caption else ""
        return f"<table class='data'>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
color:#222;line-height:1.45}
h1{margin-bottom:.2em} .meta{color:#666;margin-top:0} .note{background:#fff6d6;padding:.5em .8em;border-radius:4px}
table{border-collapse:collapse;margin:1em 0;font-size:.92em} caption{text-align:left;font-weight:600;padding:.3em 0}
th,td{border:1px solid #ddd;padding:.25em .6em;text-align:left;vertical-align:top} thead th{background:#f3f3f3}
table.kv th{background:#fafafa;font-weight:500} figure{margin:1em 0} figure.image{display:inline-block;margin-right:1em}
figure.image img{image-rendering:pixelated;max-width:320px;height:auto;border:1px solid #ccc}
figcaption{color:#555;font-size:.9em} section{margin-top:2em}
"""


# --------------------------------------------------------------------------- page builders
def attack_report(result: Any, class_names: Sequence[str], *, model_name: str, image_label: str, seed: int,
                  bare: tuple[torch.Tensor, torch.Tensor] | None = None, defended: tuple[Any, Any] | None = None,
                  defense_name: str | None = None, defense_params: dict | None = None, adaptive: bool = False,
                  quantised_logits: torch.Tensor | None = None, transfer: Sequence[dict] | None = None) -> Report:
    """The Attack Lab's report of one :class:`core.attacks.AttackResult` (image 0 of the batch):
    settings, seed, images, perturbation numbers, predictions, the replay figure and the
    per-step table; the defense's verdicts and the transfer results when given. The numbers and
    verdicts come from :func:`core.evaluation.lab.summarize`, as on the page."""
    names = list(class_names)
    run = LabRun(result, bare if bare is not None else (result.clean_logits[:1], result.adv_logits[:1]),
                 defended, defense_name if defended is not None else None, defense_params, adaptive)
    s = summarize(run, names)
    lab = s.label
    cp, ap = s.clean, s.adv
    t = result.threat
    settings = {"model": model_name, "image": image_label, "attack": result.attack, "norm": t.norm, "eps": t.eps,
                "eps_255": t.eps * 255 if t.norm == "linf" else None, "step": t.step, "steps": t.steps,
                "random_start": t.random_start, "restarts": t.restarts, "goal": result.goal.mode,
                "target_class": s.target, "label": lab, "label_name": s.label_name, "attack_params": result.params,
                "defense": defense_name or "None", "defense_params": defense_params or {}, "adaptive": adaptive}
    notes = list(s.notes())
    if defended is not None and not adaptive:
        notes.append("Non-adaptive attacker: the attack did not know the defense. A defense that holds here is "
                     "not shown to be robust.")
    rep = Report(f"Attack Lab: {result.attack} on {model_name}", page="views/attack_lab.py", settings=settings,
                 seeds={"attack": seed, "defense": seed}, notes=notes)
    x0, xa = result.x_clean[:1], result.x_adv[:1]
    rep.add_section("Images", f"{image_label} as the model sees it, the adversarial image and the change made visible.")
    rep.add_image(x0, f"Original: {cp.names[0]} ({cp.probs[0]:.1%})")
    rep.add_image(xa, f"Adversarial: {ap.names[0]} ({ap.probs[0]:.1%})")
    rep.add_image(amplified_perturbation(xa - x0), "Perturbation, amplified (grey = 0)")
    rep.add_figure(delta_heatmap(xa - x0), "|δ| per pixel (max over colour channels), in units of 1/255")
    rep.add_section("Result", f"{result.attack} ({s.goal_text}): {s.verdict}.")
    numbers = summary_numbers(s, result.elapsed_s)
    if quantised_logits is not None:
        q = topk(quantised_logits[:1], names)
        numbers.update({"png_8bit_top1": q.names[0], "png_8bit_prob": q.probs[0]})
    rep.add_numbers(numbers, "Attack and perturbation")
    rep.add_figure(topk_bar(cp.names, cp.probs, "Clean: top 5", highlight=names[lab]), "Clean prediction")
    rep.add_figure(topk_bar(ap.names, ap.probs, "Adversarial: top 5", highlight=names[lab]), "Adversarial prediction")
    rep.add_table([{"rank": i + 1, "clean_class": cp.names[i], "clean_prob": cp.probs[i], "adv_class": ap.names[i],
                    "adv_prob": ap.probs[i]} for i in range(min(len(cp.names), len(ap.names)))], "Top 5")
    if defended is not None:
        dc, da = s.defended_clean, s.defended_adv
        rep.add_section(f"Defense: {defense_name}", "adaptive attacker" if adaptive else "non-adaptive attacker")
        rep.add_numbers({"defended_clean_top1": dc.names[0], "defended_clean_prob": dc.probs[0],
                         "defended_adv_top1": da.names[0], "defended_adv_prob": da.probs[0],
                         "defense_time_clean_s": defended[0].elapsed_s, "defense_time_adv_s": defended[1].elapsed_s},
                        "Defended predictions")
        rep.add_image(defended[1].x_classified[:1].float().cpu(), "What the defense classified (adversarial)")
    if result.trajectory:
        rep.add_section("Replay")
        rep.add_figure(trajectory_figure(result.trajectory, names, lab), "Objective and class probabilities per step")
        rep.add_table([{"step": r.step, "objective": float(r.loss[0]), "top1": names[int(r.topk_classes[0, 0])],
                        "top1_prob": float(r.topk_probs[0, 0])} for r in result.trajectory], "Every step")
    if transfer:
        rep.add_section("Transfer to the other models")
        rep.add_table([{"model": r["model"], "clean": r["clean"].names[0], "adversarial": r["adversarial"].names[0],
                        "fooled": r["fooled"]} for r in transfer])
    return rep


__all__ = ["LIBRARIES", "Report", "SCHEMA", "attack_report", "environment", "jsonable", "library_versions"]


def curves_report(curves: Any, flips: dict, cert: Sequence[Any], *, image: torch.Tensor, image_label: str,
                  settings: dict, seed: int, figure: Any, class_names: Sequence[str]) -> Report:
    """The Robustness curves page's report: settings and seeds, the photo, the confidence figure
    ``figure`` and every attack × defense × ε row of ``curves`` (:class:`core.evaluation.curves.CurveResult`),
    the smallest flipping ε of ``flips`` ((attack, defense) → bisection) and the certified radius
    points ``cert`` when there are any."""
    rep = Report(f"Robustness curves: {image_label} on {settings['model']}", page="views/curves.py",
                 settings=settings, seeds={"attack": seed, "defenses": seed + 1, "certify": seed},
                 notes=(["Non-adaptive attacker: the attacks saw only the undefended model."]
                        if settings["defenses"] and not curves.adaptive else []))
    rep.add_section("Curves")
    rep.add_image(image, f"{image_label} as the model sees it")
    rep.add_figure(figure, "Confidence in the label against ε")
    rep.add_table(curves.rows(), "Every attack × defense × ε")
    wc = worst_case_rows(curves, 255.0 if curves.norm == "linf" else 1.0)
    if wc:
        rep.add_section("Worst case (the number to quote)",
                        "One photo (n = 1): a verdict, not an accuracy; 1 of 1 correct has the exact 95 % interval "
                        f"{accuracy_interval(1, 1).short(0)} %. Batch evaluation gives robust accuracies with their "
                        "intervals.")
        rep.add_table(wc, "APGD-CE, targeted APGD-DLR and Square at each ε: where the first of them fooled each "
                          "classifier, and which" + (" (ε in k/255)" if curves.norm == "linf" else ""))
    if flips:
        rep.add_section("Smallest flipping ε")
        rep.add_table([{"attack": a, "defense": d, "eps": b.eps, "lo": b.lo, "hi": b.hi,
                        "evaluations": [[e, ok] for e, ok in b.evaluations]} for (a, d), b in flips.items()])
    if cert:
        rep.add_section("Certified radius against σ")
        rep.add_figure(certified_radius_figure(cert, class_names), "CERTIFY at each σ")
        rep.add_table([p.as_row() for p in cert])
    return rep
