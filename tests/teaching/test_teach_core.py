"""Teaching mode: the data of presets, tour and glossary hang together; the home page starts the
tour on the right page with its preset; presenter mode hides the advanced sections."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

from core.teaching.glossary import GLOSSARY, PAGE_TERMS, link
from core.teaching.pages import PAGES
from core.teaching.presets import BASE, CLEAN_TOP1, PAGE_PATHS, PAGE_TITLES, PRESETS, all_presets, get_preset
from core.teaching.tour import PATHS, STEPS, path_of, path_start

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 90


def _registered_pages() -> list[str]:
    """The files app.py puts in the navigation, in order (app.py builds it from core.teaching.pages.PAGES)."""
    assert "st.Page(p.path" in (ROOT / "app.py").read_text()
    return [p.path for p in PAGES]


def test_every_page_file_exists_and_is_registered():
    registered = _registered_pages()
    assert registered[0] == "views/home.py"  # the default page
    for key, path in PAGE_PATHS.items():
        assert (ROOT / path).exists(), path
        assert path in registered, f"{path} is not in core.teaching.pages.PAGES"
        assert key in PAGE_TITLES


def test_presets_are_well_formed():
    refs = [p.ref for p in all_presets()]
    assert len(refs) == len(set(refs))
    for page, presets in PRESETS.items():
        assert page in PAGE_PATHS and presets
        for p in presets:
            assert p.page == page and p.title and p.blurb
            assert get_preset(p.ref) is p
            values = p.widget_values()
            # A preset only writes its own page's widgets (the key prefix is the page key).
            assert all(k.startswith(page + "_") for k in values), [k for k in values if not k.startswith(page + "_")]
            for k, v in values.items():
                assert v is not None, k
    with pytest.raises(KeyError):
        get_preset("lab/nope")
    # Every page of the app that has widgets has presets.
    assert set(PRESETS) == set(PAGE_PATHS) - {"home", "glossary"}
    assert sum(p.surprising for p in all_presets()) >= 4


def test_tour_steps_reference_presets_of_their_page():
    assert len(STEPS) >= 10
    for i, s in enumerate(STEPS):
        assert s.page in PAGE_PATHS and s.title and s.explanation
        if s.preset:
            assert get_preset(s.preset).page == s.page, s.title
        assert s.what_to_notice(), f"step {i} has nothing to notice"
        assert s.latex.count("{") == s.latex.count("}"), s.title
        assert path_of(i).key == s.path
    for p in PATHS:
        i = path_start(p.key)
        assert STEPS[i].path == p.key and all(s.path != p.key for s in STEPS[:i])
    # The four questions of the issue, in order.
    assert [p.question for p in PATHS] == ["What is an adversarial example?", "Do defenses work?",
                                           "What does the model look at?", "Can we certify?"]
    # Each surprising case is part of the tour.
    toured = {s.preset for s in STEPS}
    assert {"lab/jpeg_holds", "lab/jpeg_falls", "def/smoothing_holds", "cert/coffee_certified"} <= toured


def test_glossary_links_resolve():
    for slug, t in GLOSSARY.items():
        assert re.fullmatch(r"[a-z0-9-]+", slug)
        assert t.term and t.short and t.body
        assert all(s in GLOSSARY for s in t.see), slug
        assert t.latex.count("{") == t.latex.count("}"), slug
    for page, slugs in PAGE_TERMS.items():
        assert page in PAGE_PATHS
        assert all(s in GLOSSARY for s in slugs), page
    for term in ("epsilon", "linf", "l2", "pgd", "fgsm", "bpda", "eot", "certified-radius", "pr-nr-channels",
                 "equivariance", "adaptive-attack", "transfer", "saliency"):
        assert term in GLOSSARY
    assert link("pgd") == "[PGD (Projected Gradient Descent)](glossary#pgd)"
    # Links in the tour's explanations point at existing anchors.
    for s in STEPS:
        for anchor in re.findall(r"\(glossary#([a-z0-9-]+)\)", s.explanation):
            assert anchor in GLOSSARY


def test_clean_top1_table_matches_the_model():
    from core.data.images import load_sample, prepare_for_model, to_tensor
    from core.models import get_spec, load_model

    for (sample, model_name), cls in CLEAN_TOP1.items():
        m = load_model(model_name)
        x = to_tensor(prepare_for_model(load_sample(sample), get_spec(model_name)))
        with torch.no_grad():
            assert int(m(x).argmax()) == cls, sample
    assert BASE["lab"]["lab_label"] == CLEAN_TOP1[("chelsea", "EfficientNet-Lite0")]


def test_glossary_page_renders_with_anchors_and_filter():
    at = AppTest.from_file(str(ROOT / "views" / "glossary.py"), default_timeout=TIMEOUT).run()
    assert not at.exception, at.exception
    anchors = {h.proto.anchor for h in at.subheader}
    assert set(GLOSSARY) <= anchors
    assert len(at.latex) == sum(bool(t.latex) for t in GLOSSARY.values())
    at.text_input(key="glossary_filter").set_value("bpda").run()
    shown = {h.proto.anchor for h in at.subheader}
    assert "bpda" in shown and "psnr" not in shown


def test_home_path_starts_the_tour_on_the_attack_lab_with_its_preset():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()
    assert not at.exception, at.exception
    assert [b.key for b in at.button if b.key.startswith("home_start_")][:1]
    assert at.toggle(key="presenter").value is False
    at.button(key="home_start_adversarial").click().run()
    assert not at.exception, at.exception
    assert at.session_state["_tour_step"] == path_start("adversarial")
    # Now on the Attack Lab with the first step's preset loaded and run.
    assert at.selectbox(key="lab_attack").value == "FGSM"
    assert at.slider(key="lab_eps_linf").value == 1
    assert at.selectbox(key="lab_sample").value == "coffee"
    assert any("FGSM succeeded" in e.value for e in at.error)  # red: the model was fooled (core.judging.pages)
