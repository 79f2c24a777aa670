"""Evaluation at scale on the local engine: true-label accounting, resumable runs (an interrupted run
resumed from its folder gives the same tables as an uninterrupted one), settings that differ from
the folder's refused, the labelled sample and label mistakes on the command line."""
from __future__ import annotations

import io
import json

import pytest
import torch
from torch import nn

from core.cli.commands import main
from core.data.labelled_samples import register_labelled_sources
from core.evaluation.batch.engine import run_evaluation
from core.evaluation.batch.evaluate import EvalSettings, image_seed
from core.data.image_sets import iter_images
from core.data.images import prepare_for_model, to_tensor
from core.data.labels import Labeler, parse_labels
from core.runtime.limits import CLI_READ_BUDGET
from core.models import get_spec
from core.evaluation.batch.runs import RESULTS_FILE, RunMismatch, RunStore, eval_to_json, run_fingerprint

MODEL = "fmnist-standard"  # a small zoo model: the whole labelled Fashion-MNIST sample takes about a second
ARGS = ["evaluate", "labelled-fashion-mnist", "--model", MODEL, "--attack", "PGD", "--eps", "8,16", "--steps", "3",
        "--seed", "4", "--quiet"]


def fmnist_items():
    register_labelled_sources()
    spec = get_spec(MODEL)
    return iter_images("labelled-fashion-mnist", lambda im: to_tensor(prepare_for_model(im, spec)),
                       budget=CLI_READ_BUDGET)


def settings(**kw):
    return EvalSettings(**{"model": MODEL, "attack": "PGD", "eps": (8 / 255, 16 / 255), "steps": 3, "seed": 4, **kw})


def store(folder, s, labeler):
    return RunStore(folder, run_fingerprint(s, model=s.model, labels=labeler.spec.to_dict(), threads=1))


def cli(args, tmp_out):
    err = io.StringIO()
    code = main([*args, "--out", str(tmp_out)], stderr=err)
    return code, err.getvalue()


def test_interrupted_run_resumed_gives_the_same_tables(tmp_path):
    full, part = tmp_path / "full", tmp_path / "part"
    code, err = cli(ARGS, full)
    assert code == 0, err
    assert "labels: file names (the number before the extension)" in err
    # a run stopped after 7 images (the same command with --max-images), then the full command again
    code, err = cli([*ARGS, "--max-images", "7"], part)
    assert code == 0, err
    assert len((part / RESULTS_FILE).read_text().splitlines()) == 7
    with open(part / RESULTS_FILE, "a") as f:  # a process killed while writing its 8th line
        f.write('{"name": "fashionMNIST_07_6.png", "lab')
    code, err = cli(ARGS, part)
    assert code == 0, err
    assert "resuming: 7 image(s)" in err and "incomplete last line was dropped" in err
    for f in ("summary.csv", "images.csv"):
        assert (part / f).read_bytes() == (full / f).read_bytes()
    lines = (part / RESULTS_FILE).read_text().splitlines()
    assert len(lines) == 20 and len({json.loads(x)["key"] for x in lines}) == 20
    # a third run finds everything done and evaluates nothing
    code, err = cli(ARGS, part)
    assert code == 0 and "resuming: 20 image(s)" in err
    assert len((part / RESULTS_FILE).read_text().splitlines()) == 20
    # different settings are refused, naming what differs, and nothing is appended
    code, err = cli([*ARGS[:7], "8,12", *ARGS[8:]], part)
    assert code == 1 and "holds a run with other settings" in err and "settings.eps" in err
    assert "Traceback" not in err
    code, err = cli([*ARGS, "--labels", "none"], part)
    assert code == 1 and "labels.kind" in err
    assert len((part / RESULTS_FILE).read_text().splitlines()) == 20


def test_keyboard_interrupt_keeps_finished_images_and_resume_matches(tmp_path):
    s = settings()
    lb = Labeler(parse_labels("pattern"), [str(i) for i in range(10)])
    ref, _ = run_evaluation(fmnist_items(), s, model_name=MODEL, labeler=lb, store=store(tmp_path / "a", s, lb))

    def stop(stats, ev):
        if stats.evaluated == 5:
            raise KeyboardInterrupt

    st = store(tmp_path / "b", s, lb)
    with pytest.raises(KeyboardInterrupt):
        run_evaluation(fmnist_items(), s, model_name=MODEL, labeler=lb, store=st, on_image=stop)
    st.close()
    st = store(tmp_path / "b", s, lb)
    assert len(st.done) == 5
    res, stats = run_evaluation(fmnist_items(), s, model_name=MODEL, labeler=lb, store=st)
    assert (stats.resumed, stats.evaluated) == (5, 15)
    assert [eval_to_json(e) for e in res.images] != []
    strip = lambda e: {**json.loads(eval_to_json(e)), "elapsed_s": 0}  # noqa: E731
    assert [strip(e) for e in res.images] == [strip(e) for e in ref.images]
    assert res.summary() == ref.summary()
    with pytest.raises(RunMismatch, match="seed"):
        store(tmp_path / "b", settings(seed=5), lb)


class Two(nn.Module):
    """Class = which half of the image is brighter (a hand-made 2-class model)."""

    class_names = ["left", "right"]

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1), requires_grad=False)
        self.eval()

    def forward(self, x):
        left, right = x[..., :4].mean((1, 2, 3)), x[..., 4:].mean((1, 2, 3))
        return 40 * torch.stack([left - right, right - left], 1)


class Item:
    def __init__(self, name, value):
        self.name, self.key, self.value = name, name + "#k", value


def test_true_labels_count_success_only_on_correct_clean_images(tmp_path):
    def img(left, right):
        x = torch.empty(1, 3, 8, 8)
        x[..., :4], x[..., 4:] = left, right
        return x

    # a: class 0, margin 0.4 (survives ε = 0.1), b: class 1 with margin 0.02 (flips), c: labelled 1 but
    # predicted 0 (misclassified when clean: never a success, never correct)
    items = [Item("0_a.png", img(0.7, 0.3)), Item("1_b.png", img(0.49, 0.51)), Item("1_c.png", img(0.6, 0.4))]
    s = EvalSettings(model="two", attack="FGSM", eps=(0.1,))
    lb = Labeler(parse_labels(r"pattern:^(\d)_"), Two.class_names)
    res, _ = run_evaluation(items, s, model_name="two", labeler=lb, model=Two(),
                            store=RunStore(tmp_path, run_fingerprint(s, model="two", labels={}, threads=1)))
    a, b, c = res.images
    assert [e.label for e in res.images] == [0, 1, 1] and all(e.true_label for e in res.images)
    assert (a.correct["No defense"], a.success["No defense"]) == ([True], [False])
    assert (b.correct["No defense"], b.success["No defense"]) == ([False], [True])
    assert (c.clean["No defense"], c.correct["No defense"], c.success["No defense"]) == (0, [False], [False])
    rows = {r["kind"]: r for r in res.summary()}
    assert rows["clean"]["accuracy"] == pytest.approx(2 / 3)
    assert rows["attack"]["accuracy"] == pytest.approx(1 / 3)  # robust accuracy
    assert rows["attack"]["success_rate"] == pytest.approx(1 / 2)  # among the 2 correct clean images
    assert a.seed == image_seed(0, "0_a.png#k") != b.seed
    assert "true accuracy" in res.label_note.lower()


def test_label_mistakes_on_the_command_line(tmp_path):
    bad = tmp_path / "labels.csv"
    bad.write_text("file,label\nfashionMNIST_00_9.png,9\nfashionMNIST_00_9.png,3\n", encoding="utf-8")
    code, err = cli([*ARGS, "--labels", str(bad)], tmp_path / "o1")
    assert code == 1 and "labels.csv, line 3: “fashionMNIST_00_9.png” is listed twice" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    partial = tmp_path / "partial.json"
    partial.write_text(json.dumps({"fashionMNIST_00_9.png": "Ankle boot", "fashionMNIST_01_2.png": 2}))
    code, err = cli([*ARGS, "--labels", str(partial)], tmp_path / "o2")
    assert code == 1 and "“fashionMNIST_02_1.png” has no entry in the label file partial.json" in err
    # the two labelled images were kept: fixing the file and running again resumes them
    assert len((tmp_path / "o2" / RESULTS_FILE).read_text().splitlines()) == 2
    code, err = cli([*ARGS, "--labels", "folder"], tmp_path / "o3")
    assert code == 1 and "is not inside a class folder" in err


def test_the_labelled_sample_matches_its_manifest():
    import hashlib

    from core.data.labelled_samples import LABELLED_DIR, labelled_samples
    from core.models.imagenet.classes import imagenet_classes

    for which, names in (("imagenet", imagenet_classes()), ("fashion-mnist", None)):
        samples = labelled_samples(which)
        assert len(samples) == 20
        for s in samples:
            assert hashlib.sha256(s.path.read_bytes()).hexdigest() == next(
                e["sha256"] for e in json.loads((LABELLED_DIR / "SAMPLES.json").read_text())["sets"][which]
                if e["file"] == s.file)
            assert int(s.file.rsplit("_", 1)[1].split(".")[0]) == s.label
            if names is not None:
                assert names[s.label] == s.class_name
    assert "MIT" in (LABELLED_DIR / "LICENSE-foolbox.txt").read_text()


def test_scale_options_are_checked_and_ray_is_not_imported_by_the_local_engine(tmp_path):
    for extra, msg in ((["--workers", "0"], "--workers must be at least 1"),
                       (["--threads", "0"], "--threads must be between 1 and 256"),
                       (["--address", "auto"], "--address goes with --engine ray"),
                       (["--max-images", "0"], "--max-images must be at least 1")):
        code, err = cli([*ARGS, *extra], tmp_path / "o")
        assert code == 2 and msg in err and "Traceback" not in err  # option errors: exit 2, before any work
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    code = ("import sys, io; from core.cli.commands import main; err = io.StringIO(); "
            f"rc = main({[*ARGS, '--max-images', '2', '--out', str(tmp_path / 'p')]!r}, stderr=err); "
            "assert rc == 0, err.getvalue(); assert 'ray' not in sys.modules, 'ray was imported'; print('ok')")
    proc = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=300,
                          env={**__import__("os").environ, "PYTHONPATH": str(root)})
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stderr[-2000:]


def test_no_image_cap_on_the_command_line_and_list_files(tmp_path):
    import csv

    import numpy as np
    from PIL import Image

    from core.runtime import limits

    n = limits.MAX_EVAL_IMAGES + 1  # one more than the app's ceiling
    src = tmp_path / "many"
    src.mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8)).save(src / f"img_{i:04d}_{i % 10}.png")
    fast = ["--model", MODEL, "--attack", "FGSM", "--eps", "8", "--quiet", "--labels", "pattern"]
    code, err = cli(["evaluate", str(src), *fast], tmp_path / "o")
    assert code == 0, err
    rows = list(csv.DictReader(open(tmp_path / "o" / "images.csv", encoding="utf-8")))
    assert len({r["image"] for r in rows}) == n and {r["label"] for r in rows} == {str(i) for i in range(10)}
    # a list file: one path per line, relative to the list
    (tmp_path / "list.txt").write_text("many/img_0003_3.png\nmany/img_0001_1.png\n", encoding="utf-8")
    code, err = cli(["evaluate", str(tmp_path / "list.txt"), *fast], tmp_path / "l")
    assert code == 0, err
    rows = list(csv.DictReader(open(tmp_path / "l" / "images.csv", encoding="utf-8")))
    assert [r["label"] for r in rows] == ["3", "1"]


def test_run_store_keeps_each_key_once_and_drops_a_torn_line(tmp_path):
    from core.evaluation.batch.evaluate import ImageEval

    fp = {"format": 1, "x": 1}
    ev = ImageEval(name="a.png", label=1, label_name="one", clean={"No defense": 1}, pred={"No defense": [0]},
                   confidence={"No defense": [0.25]}, correct={"No defense": [False]},
                   success={"No defense": [True]}, key="a.png#00", seed=7, true_label=True)
    st = RunStore(tmp_path, fp)
    assert st.add(ev) and not st.add(ev)
    st.close()
    line = (tmp_path / RESULTS_FILE).read_text()
    # a worker's result written twice (it died after sending it) and a torn last line
    (tmp_path / RESULTS_FILE).write_text(line + line + line[:30])
    st = RunStore(tmp_path, fp)
    assert list(st.done) == ["a.png#00"] and st.dropped_partial
    assert st.images(["b#1", "a.png#00"]) == [ev]  # only the keys asked for, in their order
    assert (tmp_path / RESULTS_FILE).read_text() == line + line  # the torn line is cut off
    with pytest.raises(RunMismatch, match=r"x: 1 in the folder, 2 now"):
        RunStore(tmp_path, {"format": 1, "x": 2})
