"""Dense PGD-10 against its floor of ten forward+backward passes, and the Segmentation page's
dense defaults, on the Garment U-Net (core/models/dense/unet.py) and the denoisers.

Rows (batch ``--batch`` of shipped test scenes, 96×96; medians of interleaved repeats):

  * P: one forward+backward pass of the mean per-pixel cross-entropy (gradient w.r.t. the input);
  * floor10: 10 × P, what PGD-10 cannot go below;
  * Dense PGD-10, SegPGD-10, Dense APGD-10 (``perturb``: best-iterate tracking with a per-image
    mIoU each step and one extra forward pass included);
  * page defaults (batch 1): the multi-class run (scene 0, Dense PGD-10 at 4/255, equivariance
    purification T = 5 with 3 views on the attacked and on the clean scene) and the denoiser run
    (image 0, DnCNN, ObsAtk-10 at 6/255, the 16-image PSNR curve).

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_dense.py [--repeats 5] [--batch 8]
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
from core.attacks.dense.apgd import DenseAPGD  # noqa: E402
from core.attacks.dense.pgd import DensePGD  # noqa: E402
from core.attacks.dense.segpgd import SegPGD  # noqa: E402
from core.evaluation.dense.denoise import run_denoise_experiment  # noqa: E402
from core.evaluation.dense.equivariance_eval import DefenseSettings  # noqa: E402
from core.evaluation.dense.page import DenseGoal, run_dense_experiment  # noqa: E402
from core.models import load_model  # noqa: E402
from core.models.dense.segmentation_builtin import GARMENT_UNET  # noqa: E402
from core.data.scenes import NUM_CLASSES, load_test_scenes  # noqa: E402

THREAT = ThreatModel(norm="linf", eps=4 / 255, step=1 / 255, steps=10, random_start=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--batch", type=int, default=8)
    a = ap.parse_args()
    model = load_model(GARMENT_UNET, device="cpu")
    x, y = load_test_scenes()
    xb, yb = x[:a.batch], y[:a.batch]

    def one_pass() -> None:
        d = torch.zeros_like(xb, requires_grad=True)
        loss = F.cross_entropy(model(xb + d), yb)
        torch.autograd.grad(loss, d)

    rows = {
        "P (1 forward+backward)": one_pass,
        "Dense PGD-10": lambda: DensePGD(THREAT).perturb(model, xb, yb, None, NUM_CLASSES),
        "SegPGD-10": lambda: SegPGD(THREAT).perturb(model, xb, yb, None, NUM_CLASSES),
        "Dense APGD-10": lambda: DenseAPGD(THREAT).perturb(model, xb, yb, None, NUM_CLASSES),
        "page default: garment scene (PGD-10 + purification ×2)": lambda: run_dense_experiment(
            model, x[:1], y[:1], DenseGoal(), THREAT, "Dense PGD", DefenseSettings()),
        "page default: denoiser (ObsAtk-10 + 16-image curve)": lambda: run_denoise_experiment(0, "DnCNN", 6 / 255),
    }
    for fn in rows.values():  # warm-up
        fn()
    times: dict[str, list[float]] = {k: [] for k in rows}
    for _ in range(a.repeats):
        for k, fn in rows.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    p = med["P (1 forward+backward)"]
    print(f"# {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} thread(s), batch {a.batch} (page rows: batch 1), {a.repeats} repeats")
    print(f"{'row':58s} {'median s':>9s} {'× P':>6s}")
    for k, v in med.items():
        print(f"{k:58s} {v:9.3f} {v / p:6.1f}")
    print(f"{'floor10 (10 × P)':58s} {10 * p:9.3f} {10.0:6.1f}")
    print(f"Dense PGD-10 / floor10 = {med['Dense PGD-10'] / (10 * p):.2f}")


if __name__ == "__main__":
    main()
