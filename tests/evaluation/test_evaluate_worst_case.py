"""Batch evaluation with the worst-case ensemble (attack "Worst case", ``--attack worst-case``):
exact on a linear model, never above a single attack, per-image results independent of order and
identical when a run is resumed, the breakdown in the outputs, and the command line end to end."""
from __future__ import annotations

import csv
import io
import json

import pytest
import torch

from core.evaluation.curves import NO_DEFENSE
from core.evaluation.batch.engine import run_evaluation
from core.evaluation.batch.evaluate import NOT_FOUND, WORST_CASE, EvalSettings, evaluate_images
from core.viz.run_reports import batch_report
from core.data.image_sets import ImageItem
from core.data.labels import Labeler, LabelSpec
from core.evaluation.batch.runs import RunStore, run_fingerprint
from tests.evaluation.test_evaluate import Tiny

EPS = (0.0, 0.004, 0.012)
# small budgets: the linear model needs few iterations, and CPU time in CI is scarce
WC = dict(model="tiny", attack=WORST_CASE, eps=EPS, steps=8,
          attack_params=(("n_targets", 1), ("square_queries", 30)))


def items(n: int = 6) -> list[ImageItem]:
    g = torch.Generator().manual_seed(3)
    return [ImageItem(f"im{i}.png", f"im{i}.png#{i:04d}", 0.4 + 0.2 * torch.rand(1, 3, 8, 8, generator=g))
            for i in range(n)]


def exact_linf_robust(model: Tiny, x: torch.Tensor, label: int, eps: float) -> bool:
    """A linear model is robust at x in the L∞ ball iff every margin minus ε·‖w_y − w_j‖₁ stays
    positive (the box [0, 1] is not reached: pixels lie in [0.4, 0.6] and ε ≤ 0.012)."""
    w = model.lin.weight
    z = model(x)[0]
    return all(float(z[label] - z[j] - eps * (w[label] - w[j]).abs().sum()) > 0 for j in range(4) if j != label)


def test_worst_case_is_exact_on_a_linear_model_and_never_above_a_single_attack():
    model = Tiny()
    its = items()
    wc = evaluate_images(model, its, EvalSettings(**WC))
    for i, e in enumerate(EPS):
        exact = [exact_linf_robust(model, it.value, ev.label, e) for it, ev in zip(its, wc.images)]
        assert [ev.correct[NO_DEFENSE][i] for ev in wc.images] == exact
    robust = {b["eps"]: b["robust_accuracy"] for b in wc.breakdown()}
    assert 0 < robust[0.004] < 1 and robust[0.0] == 1  # the test can fail both ways
    for attack in ("FGSM", "APGD-DLR", "Square"):
        single = evaluate_images(model, its, EvalSettings(model="tiny", attack=attack, eps=EPS,
                                                          steps=None if attack == "FGSM" else 8))
        for b in single.breakdown():
            assert robust[b["eps"]] <= b["robust_accuracy"] + 1e-12, (attack, b)


def test_breakdown_records_the_first_successful_attack_and_adds_up():
    model = Tiny()
    res = evaluate_images(model, items(), EvalSettings(**WC))
    names = res.breakdown_attacks()
    assert names == ["APGD-CE", "APGD-T", "Square"]
    for ev in res.images:
        assert len(ev.found_by) == len(EPS) and ev.found_by[0] == NOT_FOUND
        for i in range(len(EPS)):  # fooled <=> some attack is named
            assert (ev.found_by[i] in names) == (not ev.correct[NO_DEFENSE][i])
    for b in res.breakdown():
        assert b["not_fooled"] + sum(b[f"fooled_by_{a}"] for a in names) + b["clean_misclassified"] == b["n"]
        assert b["robust_accuracy"] == pytest.approx(b["not_fooled"] / b["n"])
    assert all(r["attack"] == WORST_CASE for r in res.summary() if r["kind"] == "attack")
    text = batch_report(res).to_json()
    assert "worst case" in text.lower() and "fooled_by_Square" in text


def test_single_attack_report_says_it_is_one_attack_and_points_to_the_worst_case():
    model = Tiny()
    res = evaluate_images(model, items(2), EvalSettings(model="tiny", attack="FGSM", eps=EPS))
    note = res.robust_accuracy_note()
    assert "one attack's (FGSM)" in note and "--attack worst-case" in note
    assert note in res.to_dict()["robust_accuracy_note"]
    assert note in batch_report(res).to_json()
    assert all(r["attack"] == "FGSM" for r in res.summary() if r["kind"] == "attack")
    assert res.breakdown_attacks() == ["FGSM"] and "worst_case" not in res.settings.to_dict()
    # with true labels, an image misclassified when clean is never counted robust
    its = items(3)
    pred = [int(model(it.value).argmax(1)) for it in its]
    labels = {its[0].name: (pred[0] + 1) % 4, its[1].name: pred[1], its[2].name: pred[2]}
    res = evaluate_images(model, its, EvalSettings(model="tiny", attack="FGSM", eps=EPS), labels=labels)
    for b in res.breakdown():
        assert b["clean_misclassified"] == 1 and b["fooled_by_FGSM"] + b["not_fooled"] == 2
        assert b["robust_accuracy"] == pytest.approx(b["not_fooled"] / 3)


def test_per_image_results_do_not_depend_on_order_and_a_resumed_run_is_identical(tmp_path):
    model = Tiny()
    its = items(4)
    s = EvalSettings(**WC, seed=7)
    a = evaluate_images(model, its, s)
    b = evaluate_images(model, its[::-1], s)
    key = {ev.key: ev for ev in b.images}
    assert [vars(ev) | {"elapsed_s": 0} for ev in a.images] == [vars(key[ev.key]) | {"elapsed_s": 0} for ev in a.images]

    labeler = Labeler(LabelSpec(), Tiny.class_names)
    fp = run_fingerprint(s, model="tiny", labels=labeler.spec.to_dict(), threads=1)
    out = tmp_path / "run"
    first, _ = run_evaluation(its[:2], s, model_name="tiny", labeler=labeler, store=RunStore(out, fp), model=model)
    store = RunStore(out, fp)  # resume: two images are already done
    resumed, stats = run_evaluation(its, s, model_name="tiny", labeler=labeler, store=store, model=model)
    store.close()
    assert stats.resumed == 2 and stats.evaluated == 2
    strip = lambda ev: {k: v for k, v in vars(ev).items() if k != "elapsed_s"}  # noqa: E731
    assert [strip(ev) for ev in resumed.images] == [strip(ev) for ev in a.images]
    with pytest.raises(Exception, match="other settings"):  # a single-attack run cannot resume it
        RunStore(out, run_fingerprint(EvalSettings(model="tiny", attack="APGD-CE", eps=EPS), model="tiny",
                                      labels=labeler.spec.to_dict(), threads=1))


def test_settings_refuse_what_the_ensemble_does_not_do():
    for bad in (dict(adaptive=True), dict(step_ratio=0.5), dict(restarts=2),
                dict(attack_params=(("loss", "ce"),)), dict(attack_params=(("n_targets", 10_000),)),
                dict(norm="l1")):
        with pytest.raises(ValueError):
            EvalSettings(**{**WC, **bad})
    assert EvalSettings(**{**WC, "norm": "l2", "eps": (0.5,)}).threat().norm == "l2"


def test_command_line_worst_case_end_to_end(tmp_path):
    from core.cli.commands import cli_command, main

    err = io.StringIO()
    out = tmp_path / "out"
    code = main(["evaluate", "bundled", "--samples", "chelsea,coffee", "--model", "EfficientNet-Lite0", "--attack", "worst-case", "--eps", "0.25", "--steps", "2",
                 "--targets", "1", "--square-queries", "4", "--out", str(out), "--quiet"], stderr=err)
    assert code == 0, err.getvalue()
    summary = list(csv.DictReader(open(out / "summary.csv", encoding="utf-8")))
    bare = next(r for r in summary if r["defense"] == NO_DEFENSE and r["kind"] == "attack")
    assert bare["attack"] == WORST_CASE
    fooled = sum(int(bare[f"fooled_by_{a}"]) for a in ("APGD-CE", "APGD-T", "Square"))
    assert fooled + int(bare["not_fooled"]) == 2
    assert float(bare["accuracy"]) == pytest.approx(int(bare["not_fooled"]) / 2)
    doc = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert doc["settings"]["worst_case"] is True and doc["settings"]["ensemble"]["apgd_steps"] == 2
    rows = list(csv.DictReader(open(out / "images.csv", encoding="utf-8")))
    assert {r["found_by"] for r in rows if r["defense"] == NO_DEFENSE} <= {"APGD-CE", "APGD-T", "Square", NOT_FOUND}
    assert "robust accuracy at ε" in err.getvalue() and "worst case" in err.getvalue().lower()
    # the page's "same command" round-trips
    s = EvalSettings(**WC)
    assert "--attack worst-case" in cli_command(s) and "--targets 1 --square-queries 30" in cli_command(s)

    for argv, msg in ((["--attack", "FGSM", "--targets", "2"], "--targets needs --attack worst-case"),
                      (["--attack", "worst-case", "--adaptive", "--defense", "JPEG"], "bare model only"),
                      (["--attack", "worst-case", "--restarts", "2"], "do not apply"),
                      (["--attack", "worst-case", "--square-queries", "-1"], "--square-queries must be")):
        err = io.StringIO()
        bad_out = tmp_path / "bad"
        assert main(["evaluate", "bundled", "--out", str(bad_out), *argv], stderr=err) == 2
        assert msg in err.getvalue() and not bad_out.exists()  # refused before any work
