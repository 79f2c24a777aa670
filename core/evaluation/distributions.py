"""Robustness distributions: each image's smallest flipping ε (L∞) under the worst-case ensemble, its
empirical CDF (robust accuracy against ε, with a band), the median with an order-statistic interval,
and paired comparisons of two models on the same images.

After VERONA (Bosman et al., "Robustness distributions in neural network verification", JAIR 2025):
per input, the smallest budget at which an attack (here) or a verifier flips the prediction; the
distribution, not one ε, tells models apart, in particular models that all sit at 0 % at the usual ε.

**How the smallest ε is found: an ascending grid with carry-over**, not bisection. At each grid ε the
project's worst-case ensemble (:func:`core.evaluation.ensemble.worst_case`: APGD-CE, targeted APGD-DLR,
Square; the "rand" version with EOT for randomized models) attacks only the images no smaller ε has
fooled; an image fooled at ε_j is fooled at every larger ε (its adversarial example lies inside the
larger ball). Why a grid: every image shares one batched ensemble run per grid point, the card's ε is
a grid point (so the curve at that ε *is* a worst case measured with the card's own ensemble), and the
per-image value is an exact statement ("fooled at ε_k, not at ε_(k−1) by this ensemble") rather than
a bisection interval that depends on the attack's randomness at each probe. The value is an upper bound
on the true distance (a stronger attack could flip the image at a smaller ε); ``inf`` means the
ensemble never flipped it up to the grid's top; ``0`` means the clean prediction is already wrong.
Deviation: a grid of seven points resolves ε only to the grid's spacing.

The ECDF ``robust(ε) = #{min ε > ε} / n`` is robust accuracy against ε; its band is the exact
Clopper–Pearson interval at each point (:func:`core.judging.stats.accuracy_interval`). The median's
interval is the distribution-free order-statistic interval (binomial ranks). Two models on the same
images: the Wilcoxon signed-rank test on the per-image values (scipy.stats.wilcoxon, zero differences
dropped — Wilcoxon's own treatment; ``inf`` ranks above every finite value) and the sign test.
"""
from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy import stats as sps
from torch import nn

from core.evaluation.ensemble import EnsembleConfig, worst_case
from core.judging.claims import fmt_p
from core.judging.stats import accuracy_interval
from core.runtime.progress import ProgressFn, report

# The zoo's grid (L∞ on [0, 1] Fashion-MNIST pixels); 0.1 is the cards' ε.
ZOO_GRID = (0.02, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3)


def robust_beyond(min_eps, eps: float) -> np.ndarray:
    """Per image: not flipped at ``eps`` (its smallest flipping ε lies above it). The values are stored as
    float32, so a grid value equal to ``eps`` is compared with a relative tolerance, not bit for bit."""
    return np.asarray(min_eps, dtype=np.float64) > float(eps) * (1 + 1e-5) + 1e-9


@dataclass
class GridResult:
    """Per image the smallest grid ε that flipped it, and the worst case at each grid ε."""

    grid: tuple[float, ...]
    min_eps: np.ndarray  # float32 per image: 0 (clean wrong), a grid value, or inf
    found_by: dict[float, list[str]]  # grid ε -> per image the attack that fooled it (by that ε)
    seconds: dict[float, float]

    def robust_at(self, eps: float) -> np.ndarray:
        return robust_beyond(self.min_eps, eps)


def min_eps_grid(model: nn.Module, x: torch.Tensor, y: torch.Tensor, grid: Sequence[float] = ZOO_GRID, *,
                 config: EnsembleConfig | None = None, seed: int = 0, progress: ProgressFn = None,
                 batch_size: int = 250) -> GridResult:
    """Each image's smallest flipping ε on ``grid`` (ascending) by the worst-case ensemble ``config``
    (its ``eps`` replaced by each grid value), attacking at each ε only the images not yet fooled."""
    grid = tuple(sorted(float(e) for e in grid))
    cfg0 = config or EnsembleConfig()
    n = len(y)
    min_eps = np.full(n, np.inf, dtype=np.float32)
    found: dict[float, list[str]] = {}
    seconds: dict[float, float] = {}
    alive = np.ones(n, dtype=bool)  # not yet shown wrong (clean) or fooled
    who = [""] * n
    for k, eps in enumerate(grid):
        t0 = time.perf_counter()
        idx = np.nonzero(alive)[0]
        if len(idx):
            cfg = dataclasses.replace(cfg0, eps=eps)
            res = worst_case(model, x[idx], y[idx], cfg, seed=seed, batch_size=batch_size)
            for j, i in enumerate(idx):
                if not bool(res.clean_correct[j]):
                    min_eps[i], alive[i], who[i] = 0.0, False, "clean"
                elif not bool(res.robust[j]):
                    min_eps[i], alive[i], who[i] = eps, False, res.found_by[j]
        found[eps] = list(who)
        seconds[eps] = round(time.perf_counter() - t0, 1)
        report(progress, k + 1, len(grid), f"ε = {eps:g}: {int(alive.sum())} of {n} still robust")
    return GridResult(grid=grid, min_eps=min_eps, found_by=found, seconds=seconds)


def ecdf(min_eps: np.ndarray, eps_points: Sequence[float]) -> list[dict]:
    """Robust accuracy against ε from per-image smallest flipping ε: [{"eps", "robust", "n", "accuracy",
    "ci95"}] (robust: the images whose smallest flipping ε exceeds that ε)."""
    v = np.asarray(min_eps, dtype=np.float64)
    out = []
    for e in eps_points:
        k = int(robust_beyond(v, e).sum())
        iv = accuracy_interval(k, len(v))
        out.append({"eps": float(e), "robust": k, "n": len(v), "accuracy": round(k / len(v), 4),
                    "ci95": iv.as_list()})
    return out


def median_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """(median, lo, hi): the sample median and the distribution-free order-statistic interval for the
    population median (ranks from Binomial(n, ½); exact coverage ≥ ``level``). Values may be inf."""
    v = np.sort(np.asarray(values, dtype=np.float64))
    n = len(v)
    if n == 0:
        raise ValueError("no values")
    med = float(np.median(v)) if np.isfinite(v).all() or n % 2 else float(v[n // 2])
    alpha = 1 - level
    # the largest j with P(Bin(n, 1/2) < j) <= alpha/2: the interval is [v_(j), v_(n+1-j)] (1-based)
    j = int(sps.binom.ppf(alpha / 2, n, 0.5))
    while j > 0 and sps.binom.cdf(j - 1, n, 0.5) > alpha / 2:
        j -= 1
    j = max(j, 1)
    lo, hi = float(v[j - 1]), float(v[n - j])
    return med, lo, hi


@dataclass(frozen=True)
class PairedDistribution:
    """Model A against model B on the same images, per-image smallest flipping ε."""

    n: int
    a_larger: int  # images where A needs a larger ε than B
    b_larger: int
    ties: int
    wilcoxon_p: float  # two-sided signed-rank test (zero differences dropped)
    sign_p: float  # two-sided sign test on the untied images
    median_a: float
    median_b: float

    def line(self, name_a: str = "A", name_b: str = "B") -> str:
        return (f"per-image smallest budget: {name_a} larger on {self.a_larger}, {name_b} larger on {self.b_larger}, "
                f"{self.ties} tied of {self.n}; Wilcoxon signed-rank p = {fmt_p(self.wilcoxon_p)}")


def paired_distribution(a: np.ndarray, b: np.ndarray) -> PairedDistribution:
    """Paired comparison of per-image smallest ε (``inf`` ranks above every finite value)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError("paired values need the same images")
    top = max(np.nanmax(np.where(np.isfinite(a), a, 0)), np.nanmax(np.where(np.isfinite(b), b, 0)), 1.0)
    fa, fb = np.where(np.isfinite(a), a, 2 * top), np.where(np.isfinite(b), b, 2 * top)
    d = fa - fb
    a_larger, b_larger = int((d > 0).sum()), int((d < 0).sum())
    ties = len(d) - a_larger - b_larger
    if a_larger + b_larger == 0:
        w_p = s_p = 1.0
    else:
        w_p = float(sps.wilcoxon(fa, fb, zero_method="wilcox", alternative="two-sided").pvalue)
        s_p = float(sps.binomtest(a_larger, a_larger + b_larger, 0.5).pvalue)
    return PairedDistribution(n=len(d), a_larger=a_larger, b_larger=b_larger, ties=ties, wilcoxon_p=w_p,
                              sign_p=s_p, median_a=median_interval(a)[0], median_b=median_interval(b)[0])


def distribution_block(min_eps: np.ndarray, grid: Sequence[float], *, card_eps: float, attacks: str,
                       seconds: dict[float, float] | None = None, command: str = "") -> dict:
    """The card's ``distribution`` block: the ECDF on the grid with its band, the median with its
    interval, and how it was measured."""
    med, lo, hi = median_interval(min_eps)
    return {"metric": "smallest flipping ε per image (L∞), an upper bound on the true distance",
            "method": "ascending grid with carry-over (core/evaluation/distributions.py)", "attacks": attacks,
            "grid": [float(e) for e in grid], "n": int(len(min_eps)), "card_eps": float(card_eps),
            "ecdf": ecdf(min_eps, [0.0, *grid]),
            "median": {"value": _num(med), "interval95": [_num(lo), _num(hi)]},
            "seconds": {str(k): v for k, v in (seconds or {}).items()},
            "total_seconds": round(sum((seconds or {}).values()), 1), "command": command}


def _num(v: float) -> float | str:
    return round(float(v), 4) if math.isfinite(v) else "inf"


__all__ = ["GridResult", "robust_beyond", "PairedDistribution", "ZOO_GRID", "distribution_block", "ecdf",
           "median_interval", "min_eps_grid", "paired_distribution"]
