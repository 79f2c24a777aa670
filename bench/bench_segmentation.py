"""Segmentation PGD-10 and equivariance purification per image, against a forward+backward floor.

On the ported MediaPipe selfie segmentation models at their default sizes (general 256×256,
landscape 144×256), batch 1, a real portrait (the astronaut reference frame of the port test):

  * P: one forward+backward pass (BCE of the logit map, gradient w.r.t. the input);
  * floor10: 10 such passes (what PGD-10 cannot go below);
  * PGD-10: ``SegmentationPGD.perturb`` (untargeted, ε = 4/255, α = 1/255, random start, best
    iterate kept: one extra forward pass; trajectory recording included);
  * purification: ``purify_segmentation`` with the CPU defaults (identity + 3 views, T = 5,
    logits feature, final loss evaluated), nominally 5 × (views' forward+backward) + 1 × views'
    forward + 1 forward; the ×0.75 view costs about 0.56 of a full pass;
  * optionally (``--adaptive``) the equivariance-aware PGD-10 (seg loss − L_equi).

Repeats are interleaved so that load from other processes hits every row alike; medians printed.

    OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE .venv/bin/python bench/bench_segmentation.py [--repeats 5]
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from core.attacks.base import ThreatModel  # noqa: E402
from core.attacks.dense.segmentation import SegmentationPGD  # noqa: E402
from core.defenses.seg_equivariance import SegEquivariancePurification, purify_segmentation  # noqa: E402
from core.models import load_model  # noqa: E402

REF = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "selfie_segmentation_reference.npz"
MODELS = {"general": "MediaPipe Selfie Segmentation", "landscape": "MediaPipe Selfie Segmentation (landscape)"}


def floor(model, x, n):
    ref = (torch.sigmoid(model.forward_logits(x)) > 0.5).float().detach()
    for _ in range(n):
        xi = x.clone().requires_grad_(True)
        loss = F.binary_cross_entropy_with_logits(model.forward_logits(xi), ref)
        torch.autograd.grad(loss, xi)


def sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--device", default=None)
    ap.add_argument("--adaptive", action="store_true")
    args = ap.parse_args()
    ref = np.load(REF)
    rows = {}
    for variant, name in MODELS.items():
        model = load_model(name, device=args.device)
        dev = next(model.parameters()).device
        x = torch.from_numpy(ref[f"{variant}__astronaut__image"]).permute(2, 0, 1)[None].float().div(255).to(dev)
        with torch.no_grad():
            clean = (torch.sigmoid(model.forward_logits(x)) > 0.5).float()
        tm = ThreatModel("linf", 4 / 255, 1 / 255, 10, random_start=True)
        pgd = SegmentationPGD(tm)
        fns = {
            "P (forward+backward)": lambda: floor(model, x, 1),
            "floor10": lambda: floor(model, x, 10),
            "PGD-10": lambda: pgd.perturb(model, x, clean, seed=0),
            "purification (T=5, 3 views)": lambda: purify_segmentation(model, x, seed=0),
        }
        if args.adaptive:
            adv = SegEquivariancePurification(model).adaptive_attack(tm, lam=1.0)
            fns["equivariance-aware PGD-10"] = lambda: adv.perturb(model, x, clean, seed=0)
        for fn in fns.values():
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
        rows[variant] = (tuple(x.shape[-2:]), med)
    print(f"# device={dev}, torch {torch.__version__}, threads={torch.get_num_threads()}, "
          f"{platform.processor() or platform.machine()}, repeats={args.repeats}")
    for variant, (hw, med) in rows.items():
        p = med["P (forward+backward)"]
        print(f"\n## {MODELS[variant]} {hw[0]}×{hw[1]}")
        print("| what | median time | × P | × floor10 |")
        print("|---|---|---|---|")
        for k, t in med.items():
            print(f"| {k} | {t * 1000:.0f} ms | {t / p:.1f} | {t / med['floor10']:.2f} |")


if __name__ == "__main__":
    main()
