"""core/judging/claims.py: each verdict rule on hand-made paired data, with exact values."""
from __future__ import annotations

import numpy as np
import pytest

from core.judging import claims as C
from core.judging.stats import accuracy_interval, seed_spread


def outcomes(both: int, only_a: int, only_b: int, neither: int) -> tuple[np.ndarray, np.ndarray]:
    a = [1] * both + [1] * only_a + [0] * only_b + [0] * neither
    b = [1] * both + [0] * only_a + [1] * only_b + [0] * neither
    return np.array(a, bool), np.array(b, bool)


def test_mcnemar_and_counts_on_a_known_table():
    t = C.paired(*outcomes(50, 10, 2, 38))
    assert (t.n, t.a_correct, t.b_correct, t.only_a, t.only_b) == (100, 60, 52, 10, 2)
    # 2·P[Bin(12, ½) ≤ 2] = 2·(1 + 12 + 66)/4096
    assert t.p_value == pytest.approx(158 / 4096, abs=1e-12)
    assert t.difference == pytest.approx(0.08)
    lo, hi = t.interval()
    assert lo < 0.08 < hi and lo > 0  # significant: the interval excludes 0


def test_power_formulas_on_known_cases():
    # Connor 1987 with ψ = 0.2, Δ = 0.1: (1.95996·√0.2 + 0.84162·√0.19)² / 0.01 = 154.6 → 155
    assert C.paired_n(0.2, 0.1) == 155
    # two independent proportions 0.5 vs 0.6: (1.95996 + 0.84162)²·(0.25 + 0.24)/0.01 = 384.6 → 385
    assert C.unpaired_n(0.5, 0.6) == 385
    with pytest.raises(ValueError):
        C.paired_n(0.2, 0.0)


def test_superiority_holds_contradicts_and_is_inconclusive():
    holds = C.superiority(C.paired(*outcomes(50, 10, 2, 38)), "A", "B", "worst case")
    assert holds.word == C.HOLDS and "p = 0.039" in holds.reason
    contra = C.superiority(C.paired(*outcomes(50, 2, 10, 38)), "A", "B", "worst case")
    assert contra.word == C.CONTRADICTED
    weak = C.superiority(C.paired(*outcomes(50, 6, 4, 40)), "A", "B", "worst case", effect=0.05)
    assert weak.word == C.INCONCLUSIVE
    # ψ = 0.1, Δ = 0.05: the power statement names the number of images
    # ψ = 0.1, Δ = 0.05 needs 289 images: more than these 100, so the line names the number
    assert f"about {C.paired_n(0.1, 0.05):,} paired images" in weak.reason


def test_a_significant_difference_within_the_seed_spread_is_not_a_finding():
    t = C.paired(*outcomes(50, 10, 2, 38))
    overlapping = (seed_spread([0.60, 0.55, 0.50]), seed_spread([0.52, 0.57, 0.49]))
    assert C.superiority(t, "A", "B", "x", seeds=overlapping).word == C.INCONCLUSIVE
    apart = (seed_spread([0.60, 0.61, 0.62]), seed_spread([0.52, 0.53, 0.51]))
    assert C.superiority(t, "A", "B", "x", seeds=apart).word == C.HOLDS


def test_non_inferiority_against_its_margin():
    # equal accuracy, few discordant images on many: the interval is inside ±3 points -> holds
    assert C.non_inferiority(C.paired(*outcomes(600, 10, 10, 380)), "A", "B", "x").word == C.HOLDS
    # clearly worse: 30 vs 100 discordant on 1,000 -> the interval lies below −3 points
    assert C.non_inferiority(C.paired(*outcomes(500, 30, 100, 370)), "A", "B", "x").word == C.CONTRADICTED
    # equal but noisy: 60 vs 60 discordant on 200 -> straddles −3 points
    v = C.non_inferiority(C.paired(*outcomes(40, 60, 60, 40)), "A", "B", "x")
    assert v.word == C.INCONCLUSIVE and "paired images" in v.reason


def test_weak_only_and_combine():
    assert C.weak_only(accuracy_interval(300, 1000), accuracy_interval(200, 1000))
    assert not C.weak_only(accuracy_interval(210, 1000), accuracy_interval(200, 1000))
    h, c, i = C.Verdict(C.HOLDS, "a"), C.Verdict(C.CONTRADICTED, "b"), C.Verdict(C.INCONCLUSIVE, "c")
    assert C.combine([h, h]).word == C.HOLDS
    assert C.combine([h, i]).word == C.INCONCLUSIVE
    assert C.combine([i, c, h]).word == C.CONTRADICTED
    assert C.combine([]).word == C.NOT_MEASURED
