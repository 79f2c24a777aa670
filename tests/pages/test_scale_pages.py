"""The labelled ImageNet sample on the Batch evaluation and Robustness curves pages (AppTest):
true labels, true accuracy, the matching command line."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.evaluation.batch.evaluate import EvalSettings, evaluate_images
from core.data.image_sets import read_folder
from core.data.images import prepare_for_model, to_tensor
from core.data.labelled_samples import LABELLED_DIR, labelled_samples
from core.models import get_spec, load_model

pytestmark = pytest.mark.slow
PAGES = Path(__file__).resolve().parents[2] / "views"


def test_batch_page_labelled_sample_uses_true_labels():
    at = AppTest.from_file(str(PAGES / "batch.py"), default_timeout=120)
    for k, v in {"src": "labelled", "attack": "FGSM", "eps": "1", "max": "2"}.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, at.exception
    text = "\n".join(str(e.value) for e in at.info)
    assert "true accuracy" in text.lower() and "clean prediction" not in text
    at.button(key="bat_run").click().run()
    assert not at.exception, at.exception
    df = at.dataframe[0].value
    spec = get_spec("EfficientNet-Lite0")
    images = read_folder(LABELLED_DIR / "imagenet", lambda im: to_tensor(prepare_for_model(im, spec)), max_images=2)
    truth = {s.file: s.label for s in labelled_samples("imagenet")}
    s = EvalSettings(model="EfficientNet-Lite0", attack="FGSM", eps=(1 / 255,), steps=10, step_ratio=0.25,
                     random_start=True)
    want = evaluate_images(load_model("EfficientNet-Lite0"), images.items, s, labels=truth).summary()
    assert df["accuracy"].tolist() == pytest.approx([r["accuracy"] for r in want])
    assert "python -m core evaluate labelled-imagenet" in "\n".join(c.value for c in at.code)


@pytest.mark.parametrize("page,prefix,label_key", [("curves.py", "cur", "cur_label"), ("attack_lab.py", "lab", "lab_label"),
                                                   ("defenses.py", "def", "def_label")])
def test_a_labelled_photo_sets_the_true_class_and_a_bundled_one_the_clean_prediction(page, prefix, label_key):
    samples = labelled_samples("imagenet")
    at = AppTest.from_file(str(PAGES / page), default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    at.radio(key=f"{prefix}_src").set_value("Labelled ImageNet photo").run()
    assert not at.exception, at.exception
    assert at.selectbox(key=label_key).value == samples[0].label == 243
    # another labelled photo: its own true class, whatever the model says
    at.selectbox(key=f"{prefix}_lsample").set_value(samples[5].file).run()
    assert at.selectbox(key=label_key).value == samples[5].label
    # back to a bundled photo: the model's clean prediction again (coffee: espresso, 967)
    at.radio(key=f"{prefix}_src").set_value("Bundled photo").run()
    assert not at.exception, at.exception
    assert at.selectbox(key=label_key).value == 967


def test_a_labelled_photo_travels_in_the_shared_link():
    samples = labelled_samples("imagenet")
    at = AppTest.from_file(str(PAGES / "curves.py"), default_timeout=120)
    at.query_params["src"] = "labelled"
    at.query_params["lsample"] = samples[3].file
    at.run()
    assert not at.exception, at.exception
    assert at.selectbox(key="cur_lsample").value == samples[3].file
    assert at.selectbox(key="cur_label").value == samples[3].label
