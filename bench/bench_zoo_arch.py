"""Cost of the zoo's architectures: one forward+backward pass and PGD-10, against the CNN.

For every distinct architecture in the zoo's catalogue (one entry per architecture family and
variant of :mod:`core.models.zoo.catalogue` / :mod:`core.models.zoo.families`, whatever is registered when
this runs: the CNN and its variants, ZeroSNet, ResNet, the ViTs, the neural ODEs, …) it prints the
median time of

  * pass:  one forward+backward pass (the gradient of the cross-entropy w.r.t. the input, as an
    attack takes it) on a batch of 128 shipped test images, model in eval mode;
  * pass / CNN: that time over the CNN's (``fmnist-standard``);
  * PGD-10: ``core.attacks.PGD.perturb`` (L∞, ε = 0.1, step 0.025, random start) on the same batch;
  * floor: 10 such forward+backward passes; PGD-10 / floor is the attack engine's own overhead.

Models with shipped weights are loaded (an adaptive solver's cost depends on the trained field);
others are built fresh with seed 0 (marked). Repeats are interleaved over the models so that load
from other processes hits all alike. One thread unless ``--threads``.

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_zoo_arch.py [--repeats 5] [--batch 128]
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from core.attacks import PGD, ThreatModel  # noqa: E402
from core.models.zoo.catalogue import ZOO, build, load_zoo_model  # noqa: E402
from core.models.zoo.families import FAMILIES  # noqa: E402
from core.data import fashion_mnist as zdata  # noqa: E402

EPS, STEPS = 0.1, 10
REFERENCE = "fmnist-standard"


def distinct_architectures() -> list:
    """One zoo entry per (family, variant), in catalogue order; the CNN's reference first."""
    seen, out = set(), []
    for e in sorted(ZOO, key=lambda e: e.name != REFERENCE):
        key = (e.family, tuple(sorted((k, str(v)) for k, v in e.arch_overrides)))
        if key not in seen:
            seen.add(key)
            out.append(e)
    return out


def passes(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, n: int = 1) -> None:
    for _ in range(n):
        xi = x.clone().requires_grad_(True)
        loss = torch.nn.functional.cross_entropy(model(xi), y)
        torch.autograd.grad(loss, xi)


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    xs, ys, _ = zdata.load_test_subset()
    x, y = zdata.to_float(xs)[: args.batch], ys[: args.batch].long()
    models = {}
    for e in distinct_architectures():
        if e.weights_path.exists():
            m, origin = load_zoo_model(e.name), "shipped"
        else:
            torch.manual_seed(0)
            m, origin = build(e.name).eval(), "fresh (no weights yet)"
        for p in m.parameters():
            p.requires_grad_(False)
        variant = ", ".join(f"{k}={v}" for k, v in e.arch_overrides) or "default"
        models[e.name] = (m, f"{e.family} ({variant})", origin)
    pgd = PGD(ThreatModel("linf", EPS, 2.5 * EPS / STEPS, STEPS, random_start=True))
    t_pass = {n: [] for n in models}
    t_pgd = {n: [] for n in models}
    t_floor = {n: [] for n in models}
    for n, (m, _, _) in models.items():  # warm-up
        passes(m, x, y)
    for _ in range(args.repeats):
        for n, (m, _, _) in models.items():
            t_pass[n].append(timed(lambda: passes(m, x, y)))
            t_floor[n].append(timed(lambda: passes(m, x, y, STEPS)))
            t_pgd[n].append(timed(lambda: pgd.perturb(m, x, y, seed=0)))
    med = {n: statistics.median(v) for n, v in t_pass.items()}
    ref = med[REFERENCE]
    print(f"# zoo architectures: batch {args.batch} Fashion-MNIST 28×28, {args.threads} thread(s), torch "
          f"{torch.__version__}, {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load average {' / '.join(f'{v:.2f}' for v in os.getloadavg())}, median of {args.repeats}")
    print(f"# families registered: {', '.join(FAMILIES)}")
    print(f"{'model':24} {'architecture':34} {'params':>8} {'pass ms':>9} {'/ CNN':>6} {'PGD-10 ms':>10} "
          f"{'floor ms':>9} {'PGD/floor':>9}  weights")
    for n, (m, arch, origin) in models.items():
        pg, fl = statistics.median(t_pgd[n]), statistics.median(t_floor[n])
        print(f"{n:24} {arch:34} {sum(p.numel() for p in m.parameters()):8,} {1000 * med[n]:9.1f} "
              f"{med[n] / ref:6.2f} {1000 * pg:10.1f} {1000 * fl:9.1f} {pg / fl:9.2f}  {origin}")


if __name__ == "__main__":
    main()
