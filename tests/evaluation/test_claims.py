"""The Claims page (core/evaluation/claims/rows.py, views/claims.py): rows come from the cards and audit files, a
changed card changes its row (and fails the snapshot), the verdict rules, and the page renders
every row."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.evaluation.audit.checks import AUDITS_DIR
import numpy as np

from core.evaluation.claims.rows import (CONTROLS_ONLY, PAPER_CLAIMS, CONTRADICTED, HOLDS, INCONCLUSIVE, MASKING,
                                         NOT_MEASURED, VERDICTS, WEAK_ONLY, claim_rows, defense_row, DEFENSE_CLAIMS)
from core.evaluation.per_image import PerImage
from core.models.zoo.catalogue import ZOO, ZOO_DIR
from core.teaching.pages import PAGE_PATHS
from core.teaching.presets import BASE, PAGE_TITLES, PRESETS
from tests.teach_util import load

ROOT = Path(__file__).resolve().parents[2]
SNAPSHOT = ROOT / "tests" / "fixtures" / "claims_snapshot.json"
PAGE = str(ROOT / "views" / "claims.py")


@pytest.fixture(scope="module")
def rows():
    return claim_rows()


def test_rows_match_the_snapshot_of_the_cards_and_audits(rows):
    """A card or audit file that changes a row's number or verdict fails here: look at the change,
    then rewrite the snapshot with tools/claims_snapshot.py."""
    want = {r["key"]: r for r in json.loads(SNAPSHOT.read_text(encoding="utf-8"))}
    got = {r.key: r.snapshot() for r in rows}
    for key, w in want.items():
        assert key in got, f"{key} has no row any more"
        assert got[key] == w, f"{key} changed: {got[key]} != snapshot {w} (tools/claims_snapshot.py rewrites it)"
    for key, g in got.items():  # a new row must be in the snapshot once it is measured
        assert key in want or (g["verdict"] == NOT_MEASURED and g["n"] is None), \
            f"{key} is measured but not in the snapshot (tools/claims_snapshot.py)"


def test_one_row_per_paper_and_zoo_entry_with_sources_and_live_links(rows):
    keys = [r.key for r in rows]
    assert len(keys) == len(set(keys))
    assert {f"defense:{d.key}" for d in DEFENSE_CLAIMS} <= set(keys)
    assert {f"zoo:{e.name}" for e in ZOO if e.name not in CONTROLS_ONLY} <= set(keys)  # new entries appear by themselves
    for r in rows:
        assert r.verdict in VERDICTS and r.reason
        assert (ROOT / r.source).exists() or r.verdict == NOT_MEASURED, r.source
        assert r.preset is not None and r.preset.page in PAGE_PATHS
        if r.n is not None:
            lo, hi = r.measured_ci95
            assert lo <= r.measured_value <= hi and f"n = {r.n:,}" in r.measured
        if r.key[len("zoo:"):] in PAPER_CLAIMS or r.key.startswith("defense:"):
            assert r.claim, f"{r.key} has no claim sentence"


def test_verdict_rules_on_the_shipped_cards(rows):
    by = {r.key: r for r in rows}
    assert by["zoo:fmnist-cifs"].verdict == MASKING  # audit flags, PGD-20 interval above the worst case's
    # ZeroSNet is judged on its claim's own metric, noise accuracy (82.0 vs 77.4 % at σ = 0.1, paired)
    assert by["zoo:fmnist-zerosnet"].verdict == HOLDS and "Gaussian noise" in by["zoo:fmnist-zerosnet"].reason
    assert "64.4 % (61.3–67.4, n = 1,000)" in by["zoo:fmnist-pgd-at"].measured
    # judged paired on the per-image files against each claim's matched control
    # on the cards' own worst case, kept per image (1,000 images), not the 500-image distribution
    assert by["zoo:fmnist-pgd-at"].verdict == HOLDS and "same 1,000 images" in by["zoo:fmnist-pgd-at"].reason
    assert by["zoo:fmnist-ntk-kernel"].verdict == CONTRADICTED and "transfer_any" in by["zoo:fmnist-ntk-kernel"].reason
    assert by["zoo:fmnist-cost-sensitive"].verdict == CONTRADICTED  # protection bought by moving the boundary
    assert by["defense:equivariance"].verdict == INCONCLUSIVE and "BPDA through the purifier" in \
        by["defense:equivariance"].reason  # ImageNet inconclusive, segmentation holds against both attackers
    assert by["zoo:fmnist-odenet"].control.startswith("fmnist-noise-cnn")  # the ODE recipe's noise, not standard
    assert by["zoo:fmnist-tisode"].verdict == CONTRADICTED  # significantly below ODENet on the same images
    assert by["zoo:fmnist-snode"].verdict == CONTRADICTED and "Wilcoxon" in by["zoo:fmnist-snode"].reason
    assert by["system:smooth-reduce-video"].verdict == CONTRADICTED  # certificates broken inside their radius
    assert by["system:rpnode"].verdict == HOLDS and "seed 2" in by["system:rpnode"].reason
    assert sum(r.verdict == INCONCLUSIVE for r in rows) >= 1
    for r in rows:  # a paired verdict names its numbers: p-value and the images
        if r.verdict in (HOLDS, CONTRADICTED) and r.key.startswith("zoo:") and "McNemar" in r.reason:
            assert "same" in r.reason and "p = " in r.reason


def _per_image(path: Path, min_eps: np.ndarray, labels: np.ndarray) -> None:
    per = PerImage(np.arange(len(labels)), labels)
    per.add("clean", min_eps > 0)
    per.values["min_eps_linf"] = min_eps.astype(np.float32)
    per.save(path)


def test_zoo_rows_judge_paired_per_image_files(tmp_path):
    """Hand-made per-image files: TRADES more robust than PGD-AT on 30 images, less on 10, the same on the
    rest -> holds; the other way round -> contradicted; 12 vs 8 -> inconclusive with a power statement."""
    cards = _copy_cards(tmp_path)
    labels = np.arange(500) % 10
    base = np.full(500, 0.075, np.float32)  # PGD-AT: every image flips at 0.075 (not robust at 0.1)
    base[:200] = 0.15  # 200 robust at 0.1
    for only_a, only_b, want in ((30, 10, HOLDS), (10, 30, CONTRADICTED), (12, 8, INCONCLUSIVE)):
        a = base.copy()
        a[200:200 + only_a] = 0.2  # robust at 0.1 where PGD-AT is not
        a[:only_b] = 0.05  # fooled at 0.1 where PGD-AT is robust
        _per_image(cards / "fmnist-trades.per_image.npz", a, labels)
        _per_image(cards / "fmnist-pgd-at.per_image.npz", base, labels)
        row = {r.key: r for r in claim_rows(zoo_dir=cards)}["zoo:fmnist-trades"]
        assert row.verdict == want, row.reason
        assert f"{only_a} vs {only_b} discordant" in row.reason
        if want == INCONCLUSIVE:
            assert "80 % power" in row.reason and "exclude a gain as large as the paper" in row.reason
    # both at the floor at ε = 0.1: judged on the smallest ε per image instead
    floor = np.full(500, 0.02, np.float32)
    higher = floor.copy()
    higher[:60] = 0.05
    _per_image(cards / "fmnist-trades.per_image.npz", higher, labels)
    _per_image(cards / "fmnist-pgd-at.per_image.npz", floor, labels)
    row = {r.key: r for r in claim_rows(zoo_dir=cards)}["zoo:fmnist-trades"]
    assert row.verdict == HOLDS and "both at the floor" in row.reason and "Wilcoxon" in row.reason


def _copy_cards(tmp_path: Path) -> Path:
    d = tmp_path / "zoo"
    d.mkdir()
    for f in ZOO_DIR.glob("*.json"):
        shutil.copy(f, d / f.name)
    return d


def test_a_changed_card_changes_its_row_and_fails_the_snapshot(tmp_path, rows):
    cards = _copy_cards(tmp_path)
    card = json.loads((cards / "fmnist-pgd-at.json").read_text(encoding="utf-8"))
    view = card["worst_case"][card["worst_case"]["quoted_view"]]
    view["robust"], view["robust_accuracy"] = 3, 0.003  # the worst case far below its single attacks
    (cards / "fmnist-pgd-at.json").write_text(json.dumps(card), encoding="utf-8")
    row = {r.key: r for r in claim_rows(zoo_dir=cards)}["zoo:fmnist-pgd-at"]
    assert row.measured_value == 0.003 and row.verdict == WEAK_ONLY
    for m in ("pgd20", "apgd_ce"):  # and the single attacks too: no better than standard training
        card["evaluation"]["subset"][m].update(correct=3, accuracy=0.003)
    (cards / "fmnist-pgd-at.json").write_text(json.dumps(card), encoding="utf-8")
    changed = {r.key: r for r in claim_rows(zoo_dir=cards)}
    row = changed["zoo:fmnist-pgd-at"]
    assert row.measured_value == 0.003 and row.verdict != WEAK_ONLY
    snap = {r["key"]: r for r in json.loads(SNAPSHOT.read_text(encoding="utf-8"))}
    assert row.snapshot() != snap["zoo:fmnist-pgd-at"]  # what the snapshot test would report
    # the control's change reaches every row compared with it (N-FGSM: "as good as PGD-AT")
    assert "0.3 %" in changed["zoo:fmnist-nfgsm"].baseline
    # an audit flag on a card whose single attack overstates its worst case: gradient masking
    card = json.loads((cards / "fmnist-trades.json").read_text(encoding="utf-8"))
    card["worst_case"]["audit"].update(flagged=True, flags=["transfer"])
    for m in ("pgd20", "apgd_ce"):  # the strongest single attack now overstates the worst case
        card["evaluation"]["subset"][m].update(correct=800, accuracy=0.8)
    (cards / "fmnist-trades.json").write_text(json.dumps(card), encoding="utf-8")
    assert {r.key: r for r in claim_rows(zoo_dir=cards)}["zoo:fmnist-trades"].verdict == MASKING
    card["worst_case"]["audit"].update(flagged=False, flags=[])
    (cards / "fmnist-trades.json").write_text(json.dumps(card), encoding="utf-8")
    assert {r.key: r for r in claim_rows(zoo_dir=cards)}["zoo:fmnist-trades"].verdict == WEAK_ONLY


def test_defense_rows_read_the_audit_files(tmp_path):
    audits = tmp_path / "audits"
    shutil.copytree(AUDITS_DIR, audits)
    spec = next(d for d in DEFENSE_CLAIMS if d.key == "equivariance")
    base = audits / spec.baseline_audit
    if not base.exists():  # the undefended audit: white-box fools all of 7 clean-correct photos
        base.write_text(json.dumps({"n": 8, "clean_correct": 7, "flags": [], "flagged": False,
                                    "config": {"eps": 4 / 255},
                                    "comparison": [{"eps": 4 / 255, "white_box": 1.0, "transfer": 0.0,
                                                    "square": 0.0}]}), encoding="utf-8")
    f = audits / spec.adaptive_audit
    d = json.loads(f.read_text(encoding="utf-8"))
    eps = d["config"]["eps"]
    row = next(c for c in d["comparison"] if abs(c["eps"] - eps) < 1e-9)
    for k in ("white_box", "transfer", "square"):
        row[k] = 0.0  # nothing fools the defended model: all clean-correct photos stay right
    if "robust_per_image" in row:
        row["robust_per_image"] = d["correct_per_image"]
    for c in d["checks"]:
        if c["key"] == "iterations":
            c["numbers"].update(five_times_steps=0.0, three_restarts=0.0)
    f.write_text(json.dumps(d), encoding="utf-8")
    r = defense_row(spec, audits)
    assert r.n == d["n"] and r.measured_value == pytest.approx(d["clean_correct"] / d["n"], abs=1e-4)
    assert r.source.endswith(spec.adaptive_audit)
    d["flagged"], d["flags"] = True, ["gradients"]
    f.write_text(json.dumps(d), encoding="utf-8")
    assert defense_row(spec, audits).verdict == MASKING


def _audit(robust: list[int], correct: list[int], white_box: float, data: str = "10 photos") -> dict:
    eps = 4 / 255
    return {"n": len(robust), "clean_correct": sum(correct), "flags": [], "flagged": False, "data": data,
            "config": {"eps": eps}, "correct_per_image": correct,
            "comparison": [{"eps": eps, "white_box": white_box, "transfer": 0.0, "square": 0.0,
                            "robust_per_image": robust}]}


def test_defense_rows_compare_per_image_outcomes_paired(tmp_path):
    from core.evaluation.claims.rows import DefenseClaim, audit_paired, audit_robust

    spec = DefenseClaim("smoothing", "Randomized smoothing", "paper", "claim", "d.json", "b.json")
    ten = [1] * 10

    def row(defended: dict, base: dict):
        (tmp_path / "d.json").write_text(json.dumps(defended), encoding="utf-8")
        (tmp_path / "b.json").write_text(json.dumps(base), encoding="utf-8")
        return defense_row(spec, tmp_path)

    # per image, the union of the attacks counts: white-box alone fools 10 % of 10 correct photos, but only 6 of
    # the 10 photos resist every attack
    d = _audit([1] * 6 + [0] * 4, ten, white_box=0.1)
    assert audit_robust(d)[0].k == 6
    # 9 photos robust behind the defense, none without: McNemar p = 2 · 0.5⁹ = 0.0039 → holds
    r = row(_audit([1] * 9 + [0], ten, 0.1), _audit([0] * 10, ten, 1.0))
    assert r.verdict == HOLDS and "9 vs 0 discordant" in r.reason and "p = 0.004" in r.reason
    assert r.measured_value == 0.9 and r.n == 10
    # the reverse: the undefended model is the robust one → contradicted
    assert row(_audit([0] * 10, ten, 1.0), _audit([1] * 9 + [0], ten, 0.1)).verdict == CONTRADICTED
    # 1 vs 2 discordant: inconclusive, with a power statement
    r = row(_audit([1, 1, 0, 0, 0, 0, 0, 0, 0, 0], ten, 0.8), _audit([0, 1, 1, 1, 0, 0, 0, 0, 0, 0], ten, 0.7))
    assert r.verdict == INCONCLUSIVE and "1 vs 2 discordant" in r.reason and "paired images would tell" in r.reason
    # different photos are never paired: the interval rule of the older files applies
    assert audit_paired(_audit(ten, ten, 0.0, "a"), _audit(ten, ten, 0.0, "b")) is None
    # an older file whose iterations check (5× steps) fooled 9 of 10: at most 1 photo robust, whatever the per-image
    # vector of the base attacks says; the dropped ones are those where the control is not robust (against the claim)
    d = _audit([1, 1, 1] + [0] * 7, ten, 0.7)
    d["checks"] = [{"key": "iterations", "numbers": {"base": 0.7, "five_times_steps": 0.9, "three_restarts": 0.8}}]
    assert audit_robust(d)[0].k == 1
    t = audit_paired(d, _audit([0, 0, 1] + [0] * 7, ten, 0.9))
    assert (t.a_correct, t.only_a, t.only_b) == (1, 0, 0)


def test_a_certified_radius_claim_is_judged_per_photo(tmp_path):
    from core.evaluation.claims.rows import DefenseClaim

    (tmp_path / "certify").mkdir()
    for name, doc in (("d.json", _audit([0] * 10, [1] * 10, 1.0)), ("b.json", _audit([0] * 10, [1] * 10, 1.0))):
        (tmp_path / name).write_text(json.dumps(doc), encoding="utf-8")
    spec = DefenseClaim("smooth-reduce", "Smooth-Reduce", "paper", "claim", "d.json", "b.json",
                        certify=("sr.json", "rs.json"))

    def cert(method: str, radii: list[float], cap: float = 0.26) -> dict:
        return {"model": "m", "method": method, "data": "10 photos", "max_radius": cap, "command": "made by hand",
                "params": {"sigma": 0.12, "n0": 100, "n": 500, "alpha": 0.001},
                "photos": [{"radius_true_class": r} for r in radii]}

    def row(sr: list[float], rs: list[float]):
        (tmp_path / "certify" / "sr.json").write_text(json.dumps(cert("Smooth-Reduce", sr)), encoding="utf-8")
        (tmp_path / "certify" / "rs.json").write_text(json.dumps(cert("Randomized smoothing", rs)), encoding="utf-8")
        return defense_row(spec, tmp_path)

    rs = [0.1, 0.0, 0.05, 0.2, 0.1, 0.0, 0.15, 0.12, 0.08, 0.03]
    # larger on all 10 photos: Wilcoxon p = 2/2¹⁰ = 0.002 → holds
    r = row([v + 0.01 * (i + 1) for i, v in enumerate(rs)], rs)
    assert r.verdict == HOLDS and "larger on 10" in r.reason and "p = 0.002" in r.reason
    assert r.measured_value == 1.0 and "Randomized smoothing: 80.0 %" in r.baseline
    assert r.evidence[0].endswith("(made by hand)")
    # smaller on all 10 → contradicted; the same radii → inconclusive; a missing file → not measured
    assert row(rs, [v + 0.01 * (i + 1) for i, v in enumerate(rs)]).verdict == CONTRADICTED
    assert row(rs, rs).verdict == INCONCLUSIVE
    (tmp_path / "certify" / "rs.json").unlink()
    assert defense_row(spec, tmp_path).verdict == NOT_MEASURED


def test_claims_page_renders_every_row(rows):
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.session_state["presenter"] = True  # the narrower layout (tests/browser/test_browser_claims.py shows both)
    at.run()
    assert not at.exception, at.exception
    text = "\n".join(str(m.value) for m in at.markdown)
    for r in rows:
        assert r.title.split(" (")[0].replace("*", "") in text.replace("\\", ""), r.key
        assert r.verdict in text
    buttons = {b.key for b in at.button}
    assert all(f"claims_go_{r.key}" in buttons for r in rows)
    assert PAGE_TITLES["claims"] == "Claims, checked"


def test_claims_presets_filter_the_rows(rows):
    assert BASE["claims"]["claims_verdicts"] == list(VERDICTS)  # the literal copy in core/teaching/presets.py
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    for p in PRESETS["claims"]:
        assert set(p.values["claims_verdicts"]) <= set(VERDICTS)
        load(at, p)
        assert not at.exception, at.exception
        want = {r.key for r in rows if r.verdict in p.values["claims_verdicts"]}
        assert want and {b.key[len("claims_go_"):] for b in at.button
                         if b.key.startswith("claims_go_") and not b.key.endswith("_audit it")} == want


def test_table_cells_shorten_the_audit_and_the_baseline():
    from core.evaluation.claims.rows import short_audit, short_number

    assert short_audit("flagged: transfer beats white-box; Square beats white-box (100 images)") == "⚠️ 2 flags"
    assert short_audit("flagged: the verdict is random (8 images)") == "⚠️ 1 flag"
    assert short_audit("no check warns (50 images)") == "no flag"
    assert short_audit("not audited") == "not audited"
    assert short_number("fmnist-pgd-at: 64.4 % (61.3–67.4, n = 1,000)") == "fmnist-pgd-at: 64.4 %"


def _bool_file(path: Path, labels: np.ndarray, **evals: np.ndarray) -> None:
    per = PerImage(np.arange(len(labels)), labels)
    for k, v in evals.items():
        per.add(k, v)
    per.values["min_eps_linf"] = np.full(len(labels), 0.15, np.float32)  # everything robust at 0.1 by the grid
    per.save(path)


def test_worst_case_condition_uses_the_cards_ensemble_per_image_where_kept(tmp_path):
    """The distribution says both models are robust everywhere; the cards' own worst case, kept per image, says
    TRADES loses 40 images PGD-AT keeps: the row is judged on the latter, on its 1,000 images."""
    cards = _copy_cards(tmp_path)
    labels = np.arange(1000) % 10
    yes = np.ones(1000, bool)
    trades = yes.copy()
    trades[:40] = False
    _bool_file(cards / "fmnist-trades.per_image.npz", labels, clean=yes, worst_case=trades)
    _bool_file(cards / "fmnist-pgd-at.per_image.npz", labels, clean=yes, worst_case=yes)
    row = {r.key: r for r in claim_rows(zoo_dir=cards)}["zoo:fmnist-trades"]
    assert row.verdict == CONTRADICTED and "same 1,000 images" in row.reason and "0 vs 40 discordant" in row.reason


def test_kernel_claim_compares_transfer_with_white_box_on_the_same_model(tmp_path):
    """The kernel claim (robustness illusory: transfer fools it more than white-box PGD) is judged on the kernel's
    own two per-image evaluations, not against another model, and the audit's white-box flags do not pre-empt it."""
    cards = _copy_cards(tmp_path)
    labels = np.arange(1000) % 10
    white = np.zeros(1000, bool)
    white[:600] = True
    for transfer_robust, want in ((500, HOLDS), (700, CONTRADICTED), (603, INCONCLUSIVE)):
        t = np.zeros(1000, bool)
        t[:transfer_robust] = True
        _bool_file(cards / "fmnist-ntk-kernel.per_image.npz", labels, clean=np.ones(1000, bool), pgd20=white,
                   transfer_any=t)
        row = {r.key: r for r in claim_rows(zoo_dir=cards)}["zoo:fmnist-ntk-kernel"]
        assert row.verdict == want, row.reason
        assert "fmnist-ntk-kernel under pgd20" in row.reason and "under transfer_any" in row.reason
        assert row.control.startswith("fmnist-ntk-kernel")


def test_cost_sensitive_claim_needs_protection_without_pushing_others_in(tmp_path):
    """Protected classes more robust (holds), but other classes' images pushed into them far more often than by
    PGD-AT: the claim is contradicted, with each condition's verdict in the reason."""
    cards = _copy_cards(tmp_path)
    labels = np.arange(1000) % 10
    prot = np.isin(labels, (4, 6))
    base_wc = np.zeros(1000, bool)
    cs_wc = prot.copy()  # the protected images robust for the cost-sensitive model only
    out_base = np.ones(1000, bool)
    out_cs = np.ones(1000, bool)
    out_cs[~prot & (np.arange(1000) < 500)] = False  # 400 other images end in Coat/Shirt
    yes = np.ones(1000, bool)
    _bool_file(cards / "fmnist-cost-sensitive.per_image.npz", labels, clean=yes, worst_case=cs_wc,
               pgd20_not_into_protected=out_cs)
    _bool_file(cards / "fmnist-pgd-at.per_image.npz", labels, clean=yes, worst_case=base_wc,
               pgd20_not_into_protected=out_base)
    row = {r.key: r for r in claim_rows(zoo_dir=cards)}["zoo:fmnist-cost-sensitive"]
    assert row.verdict == CONTRADICTED
    assert "[holds here] worst case on the protected" in row.reason
    assert "[contradicted here] other classes' images kept out of Coat/Shirt" in row.reason
    assert "[holds here] clean accuracy" in row.reason  # equal clean accuracy: as good as


def test_segmentation_setting_is_judged_per_scene(tmp_path):
    from core.evaluation.claims.rows import segmentation_verdict
    card = tmp_path / "garment-unet.json"
    res = {k: {"miou": m} for k, m in (("clean", 0.6), ("clean, defended", 0.56), ("equivariance-aware: attacked", 0.2),
                                        ("equivariance-aware: defended", 0.38))}
    card.write_text(json.dumps({"equivariance": {"images": 30, "results": res}}))
    assert segmentation_verdict(card).word == NOT_MEASURED  # no per-scene file: no paired test
    attacked = np.linspace(0.1, 0.4, 30).astype(np.float32)
    for shift, want in ((0.1, HOLDS), (-0.1, CONTRADICTED), (0.0, INCONCLUSIVE)):
        defended = attacked + shift
        if shift == 0.0:
            defended = attacked.copy()
            defended[:3] += 0.05
            defended[3:6] -= 0.05
        per = PerImage(np.arange(30), np.zeros(30, np.int64),
                       values={"equivariance_aware_attacked__miou": attacked,
                               "equivariance_aware_defended__miou": defended.astype(np.float32)})
        per.save(tmp_path / "garment-unet.per_image.npz")
        v = segmentation_verdict(card)
        assert v.word == want, v.reason
        assert "of 30" in v.reason and "Wilcoxon p" in v.reason and "equivariance-aware attacker" in v.reason
    # a second adaptive attacker (BPDA through the purifier) that the defense does not beat: not "holds"
    res |= {"bpda: attacked": {"miou": 0.2}, "bpda: defended": {"miou": 0.2}}  # no "none: attacked": own control
    card.write_text(json.dumps({"equivariance": {"images": 30, "results": res}}))
    per = PerImage(np.arange(30), np.zeros(30, np.int64),
                   values={"equivariance_aware_attacked__miou": attacked,
                           "equivariance_aware_defended__miou": attacked + 0.1,
                           "bpda_attacked__miou": attacked, "bpda_defended__miou": attacked - 0.05})
    per.save(tmp_path / "garment-unet.per_image.npz")
    v = segmentation_verdict(card)
    assert v.word == CONTRADICTED and "[holds here] the paper's" in v.reason and "[contradicted here] BPDA" in v.reason


def test_segmentation_control_is_the_undefended_model_under_the_plain_attack(tmp_path):
    """With a plain (non-adaptive) attack on the card, each adaptive attacker's defended mIoU is compared with the
    undefended model under that attack, scene by scene — not with the adaptive examples read undefended."""
    from core.evaluation.claims.rows import segmentation_verdict
    card = tmp_path / "garment-unet.json"
    res = {k: {"miou": m} for k, m in (("clean", 0.6), ("clean, defended", 0.56), ("none: attacked", 0.15),
                                        ("none: defended", 0.4), ("bpda: attacked", 0.3), ("bpda: defended", 0.25))}
    card.write_text(json.dumps({"equivariance": {"images": 30, "results": res}}))
    low = np.linspace(0.05, 0.25, 30).astype(np.float32)
    per = PerImage(np.arange(30), np.zeros(30, np.int64),
                   values={"none_attacked__miou": low, "bpda_attacked__miou": low + 0.2,
                           "bpda_defended__miou": low + 0.1})
    per.save(tmp_path / "garment-unet.per_image.npz")
    v = segmentation_verdict(card)
    # defended (low + 0.1) is below the BPDA examples read undefended (low + 0.2) but above no defense (low)
    assert v.word == HOLDS and "0.250 with the defense against 0.150 without it" in v.reason
    assert "higher on 30, lower on 0 of 30" in v.reason
