"""PGD-10 (L∞) on EfficientNet-Lite0 at 224 px: our engine vs its floor and vs torchattacks.

Prints, for batch 1 and batch 8, the median time of
  * floor: 10 forward+backward passes (gradient w.r.t. the input) on the registered model;
  * floor_fused: the same on the engine's fused copy (core/models/fast.py: BN folded into the
    convolutions, channels_last), which is what our PGD runs on;
  * ours:  core.attacks.PGD.perturb (trajectory recording included);
  * torchattacks.PGD with the same ε, step, steps and random start, on the same model object;
and the ratios ours/floor, ours/floor_fused (the engine's own overhead) and ours/torchattacks
(torchattacks is given the registered model, as a user would; a last column gives torchattacks
on our fused copy too, so that the source of the gain is visible). Repeats are interleaved so that load from
other processes hits all three alike.

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python bench/bench_pgd.py [--repeats 7] [--device cpu]
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
from core.models import load_model  # noqa: E402
from core.models.fast import fast_view  # noqa: E402

EPS, STEP, STEPS = 4 / 255, 1 / 255, 10


def floor_pass(model, x, y, steps=STEPS):
    for _ in range(steps):
        xi = x.clone().requires_grad_(True)
        loss = torch.nn.functional.cross_entropy(model(xi), y)
        torch.autograd.grad(loss, xi)


def sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--device", default=None)
    ap.add_argument("--batches", default="1,8")
    args = ap.parse_args()
    import torchattacks

    model = load_model("EfficientNet-Lite0", device=args.device)
    dev = next(model.parameters()).device
    print(f"# PGD-10 L∞ ε=4/255 α=1/255, EfficientNet-Lite0 224px, device={dev}, torch {torch.__version__}, "
          f"threads={torch.get_num_threads()}, {platform.processor() or platform.machine()}")
    ours = PGD(ThreatModel("linf", EPS, STEP, STEPS, random_start=True))
    ta = torchattacks.PGD(model, eps=EPS, alpha=STEP, steps=STEPS, random_start=True)
    fused = fast_view(model)
    ta_fused = torchattacks.PGD(fused, eps=EPS, alpha=STEP, steps=STEPS, random_start=True)
    for b in [int(s) for s in args.batches.split(",")]:
        g = torch.Generator().manual_seed(b)
        x = torch.rand(b, 3, 224, 224, generator=g).to(dev)
        with torch.no_grad():
            y = model(x).argmax(1)
        fns = {
            "floor": lambda: floor_pass(model, x, y),
            "floor_fused": lambda: floor_pass(fused, x, y),
            "ours": lambda: ours.perturb(model, x, y, seed=0),
            "torchattacks": lambda: ta(x, y),
            "torchattacks_fused": lambda: ta_fused(x, y),
        }
        for fn in fns.values():  # warm-up
            fn()
        times = {k: [] for k in fns}
        for _ in range(args.repeats):
            for k, fn in fns.items():
                sync(dev)
                t0 = time.perf_counter()
                fn()
                sync(dev)
                times[k].append(time.perf_counter() - t0)
        med = {k: statistics.median(v) for k, v in times.items()}
        print(f"batch {b}: " + " | ".join(f"{k} {v*1000:.0f} ms" for k, v in med.items()))
        print(f"batch {b}: ours/floor {med['ours']/med['floor']:.3f} | ours/floor_fused "
              f"{med['ours']/med['floor_fused']:.3f} | ours/torchattacks {med['ours']/med['torchattacks']:.3f} | "
              f"ours/torchattacks_on_fused {med['ours']/med['torchattacks_fused']:.3f}")


if __name__ == "__main__":
    main()
