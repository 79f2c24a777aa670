"""Cost of a robustness distribution against the worst case it generalises, measured in one run.

For each zoo model: the card's worst-case ensemble at ε = 0.1 (APGD-CE and targeted APGD-DLR, 50 iterations, 3
targets, Square 1,000 queries) on n subset images, then the distribution's grid
(tools/per_image_zoo.py's configuration: 7 grid points, APGD-CE and APGD-DLR on the top other class, 25
iterations, no Square) on the same images, in the same process and thread count. Prints seconds and the
ratio distribution / worst case.

    OMP_NUM_THREADS=1 PYTHONPATH=. .venv/bin/python bench/bench_distributions.py --n 100 fmnist-standard fmnist-pgd-at
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import torch  # noqa: E402

from core.data.fashion_mnist import load_test_subset, to_float  # noqa: E402
from core.evaluation.distributions import ZOO_GRID, min_eps_grid  # noqa: E402
from core.evaluation.ensemble import EnsembleConfig, worst_case  # noqa: E402
from core.models.zoo.catalogue import load_zoo_model  # noqa: E402

CARD = EnsembleConfig(norm="linf", eps=0.1, apgd_steps=50, n_targets=3, square_queries=1000, square_p_init=0.8)
GRID = EnsembleConfig(norm="linf", eps=0.1, apgd_steps=25, n_targets=1, square_queries=0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("models", nargs="+")
    ap.add_argument("--n", type=int, default=100)
    args = ap.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    x, y, _ = load_test_subset()
    x, y = to_float(x)[:args.n], y[:args.n].long()
    print(f"{platform.processor() or platform.machine()}, torch {torch.__version__}, {torch.get_num_threads()} "
          f"thread(s), {args.n} images, load {os.getloadavg()[0]:.1f}")
    print(f"{'model':<24}{'worst case s':>14}{'distribution s':>16}{'ratio':>8}{'robust@0.1 wc/grid':>22}")
    for name in args.models:
        model = load_zoo_model(name)
        t0 = time.perf_counter()
        wc = worst_case(model, x, y, CARD, seed=0)
        t_wc = time.perf_counter() - t0
        t0 = time.perf_counter()
        g = min_eps_grid(model, x, y, ZOO_GRID, config=GRID, seed=0)
        t_g = time.perf_counter() - t0
        print(f"{name:<24}{t_wc:>14.1f}{t_g:>16.1f}{t_g / t_wc:>8.2f}{int(wc.robust.sum()):>14}/{int(g.robust_at(0.1).sum())}")


if __name__ == "__main__":
    main()
