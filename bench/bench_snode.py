"""Cost of the sNODE (Jaroudi et al., arXiv 2205.13933; :mod:`core.models.zoo.snode`) against the zoo CNN.

One forward+backward pass (the gradient of the cross-entropy w.r.t. the input, as an attack takes
it) on a batch of shipped test images, model in eval mode, for:

  * the zoo CNN (:func:`core.models.zoo.net.build_model`, seed 0);
  * the sNODE with per-step weights (150 Euler steps, 196×196 each: the network as trained);
  * the sNODE as shipped (6 time modes: the per-step weights are rebuilt from the modes on every pass);
  * the ResNet analog (3 residual layers);

and one training step of each sNODE trainer on a batch of 100 (NCG: forward, adjoint, Sobolev
smoothing, sensitivity, update; Adam: forward+backward+step). Median of ``--repeats`` interleaved
runs; one thread unless ``--threads``; ratios against the CNN's pass.

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_snode.py [--repeats 5] [--batch 128]
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

from core.models.zoo.snode import build_resnet_analog, build_snode, init_resnet_, init_snode_, to_state  # noqa: E402
from core.models.zoo.net import build_model  # noqa: E402
from core.data import fashion_mnist as zdata  # noqa: E402
from core.train.snode import green_matrix, ncg_batch, one_hot_state  # noqa: E402


def _pass(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> None:
    xi = x.clone().requires_grad_(True)
    F.cross_entropy(model(xi), y).backward()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    xs, ys, _ = zdata.load_test_subset()
    x, y = zdata.to_float(xs[:args.batch]), ys[:args.batch].long()
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    models = {"CNN (zoo_net)": build_model().eval()}
    full = build_snode().eval()
    init_snode_(full.net, g)
    shipped = build_snode(modes=6).eval()
    shipped.net.project(*[t.detach() for t in full.net.weights()])
    res = build_resnet_analog().eval()
    init_resnet_(res.net, g)
    models.update({"sNODE, per-step weights": full, "sNODE, shipped (6 modes)": shipped, "ResNet analog": res})
    times: dict[str, list[float]] = {k: [] for k in models}
    train_net = build_snode().net
    init_snode_(train_net, g)
    s100, y100 = to_state(x[:100]), one_hot_state(y[:100])
    G = green_matrix(150, 3.0, torch.float32)
    W, b = train_net.coef_w.data.clone(), train_net.coef_b.data.clone()
    opt_net = build_snode().net
    init_snode_(opt_net, g)
    opt = torch.optim.Adam(opt_net.parameters(), lr=1e-3)
    times["NCG iteration (batch 100)"] = []
    times["Adam step (batch 100)"] = []
    for _ in range(args.repeats):
        for name, m in models.items():
            t0 = time.perf_counter()
            _pass(m, x, y)
            times[name].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        ncg_batch(W, b, s100, y100, 1 / 50, iterations=1, G=G)
        times["NCG iteration (batch 100)"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        out = opt_net.final_state(s100)
        loss = 0.5 * ((out - y100) ** 2).sum() / 100
        opt.zero_grad()
        loss.backward()
        opt.step()
        times["Adam step (batch 100)"].append(time.perf_counter() - t0)
    ref = statistics.median(times["CNN (zoo_net)"])
    print(f"machine: {platform.machine()} {platform.processor() or ''}, torch {torch.__version__}, "
          f"threads {args.threads}, batch {args.batch}, repeats {args.repeats}, load {os.getloadavg()[0]:.1f}")
    print(f"{'what':34s} {'median s':>9s} {'/ CNN pass':>10s}")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"{name:34s} {med:9.4f} {med / ref:10.1f}")


if __name__ == "__main__":
    main()
