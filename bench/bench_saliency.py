"""Time of every saliency method at 224 px on EfficientNet-Lite0, against one forward+backward pass.

For each method of ``core.explain.saliency.METHODS`` (default parameters, one image, the
predicted class as target) prints the median of ``--repeats`` runs of ``compute_map`` and its
ratio to the median of one forward+backward pass (gradient of the target logit with respect to
the input) and of one forward pass, measured in the same run on the same model view that
``compute_map`` uses (the fused fast view, core/models/fast.py). Runs are interleaved (one pass
of every method per repeat) so that load from other processes hits them alike.

    OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE .venv/bin/python bench/bench_saliency.py [--repeats 3] [--device cpu]

Prints a Markdown table to paste into docs/BENCHMARKS.md.
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from core.explain.saliency import METHODS, compute_map  # noqa: E402
from core.models import load_model  # noqa: E402
from core.models.fast import fast_view  # noqa: E402


def sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize()


def timed(fn, dev) -> float:
    sync(dev)
    t0 = time.perf_counter()
    fn()
    sync(dev)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--methods", default=",".join(METHODS))
    args = ap.parse_args()

    model = load_model("EfficientNet-Lite0", device=args.device)
    view = fast_view(model)
    dev = next(model.parameters()).device
    x = torch.rand(1, 3, 224, 224, generator=torch.Generator().manual_seed(0)).to(dev)
    with torch.no_grad():
        target = int(model(x).argmax())

    def fwd_bwd():
        xi = x.clone().requires_grad_(True)
        torch.autograd.grad(view(xi)[0, target], xi)

    def fwd():
        with torch.no_grad():
            view(x)

    methods = [m for m in args.methods.split(",") if m]
    fns = {"forward": fwd, "forward+backward": fwd_bwd}
    fns.update({m: (lambda m=m: compute_map(model, x, m, target)) for m in methods})
    for fn in fns.values():  # warm-up
        fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(args.repeats):
        for k, fn in fns.items():
            reps = 5 if k in ("forward", "forward+backward") else 1
            for _ in range(reps):
                times[k].append(timed(fn, dev))
    med = {k: statistics.median(v) for k, v in times.items()}
    p, f = med["forward+backward"], med["forward"]
    print(f"# Saliency methods, EfficientNet-Lite0 224 px, batch 1, device={dev}, torch {torch.__version__}, "
          f"threads={torch.get_num_threads()}, {platform.processor() or platform.machine()}, "
          f"{datetime.date.today().isoformat()}, median of {args.repeats} (passes: {5 * args.repeats})")
    print()
    print("| method | cost (nominal) | median time | × forward+backward | × forward |")
    print("|---|---|---|---|---|")
    print(f"| forward pass | F | {f * 1000:.0f} ms | {f / p:.2f} | 1.00 |")
    print(f"| forward+backward pass | P | {p * 1000:.0f} ms | 1.00 | {p / f:.2f} |")
    for m in methods:
        t = med[m]
        print(f"| {METHODS[m].label} | {METHODS[m].cost} | {t * 1000:.0f} ms | {t / p:.1f} | {t / f:.1f} |")


if __name__ == "__main__":
    main()
