"""The Claims page's verdict rules, in one place: what a paper's claim may be called, given paired
per-image results of the claimed model and its matched control, the training-seed spread and the
audit.

Verdicts (each comes with one line holding the numbers behind it):

* **holds here** — the claim's comparison is significant in the claimed direction on the same images
  (exact McNemar on the discordant images, two-sided α = 0.05), and larger than the spread between
  training seeds where both models have several seeds; for an "as good as" (non-inferiority) claim:
  the 95 % interval of the paired difference (claimed − control) lies wholly above −margin;
* **contradicted here** — significant in the opposite direction (the control is better), or for a
  non-inferiority claim the interval lies wholly below −margin;
* **inconclusive** — neither; the line says about how many images would tell a difference of the size
  the paper claims (:func:`paired_n`, Connor 1987: n ≈ (z₀.₉₇₅√ψ + z₀.₈√(ψ − Δ²))² / Δ², ψ the share of
  discordant images), or that the difference is within the seed spread;
* **holds only against weak attacks** — the claim's number comes from a weak attack: a single attack's
  interval lies wholly above the worst case's on the same images;
* **gradient masking found** — the audit flags a masking sign *and* that gap is real;
* **not measured yet** — a file the rule needs is missing.

A claim with two conditions (clean *and* robust accuracy, say) holds when every condition holds, is
contradicted when one is contradicted, and is inconclusive otherwise. Overlapping intervals of two
accuracies are never evidence of equality here: "as good as" is the non-inferiority rule above.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from core.judging.stats import Interval, SeedSpread, differs_beyond_seeds, mcnemar_p

HOLDS = "holds here"
CONTRADICTED = "contradicted here"
INCONCLUSIVE = "inconclusive"
WEAK_ONLY = "holds only against weak attacks"
MASKING = "gradient masking found"
NOT_MEASURED = "not measured yet"
VERDICTS = (HOLDS, CONTRADICTED, INCONCLUSIVE, WEAK_ONLY, MASKING, NOT_MEASURED)
VERDICT_ICON = {HOLDS: "✅", CONTRADICTED: "❌", INCONCLUSIVE: "➖", WEAK_ONLY: "❗", MASKING: "⚠️",
                NOT_MEASURED: "⏳"}

ALPHA = 0.05
POWER = 0.8
NONINFERIORITY_MARGIN = 0.03  # "as good as": the claimed model may be at most 3 points worse
DEFAULT_EFFECT = 0.05  # the difference a power statement is sized for when the paper gives none


@dataclass(frozen=True)
class Verdict:
    """A verdict word and the one line of numbers behind it."""

    word: str
    reason: str


@dataclass(frozen=True)
class Paired:
    """Claimed model (A) against its control (B) on the same n images."""

    n: int
    a_correct: int
    b_correct: int
    only_a: int  # A right, B wrong
    only_b: int  # A wrong, B right

    @property
    def difference(self) -> float:
        """acc(A) − acc(B) = (only_a − only_b) / n."""
        return (self.only_a - self.only_b) / self.n if self.n else 0.0

    @property
    def discordant_share(self) -> float:
        return (self.only_a + self.only_b) / self.n if self.n else 0.0

    @property
    def p_value(self) -> float:
        return mcnemar_p(self.only_a, self.only_b)

    def interval(self, level: float = 0.95) -> tuple[float, float]:
        """Interval of the paired difference, exact conditional on the discordant count m = only_a +
        only_b: only_a ~ Binomial(m, π) with a Clopper–Pearson interval for π, and the difference is
        (m / n)(2π − 1)."""
        m = self.only_a + self.only_b
        if m == 0:
            return 0.0, 0.0
        ci = sps.binomtest(self.only_a, m).proportion_ci(level, method="exact")
        scale = m / self.n
        return scale * (2 * ci.low - 1), scale * (2 * ci.high - 1)

    def line(self, a: str, b: str, what: str) -> str:
        lo, hi = self.interval()
        return (f"{what}: {a} {100 * self.a_correct / self.n:.1f} % vs {b} {100 * self.b_correct / self.n:.1f} % "
                f"on the same {self.n:,} images, difference {100 * self.difference:+.1f} points "
                f"(95 % {100 * lo:+.1f} to {100 * hi:+.1f}), {self.only_a} vs {self.only_b} discordant, "
                f"McNemar p = {fmt_p(self.p_value)}")


def paired(a: Sequence[bool], b: Sequence[bool]) -> Paired:
    """Paired outcome counts of per-image correctness vectors ``a`` (claimed) and ``b`` (control)."""
    a = np.asarray(a, dtype=bool)
    b = np.asarray(b, dtype=bool)
    if a.shape != b.shape:
        raise ValueError("paired outcomes need the same images")
    return Paired(int(a.size), int(a.sum()), int(b.sum()), int((a & ~b).sum()), int((~a & b).sum()))


def fmt_p(p: float) -> str:
    return "1" if p >= 0.9995 else (f"{p:.3f}" if p >= 0.001 else f"{p:.1e}")


def paired_n(psi: float, delta: float, alpha: float = ALPHA, power: float = POWER) -> int:
    """Images needed for an exact-McNemar-style paired test to detect a difference ``delta`` when a share
    ``psi`` of images is discordant (Connor 1987): n = (z_(1−α/2)√ψ + z_power√(ψ − Δ²))² / Δ²."""
    delta = abs(float(delta))
    if delta <= 0:
        raise ValueError("delta must be non-zero")
    psi = max(float(psi), delta)  # at least |Δ| of the images must be discordant for a difference Δ
    za, zb = sps.norm.ppf(1 - alpha / 2), sps.norm.ppf(power)
    return math.ceil((za * math.sqrt(psi) + zb * math.sqrt(max(psi - delta ** 2, 0.0))) ** 2 / delta ** 2)


def unpaired_n(p1: float, p2: float, alpha: float = ALPHA, power: float = POWER) -> int:
    """Images per arm to tell two independent proportions apart: (z_(1−α/2) + z_power)²(p₁q₁ + p₂q₂)/Δ²."""
    delta = abs(p1 - p2)
    if delta <= 0:
        raise ValueError("the proportions must differ")
    za, zb = sps.norm.ppf(1 - alpha / 2), sps.norm.ppf(power)
    return math.ceil((za + zb) ** 2 * (p1 * (1 - p1) + p2 * (1 - p2)) / delta ** 2)


def _power_words(t: Paired, effect: float | None, what: str = "the paper's claimed difference",
                 exclusion: bool = True) -> str:
    delta = effect if effect else max(abs(t.difference), DEFAULT_EFFECT)
    psi = t.discordant_share if t.discordant_share > 0 else 2 * delta
    need = paired_n(psi, delta)
    src = what if effect else ("the observed difference" if abs(t.difference) >= DEFAULT_EFFECT else "a difference")
    if need <= t.n:
        words = (f"these {t.n:,} images have 80 % power for {src} of {100 * delta:.1f} points (about {need:,} "
                 "would do), and it is not seen")
    else:
        words = f"about {need:,} paired images would tell {src} of {100 * delta:.1f} points (80 % power)"
    if exclusion and effect and t.interval()[1] < effect:
        words += (f"; these {t.n:,} images already exclude a gain as large as the paper's {100 * effect:.1f} points "
                  f"(the interval ends at {100 * t.interval()[1]:+.1f})")
    return words


def superiority(t: Paired, a: str, b: str, what: str, *, effect: float | None = None,
                seeds: tuple[SeedSpread, SeedSpread] | None = None) -> Verdict:
    """"A is better than B" judged on paired outcomes (see module docstring)."""
    line = t.line(a, b, what)
    significant = t.p_value < ALPHA
    if significant and t.difference < 0:
        if seeds is not None and not differs_beyond_seeds(*seeds):
            return Verdict(INCONCLUSIVE, f"{line}; worse, but within the training-seed spread ({a} {seeds[0].pct()}, "
                                         f"{b} {seeds[1].pct()})")
        return Verdict(CONTRADICTED, f"{line}: significant in the opposite direction to the claim"
                       + (f", beyond the seed spread ({a} {seeds[0].pct()}, {b} {seeds[1].pct()})" if seeds else ""))
    if significant and t.difference > 0:
        if seeds is not None and not differs_beyond_seeds(*seeds):
            return Verdict(INCONCLUSIVE, f"{line}; but within the training-seed spread ({a} {seeds[0].pct()}, "
                                         f"{b} {seeds[1].pct()})")
        return Verdict(HOLDS, line)
    return Verdict(INCONCLUSIVE, f"{line}; not significant: {_power_words(t, effect)}")


def non_inferiority(t: Paired, a: str, b: str, what: str, margin: float = NONINFERIORITY_MARGIN) -> Verdict:
    """"A is as good as B": the interval of acc(A) − acc(B) against −margin (stated in advance)."""
    lo, hi = t.interval()
    line = f"{t.line(a, b, what)}; margin −{100 * margin:.0f} points"
    if lo > -margin:
        return Verdict(HOLDS, f"{line}: the whole interval lies above it")
    if hi < -margin:
        return Verdict(CONTRADICTED, f"{line}: the whole interval lies below it")
    return Verdict(INCONCLUSIVE, f"{line}: the interval straddles it ({_power_words(t, margin, 'a difference the size of the margin', False)})")


def weak_only(single: Interval, worst: Interval) -> bool:
    """A single attack overstates robustness: its interval lies wholly above the worst case's."""
    return single.lo > worst.hi


def combine(parts: Sequence[Verdict]) -> Verdict:
    """Several conditions of one claim: holds if all hold, contradicted if any is, else inconclusive."""
    if not parts:
        return Verdict(NOT_MEASURED, "no condition measured")
    words = [p.word for p in parts]
    reason = "; ".join(f"[{p.word}] {p.reason}" for p in parts) if len(parts) > 1 else parts[0].reason
    if NOT_MEASURED in words:
        return Verdict(NOT_MEASURED, reason)
    if CONTRADICTED in words:
        return Verdict(CONTRADICTED, reason)
    if all(w == HOLDS for w in words):
        return Verdict(HOLDS, reason)
    return Verdict(INCONCLUSIVE, reason)


__all__ = ["ALPHA", "CONTRADICTED", "DEFAULT_EFFECT", "HOLDS", "INCONCLUSIVE", "MASKING", "NONINFERIORITY_MARGIN",
           "NOT_MEASURED", "POWER", "Paired", "VERDICTS", "VERDICT_ICON", "Verdict", "WEAK_ONLY", "combine",
           "fmt_p", "non_inferiority", "paired", "paired_n", "superiority", "unpaired_n", "weak_only"]
