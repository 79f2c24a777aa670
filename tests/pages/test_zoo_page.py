"""AppTest of the model-zoo page: defaults render, the attack-and-explain run shows one verdict
per model, the saliency and CIFS views, live curves, and FGSM on a chosen test image (no photo mode)."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pyarrow as pa
import pytest
from streamlit.testing.v1 import AppTest

from core.data.safe_text import md
from core.models.zoo.catalogue import available, get_entry, load_card

PAGE = str(Path(__file__).resolve().parents[2] / "views" / "zoo.py")
if len(available()) < 2 and os.environ.get("CI"):  # shipped in assets/zoo: missing weights are a failure on CI
    raise RuntimeError("zoo weights missing on CI (assets/zoo, made by tools/train_zoo.py)")
pytestmark = pytest.mark.skipif(len(available()) < 2, reason="zoo weights missing (tools/train_zoo.py)")


VERDICTS = ("✅ held", "⚠️ held narrowly", "❌ flipped", "⚪ already wrong", "⚪ near chance")


def _verdicts(text: str) -> int:
    return sum(text.count(v) for v in VERDICTS)


def _text(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown) + "\n".join(c.value for c in at.caption)


def test_page_defaults_and_run():
    at = AppTest.from_file(PAGE, default_timeout=90)
    at.run()
    assert not at.exception
    assert len(at.multiselect[0].value) >= 2
    at.button(key="zoo_run").click().run()
    assert not at.exception, at.exception
    text = _text(at)
    chosen = at.multiselect[0].value
    verdicts = _verdicts(text)
    assert verdicts == len(chosen)
    charts = [c.proto.spec for c in at.get("plotly_chart")]
    assert len(charts) >= 2  # outcome bars + curves (+ saliency / channels when those models exist)
    if "fmnist-jsigr" in [e.name for e in available()]:
        assert "Spearman ρ(gradient, blur-perturbation map)" in text
    # the table quotes each card's worst case (subset, and the whole test set where it was run)
    table = at.dataframe[0].value.set_index("model")
    for n in chosen:
        wc = load_card(n)["worst_case"]
        row = table.loc[get_entry(n).short]
        assert row["worst case %"] == pytest.approx(100 * wc["robust_accuracy"], abs=0.051)
        full = row["worst case, 10k %"]  # a number, or text when some model lacks it ("—" for those)
        if "full_test_set" in wc:
            assert float(full) == pytest.approx(100 * wc["full_test_set"]["robust_accuracy"], abs=0.051)
        else:
            assert full == "—"
    assert not table.isna().any().any()  # the browser would draw a missing cell as "None"
    shown = pa.ipc.open_stream(at.dataframe[0].proto.arrow_data.styler.display_values).read_all().to_pandas()
    for col in ("clean %", "worst case %", "worst case, 10k %"):  # percentages with one decimal, or "—"
        assert all(re.fullmatch(r"\d+\.\d|—", str(v)) for v in shown[col]), (col, list(shown[col]))
    # live curves on 16 images
    at.select_slider(key="zoo_live_n").set_value(16).run()
    at.button(key="zoo_live_run").click().run()
    assert not at.exception, at.exception
    assert "live (16 images)" in " ".join(str(c.proto.spec) for c in at.get("plotly_chart"))


def test_page_fgsm_on_a_test_image_and_no_photo_mode():
    at = AppTest.from_file(PAGE, default_timeout=90)
    at.run()
    # The photo mode is gone: a photo shrunk to 28×28 grey is no Fashion-MNIST garment.
    assert not at.get("file_uploader") and not [r for r in at.radio if r.key == "zoo_source"]
    at.selectbox(key="zoo_cls").set_value(1)
    at.selectbox(key="zoo_attack").set_value("FGSM")
    at.run()
    at.button(key="zoo_run").click().run()
    assert not at.exception, at.exception
    text = _text(at)
    assert "Trouser" in text
    verdicts = _verdicts(text)
    assert verdicts == len(at.multiselect[0].value)


ARCH_MODELS = ("fmnist-standard", "fmnist-zerosnet", "fmnist-vit-4head")


@pytest.mark.skipif(not set(ARCH_MODELS) <= {e.name for e in available()},
                    reason="the issue-21 architecture models are not trained yet")
def test_page_other_architectures_and_noise_columns():
    """A ViT and a ZeroSNet chosen beside the CNN: every view works, the ViT's missing channel view is
    said in words, the ZeroSNet joins the saliency and channel views, and the table shows the
    cards' Gaussian-noise accuracy."""
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.run()
    at.multiselect(key="zoo_models").set_value(list(ARCH_MODELS))
    at.selectbox(key="zoo_attack").set_value("FGSM")
    at.run()
    at.button(key="zoo_run").click().run()
    assert not at.exception, at.exception
    text = _text(at)
    assert _verdicts(text) == len(ARCH_MODELS)
    infos = "\n".join(i.value for i in at.info)
    vit = get_entry("fmnist-vit-4head")
    assert f"**{md(vit.title)}**" in infos and "does not offer channel analysis" in infos  # escaped for Markdown
    assert get_entry("fmnist-zerosnet").title not in infos  # it offers every view
    assert f"{get_entry('fmnist-zerosnet').short}: Spearman" in text
    assert f"{vit.short}: Spearman" in text  # input-gradient saliency works on a ViT
    specs = " ".join(c.proto.spec for c in at.get("plotly_chart"))
    assert f"{get_entry('fmnist-zerosnet').short}: mean activation per channel" in specs
    assert f"{vit.short}: mean activation per channel" not in specs
    table = at.dataframe[1].value.set_index("model")  # the second table: noise, audit, training time
    for n in ARCH_MODELS:
        pts = {p["sigma"]: p["accuracy"] for p in load_card(n)["evaluation"]["gaussian_noise_subset"]["points"]}
        for sigma in (0.1, 0.3):
            assert float(table.loc[get_entry(n).short, f"noise σ={sigma:g} %"]) == pytest.approx(100 * pts[sigma],
                                                                                               abs=0.051)
    assert not table.isna().any().any()


def test_page_with_a_neural_ode_joins_the_channel_view():
    """A neural ODE chosen beside the CNN: its channel view reads the ODE state at the end time (its
    last stage, not the CNN's ``head``), so the run works and the ODE joins both views."""
    from core.models.zoo.catalogue import load_zoo_model
    from core.evaluation.zoo.page import channel_stage

    assert channel_stage(load_zoo_model("fmnist-odenet")) == "ode"
    assert channel_stage(load_zoo_model("fmnist-cifs")) == "head"
    at = AppTest.from_file(PAGE, default_timeout=180)
    at.run()
    at.multiselect(key="zoo_models").set_value(["fmnist-standard", "fmnist-odenet"])
    at.selectbox(key="zoo_attack").set_value("FGSM")
    at.run()
    at.button(key="zoo_run").click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    specs = " ".join(c.proto.spec for c in at.get("plotly_chart"))
    assert f"{get_entry('fmnist-odenet').short}: mean activation per channel" in specs
    assert f"{get_entry('fmnist-odenet').short}: Spearman" in _text(at)


SUBSET = ("fmnist-standard", "fmnist-pgd-at", "fmnist-odenet")  # the issue-39 case


@pytest.mark.skipif(not set(SUBSET) <= {e.name for e in available()}, reason="zoo models missing")
def test_page_shows_exactly_the_chosen_subset_in_every_section():
    """Standard, PGD-AT and ODENet chosen: every section (verdicts, curves, tables, per class,
    saliency, channels) shows those three and no other model; what a section cannot show is said
    (ODENet's card has no curve); no CIFS mask and no cost-sensitive table without those models."""
    at = AppTest.from_file(PAGE, default_timeout=180)
    at.run()
    at.multiselect(key="zoo_models").set_value(list(SUBSET))
    at.selectbox(key="zoo_attack").set_value("FGSM")
    at.run()
    at.button(key="zoo_run").click().run()
    assert not at.exception, at.exception
    text = _text(at)
    assert _verdicts(text) == len(SUBSET)
    assert text.count("worst case: **") == len(SUBSET)  # the worst case beside each one-image verdict
    others = [e for e in available() if e.name not in SUBSET]
    # the figures' text, decoded (plotly's JSON escapes "<" and non-ASCII characters)
    specs = " ".join(json.dumps(json.loads(c.proto.spec), ensure_ascii=False) for c in at.get("plotly_chart"))
    for e in others:
        assert e.title not in specs and f"{e.short}<br>" not in specs and f"{e.short}: " not in specs, e.name
        assert f"{e.short}: Spearman" not in text, e.name
    for n in SUBSET:
        short = get_entry(n).short
        assert f"{short}<br>clean" in specs  # saliency
        assert f"{short}: mean activation per channel" in specs  # channels
        assert f"{short}: Spearman" in text
    # per class: one bar trace group per chosen model (the figure names them by title)
    assert all(get_entry(n).title in specs for n in SUBSET)
    # tables (the cards' two, the distributions' medians): exactly the chosen models, no cost-sensitive push-in table
    assert len(at.dataframe) == 3
    for df in at.dataframe:
        assert sorted(df.value["model"]) == sorted(get_entry(n).short for n in SUBSET)
    # ODENet's card has no curve: said, not silently dropped
    infos = "\n".join(i.value for i in at.info)
    assert f"Not on the solid curves: **{md(get_entry('fmnist-odenet').title)}**" in infos
    assert "CIFS mask" not in specs
