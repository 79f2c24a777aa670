"""How sure a number is: intervals for accuracies, paired comparisons, spread over training seeds.

Every robust or clean accuracy the project quotes is a count k of n images. Three functions say
how much such a number can be trusted:

* :func:`accuracy_interval` — the exact (Clopper–Pearson) two-sided 95 % interval of k/n, via
  ``scipy.stats.binomtest(k, n).proportion_ci(0.95, "exact")``: 644/1000 → 61.3–67.4 %. It is
  conservative (coverage ≥ 95 % for every true accuracy), which is what a robustness claim needs.
  The certification code uses the same construction for its lower bound p̲A.
* :func:`paired_difference` — two models or defenses evaluated **on the same images**: the exact
  McNemar test on the discordant images (b images right for A only, c for B only):
  p = min(1, 2·P[Binom(b + c, ½) ≤ min(b, c)]). Pairing is much more sensitive than comparing
  two independent intervals, and is the right test when the images are shared.
* :func:`seed_spread` — the same recipe trained with several seeds: each value, the mean and
  the range (min..max). A difference between two methods that is smaller than either method's
  seed range is not a finding (:func:`differs_beyond_seeds`).

Card convention (written by the tools, read by the pages, the reports and the Claims page): an
accuracy is a dict ``{"accuracy", "correct", "n", "ci95": [lo, hi]}``; :func:`with_interval`
adds ``ci95`` to a dict with ``correct`` and ``n``. A seeds block is
``{"shipped_seed", "seeds": [...], "runs": [{"seed", <metric>: accuracy dict}], "spread":
{<metric>: seed_spread(...).as_dict()}}``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from collections.abc import Iterable, Sequence

import torch
from scipy.stats import binom, binomtest

LEVEL = 0.95


@dataclass(frozen=True)
class Interval:
    """k of n with its exact two-sided interval at ``level``."""

    k: int
    n: int
    lo: float
    hi: float
    level: float = LEVEL

    @property
    def p(self) -> float:
        """The point estimate k/n (0 for n = 0)."""
        return self.k / self.n if self.n else 0.0

    def as_list(self) -> list[float]:
        return [round(self.lo, 4), round(self.hi, 4)]

    def pct(self, digits: int = 1) -> str:
        """``"64.4 % (61.3–67.4, n = 1,000)"``."""
        if not self.n:
            return "— (n = 0)"
        return (f"{100 * self.p:.{digits}f} % ({100 * self.lo:.{digits}f}–{100 * self.hi:.{digits}f}, "
                f"n = {self.n:,})")

    def short(self, digits: int = 1) -> str:
        """``"61.3–67.4"`` (percent)."""
        return f"{100 * self.lo:.{digits}f}–{100 * self.hi:.{digits}f}" if self.n else "—"


def accuracy_interval(k: int, n: int, level: float = LEVEL) -> Interval:
    """Clopper–Pearson interval of k successes in n trials (n = 0: the whole [0, 1])."""
    k, n = int(k), int(n)
    if n < 0 or not 0 <= k <= max(n, 0):
        raise ValueError(f"need 0 ≤ k ≤ n, got k = {k}, n = {n}")
    if not 0 < level < 1:
        raise ValueError("level must be in (0, 1)")
    if n == 0:
        return Interval(0, 0, 0.0, 1.0, level)
    ci = binomtest(k, n).proportion_ci(confidence_level=level, method="exact")
    return Interval(k, n, float(ci.low), float(ci.high), level)


def interval_note(n: int, level: float = LEVEL) -> str:
    """What n images can tell: the widest interval at this n (k = n/2) and the weight of one image."""
    if n <= 0:
        return "No images: no interval."
    iv = accuracy_interval(n // 2, n, level)
    return (f"On {n:,} image{'s' if n != 1 else ''} one image is {100 / n:.3g} points and a {int(level * 100)} % "
            f"interval can be {100 * (iv.hi - iv.lo):.0f} points wide (exact Clopper–Pearson): differences inside "
            "it are not findings.")


def count_of(rate: float, n: int) -> int:
    """The count k behind a rate k/n stored as a float (k = round(rate·n), checked to be exact)."""
    k = round(float(rate) * int(n))
    if abs(k - float(rate) * int(n)) > 1e-6 * max(int(n), 1):
        raise ValueError(f"{rate!r} is not a count out of {n}")
    return int(k)


def rate_interval(rate: float, n: int, level: float = LEVEL) -> Interval:
    """The interval of a rate stored as a float over n items (:func:`count_of`)."""
    return accuracy_interval(count_of(rate, n), n, level)


def with_interval(d: dict, level: float = LEVEL) -> dict:
    """``d`` (with ``correct`` and ``n``) plus ``ci95``: the interval of its accuracy."""
    iv = accuracy_interval(d["correct"], d["n"], level)
    return {**d, "ci95": iv.as_list()}


def interval_of(d: dict) -> Interval:
    """The interval of an accuracy dict (``correct``/``n``, or ``robust``/``n`` as worst-case
    summaries keep it)."""
    k = d["correct"] if "correct" in d else d["robust"]
    return accuracy_interval(k, d["n"])


@dataclass(frozen=True)
class PairedTest:
    """Two accuracies on the same n images: A right / B wrong (b), A wrong / B right (c)."""

    n: int
    a_correct: int
    b_correct: int
    only_a: int  # b in McNemar's notation
    only_b: int  # c
    p_value: float
    level: float = LEVEL

    @property
    def significant(self) -> bool:
        return self.p_value < 1 - self.level

    @property
    def difference(self) -> float:
        """acc(A) − acc(B)."""
        return (self.a_correct - self.b_correct) / self.n if self.n else 0.0

    def verdict(self, a: str = "A", b: str = "B") -> str:
        """A sentence a page can show."""
        d = 100 * self.difference
        if not self.significant:
            return (f"{a} and {b} do not differ significantly on these {self.n:,} images "
                    f"({d:+.1f} points; exact McNemar p = {self.p_value:.2g}).")
        better, worse = (a, b) if d > 0 else (b, a)
        return (f"{better} is significantly more accurate than {worse} on these {self.n:,} images "
                f"({abs(d):.1f} points; exact McNemar p = {self.p_value:.2g}).")

    def as_dict(self) -> dict:
        return {**asdict(self), "significant": self.significant}


def mcnemar_p(b: int, c: int) -> float:
    """Exact two-sided McNemar p-value from the discordant counts: min(1, 2·P[Binom(b+c, ½) ≤ min(b, c)])."""
    b, c = int(b), int(c)
    if b < 0 or c < 0:
        raise ValueError("discordant counts must be ≥ 0")
    if b + c == 0:
        return 1.0
    return float(min(1.0, 2.0 * binom.cdf(min(b, c), b + c, 0.5)))


def paired_difference(correct_a: Sequence[bool] | torch.Tensor, correct_b: Sequence[bool] | torch.Tensor,
                      level: float = LEVEL) -> PairedTest:
    """Exact McNemar test of two per-image correctness vectors on the same images."""
    a = torch.as_tensor(correct_a).bool().flatten()
    b = torch.as_tensor(correct_b).bool().flatten()
    if a.shape != b.shape:
        raise ValueError(f"paired comparison needs the same images: {a.numel()} vs {b.numel()} results")
    only_a, only_b = int((a & ~b).sum()), int((~a & b).sum())
    return PairedTest(int(a.numel()), int(a.sum()), int(b.sum()), only_a, only_b, mcnemar_p(only_a, only_b), level)


@dataclass(frozen=True)
class SeedSpread:
    """One number over several training seeds."""

    seeds: tuple[int, ...]
    values: tuple[float, ...]

    @property
    def mean(self) -> float:
        return sum(self.values) / len(self.values)

    @property
    def lo(self) -> float:
        return min(self.values)

    @property
    def hi(self) -> float:
        return max(self.values)

    @property
    def range(self) -> float:
        return self.hi - self.lo

    def as_dict(self) -> dict:
        return {"seeds": list(self.seeds), "values": [round(v, 4) for v in self.values], "mean": round(self.mean, 4),
                "min": round(self.lo, 4), "max": round(self.hi, 4), "range": round(self.range, 4)}

    def pct(self, digits: int = 1) -> str:
        """``"64.2 % (63.1–65.0 over 3 seeds)"``."""
        return (f"{100 * self.mean:.{digits}f} % ({100 * self.lo:.{digits}f}–{100 * self.hi:.{digits}f} "
                f"over {len(self.values)} seeds)")


def seed_spread(values: Iterable[float], seeds: Iterable[int] | None = None) -> SeedSpread:
    """The spread of ``values`` (one per seed; ``seeds`` default 0, 1, …)."""
    vals = tuple(float(v) for v in values)
    if not vals:
        raise ValueError("seed_spread needs at least one value")
    sd = tuple(int(s) for s in seeds) if seeds is not None else tuple(range(len(vals)))
    if len(sd) != len(vals):
        raise ValueError("one seed per value")
    return SeedSpread(sd, vals)


def spread_from_dict(d: dict) -> SeedSpread:
    """A :class:`SeedSpread` back from its ``as_dict()`` form (as cards keep it)."""
    return SeedSpread(tuple(d["seeds"]), tuple(d["values"]))


def differs_beyond_seeds(a: SeedSpread, b: SeedSpread) -> bool:
    """True when the two seed ranges do not overlap: the difference is larger than the spread
    between seeds (the project's rule for calling a difference between recipes a finding)."""
    return a.lo > b.hi or b.lo > a.hi
