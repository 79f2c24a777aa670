"""Sequence certification throughput: noisy samples per second of CERTIFY's sampling
(``sample_counts``: noise, the sub-sequence forward, softmax, reduce, argmax, counting) for each
Smooth-Reduce sequence variant and plain smoothing, against the floor: the same sequence network's
batched forward pass on a fixed, pre-made batch holding the same number of chunk passes (one
sample of a variant with K sub-sequences of L frames costs K·L/chunk chunk passes; plain smoothing
T/chunk). Ratio = samples per second × chunk passes per sample / floor chunk passes per second.

Repeats are interleaved (floor, variant, floor, ...) so load from other processes hits both alike;
medians are printed. One run:

    OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE .venv/bin/python bench/bench_sequences.py [--n 200] [--batch 100] [--repeats 3]
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

from core.data.sequences import load_test_sequences  # noqa: E402
from core.defenses.smooth_reduce_sequences import all_variants, multiplicity  # noqa: E402
from core.defenses.smoothing import sample_counts  # noqa: E402
from core.runtime.device import describe_device, get_device  # noqa: E402
from core.models.sequence_net import load_sequence_net  # noqa: E402


def timed(fn, dev: torch.device) -> float:
    if dev.type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    fn()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200, help="noisy samples per timing")
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    dev = get_device()
    net = load_sequence_net().to(dev)
    seq, _ = load_test_sequences()
    x = seq[:1].to(dev)
    frames = x.shape[1]
    print(f"{platform.processor() or platform.machine()}, {describe_device(dev)}, torch {torch.__version__}; "
          f"n = {args.n}, batch {args.batch}, {args.repeats} repeats (medians)")
    print("| variant | chunk passes / sample | samples/s | floor (chunk passes/s) | ratio |")
    print("|---|---:|---:|---:|---:|")
    for name, clf in all_variants(net).items():
        if clf.variant == "plain":
            per = frames // net.chunk
        else:
            per = int(multiplicity(frames, clf.length, clf.stride).sum()) // net.chunk
        lifted = clf.lift(x).contiguous()
        gen = torch.Generator(device=dev).manual_seed(0)
        # the floor: the chunk network on a pre-made batch with as many chunk passes as one sampling batch
        chunks = torch.rand(args.batch * per, net.chunk, 28, 28, device=dev)
        floor, var = [], []
        with torch.inference_mode():
            for _ in range(args.repeats):
                floor.append(timed(lambda: [net.net(chunks) for _ in range(args.n // args.batch)], dev))
                var.append(timed(lambda: sample_counts(clf.scores, lifted, clf.sigma, args.n, batch_size=args.batch,
                                                       gen=gen), dev))
        f_rate = (args.n // args.batch) * args.batch * per / statistics.median(floor)
        s_rate = args.n / statistics.median(var)
        print(f"| {name} | {per} | {s_rate:,.0f} | {f_rate:,.0f} | {s_rate * per / f_rate:.2f} |", flush=True)


if __name__ == "__main__":
    main()
