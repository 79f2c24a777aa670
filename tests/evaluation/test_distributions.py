"""Per-image files (core/evaluation/per_image.py) and robustness distributions
(core/evaluation/distributions.py): the format round-trips without pickle, the grid finds a linear model's
exact smallest flipping ε, the ECDF and the order-statistic median, the paired test, and every shipped
card's distribution agrees with its worst case at the card's ε."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from scipy import stats as sps
from torch import nn

from core.evaluation.distributions import robust_beyond, ecdf, median_interval, min_eps_grid, paired_distribution
from core.evaluation.ensemble import EnsembleConfig
from core.evaluation.per_image import PerImage, load_for_card, paired_outcomes, path_for
from core.models.zoo.catalogue import ZOO


def test_per_image_round_trip_without_pickle(tmp_path):
    per = PerImage(np.array([3, 1, 2]), np.array([0, 1, 2]))
    per.add("clean", [True, True, False])
    per.add("worst_case", [True, False, False], found_by=["", "APGD-CE", "clean"])
    per.values["min_eps_linf"] = np.array([np.inf, 0.05, 0.0])
    path = per.save(path_for(tmp_path / "m.json"))
    assert path.name == "m.per_image.npz"
    with np.load(path, allow_pickle=False) as z:  # loads with no pickle: every array is plain
        assert int(z["format_version"]) == 1 and z["worst_case__found_by"].dtype.kind == "U"
    back = load_for_card(tmp_path / "m.json")
    assert back.accuracy("clean") == (2, 3) and list(back.found_by["worst_case"]) == ["", "APGD-CE", "clean"]
    assert np.isinf(back.values["min_eps_linf"][0])
    other = PerImage(np.array([2, 3]), np.array([2, 0]))
    other.add("clean", [True, False])
    a, b = paired_outcomes(back, "clean", other, "clean")  # aligned by image index: images 2 and 3
    assert list(a) == [False, True] and list(b) == [True, False]
    with pytest.raises(ValueError):
        PerImage(np.array([1, 1]), np.array([0, 0]))


class Linear2(nn.Module):
    """Two classes, logit difference w·x + b: the L∞ distance to the boundary is |w·x + b| / ‖w‖₁."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.linspace(-1, 1, 16).reshape(1, 1, 4, 4) + 0.3, requires_grad=False)
        self.b = -0.5

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = (x * self.w).sum((1, 2, 3)) + self.b
        return torch.stack([torch.zeros_like(z), z], 1)


def test_grid_finds_the_exact_smallest_flipping_eps_of_a_linear_model():
    torch.manual_seed(0)
    model = Linear2().eval()
    x = 0.4 + 0.2 * torch.rand(40, 1, 4, 4)  # the box [0, 1] is never reached within the grid
    with torch.no_grad():
        z = model(x)[:, 1]
    y = (z > 0).long()
    dist = (z.abs() / model.w.abs().sum()).numpy()
    grid = (0.005, 0.01, 0.02, 0.04, 0.08)
    res = min_eps_grid(model, x, y, grid, config=EnsembleConfig(eps=0.1, apgd_steps=10, n_targets=1,
                                                                square_queries=0))
    want = np.array([next((g for g in grid if g >= d), np.inf) for d in dist], dtype=np.float32)
    assert np.array_equal(res.min_eps, want)
    # the ECDF is robust accuracy against ε: at each grid point, the images farther than it
    for p in ecdf(res.min_eps, grid):
        assert p["robust"] == int((dist > p["eps"]).sum())


def test_median_interval_and_paired_test_on_hand_made_values():
    med, lo, hi = median_interval(np.arange(1, 101, dtype=float))
    # n = 100: the 95 % order-statistic interval is [x_(40), x_(61)]
    assert (med, lo, hi) == (50.5, 40.0, 61.0)
    a = np.array([0.1] * 30 + [0.05] * 10 + [np.inf] * 5)
    b = np.array([0.05] * 30 + [0.1] * 10 + [0.05] * 5)
    d = paired_distribution(a, b)
    assert (d.a_larger, d.b_larger, d.ties) == (35, 10, 0)
    assert d.wilcoxon_p < 0.01 and d.sign_p == pytest.approx(sps.binomtest(35, 45, 0.5).pvalue)
    assert paired_distribution(b, b).wilcoxon_p == 1.0


def test_every_shipped_distribution_agrees_with_its_card_worst_case():
    """At the card's ε the ECDF is a worst case measured with the ensemble's gradient attacks (25 iterations)
    on the first images; the card's own worst case (the full ensemble, 50 iterations and Square, on 1,000 images,
    an earlier run) must not differ from it significantly (Fisher's exact test, p ≥ 0.05), and the ECDF must
    equal the per-image file's count."""
    checked = 0
    for e in ZOO:
        if not e.card_path.exists():
            continue
        card = json.loads(e.card_path.read_text(encoding="utf-8"))
        dist = card.get("distribution")
        if not dist:
            continue
        wc = card["worst_case"][card["worst_case"].get("quoted_view", "as_shipped")]
        point = next(p for p in dist["ecdf"] if abs(p["eps"] - dist["card_eps"]) < 1e-9)
        table = [[point["robust"], point["n"] - point["robust"]], [wc["robust"], wc["n"] - wc["robust"]]]
        p = sps.fisher_exact(table).pvalue
        assert p >= 0.05, (e.name, point, wc["robust"], wc["n"], p)
        per = load_for_card(e.card_path)
        v = per.values["min_eps_linf"]
        assert int(robust_beyond(v[~np.isnan(v)], dist["card_eps"]).sum()) == point["robust"], e.name
        counts = card["per_image"]["counts"]
        sub = card["evaluation"]["subset"]
        # the per-image sums reproduce the card's counts (same attacks, seeds, batches and thread count); an
        # adaptive-step solver chooses its steps from rounding-sensitive error estimates: within 1 % there
        tol = 10 if e.arch.get("solver") == "dopri5" else 0
        for m in ("clean", "fgsm", "pgd20", "apgd_ce"):
            if m in counts and m in sub:
                assert abs(counts[m] - sub[m]["correct"]) <= tol, (e.name, m, counts[m], sub[m]["correct"])
        checked += 1
    assert checked >= 1
