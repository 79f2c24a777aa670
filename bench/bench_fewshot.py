"""Few-shot segmenters: one episode's forward+backward pass per model against the prototype CNN's,
and PGD-10 against its floor (10 forward+backward passes), measured in one run.

For each model (the shipped seed-0 weights, or a fresh initialisation where none is shipped; the
timing does not depend on the weights except for dopri5, whose step count does): one 1-shot
episode (support + query, 64×64) -> the query's logits -> CE to its mask -> gradient with respect
to the query; PGD-10 is Dense PGD on the query (10 steps, ε = 0.035) through
:class:`core.attacks.dense.fewshot.EpisodeAttackModel`, whose support features are computed once; the
floor is 10 of the wrapper's forward+backward passes. Repeats are interleaved (models taking turns)
and medians printed.

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_fewshot.py [--repeats 3] [--episodes 8]
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from core.attacks.base import ThreatModel  # noqa: E402
from core.attacks.dense.pgd import DensePGD  # noqa: E402
from core.attacks.dense.fewshot import EpisodeAttackModel  # noqa: E402
from core.data.fewshot_episodes import load_episodes  # noqa: E402
from core.train.fewshot import KINDS, TITLES, build, load, weights_path  # noqa: E402


def models() -> dict[str, torch.nn.Module]:
    out = {}
    for k in KINDS:
        torch.manual_seed(0)
        m = load(k, 0) if weights_path(k, 0).exists() else build(k).eval()
        out[TITLES[k]] = m
        if hasattr(m, "with_solver"):
            out[f"{TITLES[k]}, dopri5"] = m.with_solver("dopri5")
    return out


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--episodes", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(1)
    ep = load_episodes().subset(slice(0, a.episodes))
    ms = models()
    tm = ThreatModel(norm="linf", eps=0.035, step=0.035 / 4, steps=10, random_start=True)
    times: dict[str, dict[str, list[float]]] = {t: {"pass": [], "pgd": [], "floor": []} for t in ms}

    def one_pass(m):
        q = ep.query.clone().requires_grad_(True)
        loss = F.cross_entropy(m(ep.support, ep.support_mask, q), ep.query_mask)
        torch.autograd.grad(loss, q)

    def floor(f):
        for _ in range(10):
            q = ep.query.clone().requires_grad_(True)
            torch.autograd.grad(F.cross_entropy(f(q), ep.query_mask), q)

    for _ in range(a.repeats):
        for t, m in ms.items():
            f = EpisodeAttackModel(m, ep.support, ep.support_mask, ep.query, "query").eval()
            times[t]["pass"].append(timed(lambda: one_pass(m)))
            times[t]["pgd"].append(timed(lambda: DensePGD(tm).run(f, ep.query, ep.query_mask, num_classes=2)))
            times[t]["floor"].append(timed(lambda: floor(f)))
    cnn = statistics.median(times[TITLES["proto"]]["pass"])
    print(f"{platform.processor() or platform.machine()}, torch {torch.__version__}, 1 thread, "
          f"{a.episodes} episode(s), median of {a.repeats}; load {os.getloadavg()[0]:.1f}")
    print("| model | pass ms | pass / CNN | PGD-10 ms | floor ms (10 passes) | PGD-10 / floor |")
    print("|---|---|---|---|---|---|")
    for t in ms:
        p, g, fl = (statistics.median(times[t][k]) * 1000 for k in ("pass", "pgd", "floor"))
        print(f"| {t} | {p:.0f} | {p / cnn / 1000:.2f} | {g:.0f} | {fl:.0f} | {g / fl:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
