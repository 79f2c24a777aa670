"""User models: gradient passes on the model as loaded vs on its fused fast copy.

For a few torchvision architectures (random weights, 224 px, batch 1 and 4) built as user models
(core/models/user/models_file.py), prints the median time of 10 forward+backward passes (gradient with
respect to the input, as PGD does) on the model and on ``fast_view(model)`` (batch norm folded into
the convolutions, channels_last), interleaved so that load from other processes hits both alike,
and the ratio fused/plain.

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python bench/bench_user_fast.py [--repeats 5] [--archs resnet18,...]
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from core.models.fast import fast_view  # noqa: E402
from core.models.user.models_file import build_model, parse_entry  # noqa: E402


def passes(model, x, y, steps=10):
    for _ in range(steps):
        xi = x.clone().requires_grad_(True)
        loss = torch.nn.functional.cross_entropy(model(xi), y)
        torch.autograd.grad(loss, xi)


def main() -> None:
    import torchvision

    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--archs", default="resnet18,mobilenet_v3_large,efficientnet_b0")
    args = ap.parse_args()
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, "
          f"{torch.get_num_threads()} threads")
    tmp = Path(tempfile.mkdtemp())
    for arch in args.archs.split(","):
        torch.manual_seed(0)
        net = torchvision.models.get_model(arch, weights=None)
        torch.save(net.state_dict(), tmp / f"{arch}.pt")
        d = parse_entry({"name": arch, "architecture": arch, "weights": f"{arch}.pt", "normalization": "imagenet"}, tmp)
        model, _ = build_model(d)
        fast = fast_view(model)
        for n in (1, 4):
            x = torch.rand(n, 3, 224, 224)
            y = torch.zeros(n, dtype=torch.long)
            t = {"plain": [], "fused": []}
            passes(model, x, y, 2), passes(fast, x, y, 2)  # warm-up
            for _ in range(args.repeats):
                for k, m in (("plain", model), ("fused", fast)):
                    t0 = time.perf_counter()
                    passes(m, x, y)
                    t[k].append(time.perf_counter() - t0)
            p, f = statistics.median(t["plain"]), statistics.median(t["fused"])
            print(f"{arch} batch {n}: plain {p * 1000:.0f} ms | fused {f * 1000:.0f} ms | fused/plain {f / p:.3f}")


if __name__ == "__main__":
    main()
