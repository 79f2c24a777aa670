"""Intervals and paired tests (core/judging/stats.py) against independent computations, and the
convention that every accuracy the project quotes carries its n and an interval that contains it:
the zoo cards, the audit files, batch evaluation's summary, report and summary.csv."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
from scipy.stats import beta, binom

from core.judging import stats
from core.evaluation.curves import NO_DEFENSE
from core.evaluation.batch.evaluate import INTERVAL_COLUMNS, EvalSettings, comparison_notes, evaluate_images, write_csv
from core.viz.run_reports import batch_report
from core.judging.stats import (accuracy_interval, count_of, differs_beyond_seeds, interval_note, mcnemar_p, paired_difference,
                        rate_interval, seed_spread, with_interval)
from tests.evaluation.test_evaluate import Tiny, tiny_items

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("n", [1, 2, 5, 8, 20, 37, 100, 1000, 10000])
def test_clopper_pearson_matches_the_exact_binomial_interval(n):
    ks = sorted({0, 1, n // 3, n // 2, n - 1, n} & set(range(n + 1)))
    for k in ks:
        iv = accuracy_interval(k, n)
        # the beta-quantile form of the exact interval (an independent formula)
        lo = 0.0 if k == 0 else beta.ppf(0.025, k, n - k + 1)
        hi = 1.0 if k == n else beta.ppf(0.975, k + 1, n - k)
        assert iv.lo == pytest.approx(lo, abs=1e-9) and iv.hi == pytest.approx(hi, abs=1e-9), (k, n)
        # and its defining property: each tail has probability 2.5 % at the bound
        if k > 0:
            assert binom.sf(k - 1, n, iv.lo) == pytest.approx(0.025, abs=1e-6)
        if k < n:
            assert binom.cdf(k, n, iv.hi) == pytest.approx(0.025, abs=1e-6)
        assert iv.lo <= k / n <= iv.hi and iv.k == k and iv.n == n


def test_interval_examples_and_errors():
    assert accuracy_interval(644, 1000).pct() == "64.4 % (61.3–67.4, n = 1,000)"
    assert accuracy_interval(5, 8).short(1) == "24.5–91.5"
    assert accuracy_interval(0, 0).as_list() == [0.0, 1.0]
    for k, n in ((-1, 5), (6, 5), (1, -1)):
        with pytest.raises(ValueError):
            accuracy_interval(k, n)
    assert count_of(0.625, 8) == 5 and rate_interval(0.625, 8) == accuracy_interval(5, 8)
    with pytest.raises(ValueError):
        count_of(0.3, 8)  # not a count out of 8
    assert with_interval({"correct": 3, "n": 4})["ci95"] == accuracy_interval(3, 4).as_list()
    assert "12.5 points" in interval_note(8) and "5 points" in interval_note(20)


def test_mcnemar_on_hand_made_tables():
    # b, c = discordant counts; p = min(1, 2·P[Binom(b+c, ½) ≤ min(b, c)])
    assert mcnemar_p(0, 0) == 1.0
    assert mcnemar_p(0, 5) == pytest.approx(2 / 32)  # 0.0625: five to none is not significant
    assert mcnemar_p(0, 6) == pytest.approx(2 / 64)  # 0.03125: six to none is
    assert mcnemar_p(1, 9) == pytest.approx(2 * 11 / 1024)
    assert mcnemar_p(9, 1) == mcnemar_p(1, 9)
    assert mcnemar_p(4, 4) == 1.0 and mcnemar_p(3, 5) == pytest.approx(min(1, 2 * (1 + 8 + 28 + 56) / 256))
    # from per-image vectors: 10 images, A right on 0-7, B right on 0-1 and 8: b = 6, c = 1
    a = [True] * 8 + [False] * 2
    b = [True, True] + [False] * 6 + [True, False]
    t = paired_difference(a, b)
    assert (t.only_a, t.only_b, t.a_correct, t.b_correct, t.n) == (6, 1, 8, 3, 10)
    assert t.p_value == pytest.approx(2 * (1 + 7) / 128) and not t.significant
    assert "do not differ significantly" in t.verdict("A", "B")
    t = paired_difference(torch.ones(40, dtype=torch.bool), torch.tensor([True] * 20 + [False] * 20))
    assert t.significant and t.difference == 0.5 and "significantly more accurate" in t.verdict("A", "B")
    with pytest.raises(ValueError):
        paired_difference([True], [True, False])


def test_seed_spread():
    s = seed_spread([0.64, 0.62, 0.66], [0, 1, 2])
    assert (s.lo, s.hi, s.mean) == (0.62, 0.66, pytest.approx(0.64))
    assert stats.spread_from_dict(s.as_dict()) == s
    assert differs_beyond_seeds(s, seed_spread([0.5, 0.55])) and not differs_beyond_seeds(s, seed_spread([0.65]))


def _accuracy_dicts(obj, path=""):
    """Every dict with a ci95 in a card, with where it is."""
    if isinstance(obj, dict):
        if "ci95" in obj:
            yield path, obj
        for k, v in obj.items():
            if k != "ci95":
                yield from _accuracy_dicts(v, f"{path}.{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _accuracy_dicts(v, f"{path}[{i}]")


def test_every_card_interval_contains_its_estimate_and_uses_its_n():
    cards = sorted((ROOT / "assets" / "zoo").glob("*.json"))
    seen = 0
    for f in cards:
        card = json.loads(f.read_text(encoding="utf-8"))
        wc = card.get("worst_case") or {}
        for path, d in _accuracy_dicts(card):
            k = d.get("correct", d.get("robust"))
            iv = accuracy_interval(k, d["n"])
            assert d["ci95"] == iv.as_list(), (f.name, path)
            est = d.get("accuracy", d.get("robust_accuracy"))
            est = k / d["n"] if est is None else est
            assert d["ci95"][0] <= est <= d["ci95"][1] and est == pytest.approx(k / d["n"], abs=5e-5), (f.name, path)
            seen += 1
        ev = card.get("evaluation") or {}
        for block, n in (("subset", 1000), ("full_test", 10000)):  # the right n for each block
            for m, d in (ev.get(block) or {}).items():
                if isinstance(d, dict) and "n" in d:
                    assert d["n"] == n, (f.name, block, m)
        if wc.get("quoted_view"):
            assert wc[wc["quoted_view"]]["n"] == wc["n"], f.name
    assert seen > 50


def test_audit_files_rates_are_counts_of_the_clean_correct_images():
    for f in sorted((ROOT / "docs" / "audits").glob("*.json")):
        d = json.loads(f.read_text(encoding="utf-8"))
        cc = d["clean_correct"]
        for c in d["comparison"]:
            for k in ("white_box", "transfer", "square", "square_eot", "square_one_draw"):
                v = c.get(k)
                if v is None or v != v:
                    continue
                iv = rate_interval(v, cc)  # raises if v is not a count out of cc
                if f"{k}_ci95" in c:
                    assert c[f"{k}_ci95"] == iv.as_list() and c["n"] == cc, (f.name, k)


def test_batch_summary_report_and_csv_carry_intervals_and_paired_tests(tmp_path):
    model = Tiny()
    items = tiny_items(6)
    s = EvalSettings(model="tiny", attack="FGSM", eps=(0.0, 0.05), defenses=(("Bit-depth reduction", (("bits", 3),)),))
    res = evaluate_images(model, items, s, class_names=model.class_names)
    summ = res.summary()
    for r in summ:
        assert r["n"] == 6 and r["correct"] == round(r["accuracy"] * 6)
        iv = accuracy_interval(r["correct"], r["n"])
        assert (r["accuracy_ci95_lo"], r["accuracy_ci95_hi"]) == tuple(iv.as_list())
        assert r["accuracy_ci95_lo"] <= r["accuracy"] <= r["accuracy_ci95_hi"]
        if r["success_rate"] is not None:
            k = round(r["success_rate"] * r["success_n"])
            assert [r["success_ci95_lo"], r["success_ci95_hi"]] == accuracy_interval(k, r["success_n"]).as_list()
        if r["defense"] == NO_DEFENSE:
            assert r["vs_bare_p"] is None
        else:  # exact McNemar against the bare model on the same images
            i = s.eps.index(r["eps"]) if r["kind"] == "attack" else None
            a = [(ev.clean[r["defense"]] == ev.label) if i is None else ev.correct[r["defense"]][i] for ev in res.images]
            b = [(ev.clean[NO_DEFENSE] == ev.label) if i is None else ev.correct[NO_DEFENSE][i] for ev in res.images]
            t = paired_difference(a, b)
            assert r["vs_bare_p"] == round(t.p_value, 4) and r["vs_bare_significant"] == t.significant
    for b in res.breakdown():
        assert [b["robust_accuracy_ci95_lo"], b["robust_accuracy_ci95_hi"]] == \
            accuracy_interval(b["robust"], b["n"]).as_list()
    notes = comparison_notes(summ, s.norm)
    assert len(notes) == 3 and all("McNemar" in t for t in notes)
    doc = json.loads(batch_report(res, model.class_names).to_json())
    text = json.dumps(doc)
    assert "accuracy_ci95_lo" in text and "Defended vs undefended" in text and "points and a 95 % interval" in text
    write_csv(summ, tmp_path / "summary.csv", ["defense", "kind", "eps", "n", "accuracy", *INTERVAL_COLUMNS])
    rows = list(csv.DictReader(open(tmp_path / "summary.csv", encoding="utf-8")))
    assert all(float(r["accuracy_ci95_lo"]) <= float(r["accuracy"]) <= float(r["accuracy_ci95_hi"]) for r in rows)
