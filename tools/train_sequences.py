"""Make the shipped test sequences and train the sequence classifier (core/models/sequence_net.py).

    OMP_NUM_THREADS=1 .venv/bin/python tools/train_sequences.py --phase data
    OMP_NUM_THREADS=1 .venv/bin/python tools/train_sequences.py --phase train

``data``: 10 sequences per class (100) from the shipped 1,000-image Fashion-MNIST test subset,
sequence seed 2024, into ``assets/sequences/test_sequences.npz``. ``train``: fresh sequences each
epoch from the Debian package's 60,000 training images, Gaussian noise σ added to the frames
(the base classifier of a smoothed classifier is trained under its noise), Adam, one thread;
weights, card (clean and noisy accuracy with exact 95 % intervals on the shipped sequences,
the command, the time) and per-sequence results beside it.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from the repository root

from core.data import sequences as ds  # noqa: E402
from core.models.sequence_net import CARD, CHUNK, WEIGHTS, SequenceNet  # noqa: E402
from core.judging.stats import with_interval  # noqa: E402
from core.data.fashion_mnist import load_fashion_mnist, load_test_subset, stratified_indices, to_float  # noqa: E402


def make_test_data() -> None:
    x, y, _ = load_test_subset()
    pos = stratified_indices(y, ds.TEST_PER_CLASS, seed=ds.TEST_SEED)
    seq, motions = ds.make_sequences(to_float(x[pos]), seed=ds.TEST_SEED)
    ds.save_test_sequences(seq, y[pos], pos, motions)
    print(f"wrote {ds.TEST_PATH} ({ds.TEST_PATH.stat().st_size / 1e3:.0f} kB, {len(pos)} sequences)")


def evaluate(net: SequenceNet, seq: torch.Tensor, y: torch.Tensor, sigma: float, seed: int) -> dict:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        clean = net(seq).argmax(1) == y
        noisy = net(seq + sigma * torch.randn(seq.shape, generator=gen)).argmax(1) == y
    return {"clean": clean, f"noise_{sigma:g}": noisy}


def train(args: argparse.Namespace) -> None:
    torch.manual_seed(args.seed)
    t0 = time.time()
    x, y = load_fashion_mnist("train")
    net = SequenceNet(chunk=CHUNK, width=args.width)
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    gen = torch.Generator().manual_seed(args.seed)
    steps_total = args.epochs * (args.per_epoch // args.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=steps_total)
    for epoch in range(args.epochs):
        idx = torch.randperm(len(x), generator=gen)[: args.per_epoch]
        seq, _ = ds.make_sequences(to_float(x[idx]), seed=args.seed * 1000 + epoch)
        lab = y[idx]
        net.train()
        tot, correct, n = 0.0, 0, 0
        for b in range(0, args.per_epoch - args.batch + 1, args.batch):
            xb, yb = seq[b:b + args.batch], lab[b:b + args.batch]
            xb = xb + args.sigma * torch.randn(xb.shape, generator=gen)
            out = net(xb)
            loss = F.cross_entropy(out, yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            tot += float(loss.detach()) * len(yb)
            correct += int((out.argmax(1) == yb).sum())
            n += len(yb)
        print(f"epoch {epoch + 1}/{args.epochs}: loss {tot / n:.3f}, noisy train acc {correct / n:.3f} "
              f"({time.time() - t0:.0f} s)", flush=True)
    net.eval()
    train_s = time.time() - t0
    seq, lab = ds.load_test_sequences()
    res = evaluate(net, seq, lab, args.sigma, seed=args.seed)
    WEIGHTS.parent.mkdir(parents=True, exist_ok=True)
    torch.save(net.state_dict(), WEIGHTS)
    card = {
        "name": "sequence-net",
        "architecture": {"chunk": CHUNK, "width": args.width, "frames": ds.FRAMES,
                         "parameters": sum(p.numel() for p in net.parameters()),
                         "logits": "mean over non-overlapping chunks of the chunk network's logits"},
        "training": {"sigma": args.sigma, "epochs": args.epochs, "sequences_per_epoch": args.per_epoch,
                     "batch": args.batch, "lr": args.lr, "optimizer": "Adam + one-cycle", "seed": args.seed,
                     "data": "fresh sequences each epoch from the 60,000 Fashion-MNIST training images"},
        "evaluation": {"set": "assets/sequences/test_sequences.npz", "n": int(len(lab)),
                       "noise_seed": args.seed},
        "clean": with_interval({"correct": int(res["clean"].sum()), "n": int(len(lab)),
                                "accuracy": float(res["clean"].float().mean())}),
        f"noise_{args.sigma:g}": with_interval({"correct": int(res[f"noise_{args.sigma:g}"].sum()), "n": int(len(lab)),
                                                "accuracy": float(res[f"noise_{args.sigma:g}"].float().mean())}),
        "command": "OMP_NUM_THREADS=1 .venv/bin/python tools/train_sequences.py --phase train "
                   + " ".join(a for a in sys.argv[1:] if a not in ("--phase", "train")),
        "threads": torch.get_num_threads(),
        "train_seconds": round(train_s, 1),
    }
    CARD.write_text(json.dumps(card, indent=2) + "\n")
    per = CARD.with_name(CARD.stem + ".per_image.npz")
    with np.load(ds.TEST_PATH, allow_pickle=False) as d:
        src = d["source_index"]
    np.savez_compressed(per, format_version=np.int32(1), image_index=np.arange(len(lab), dtype=np.int32),
                        labels=lab.numpy().astype(np.int64), source_index=src.astype(np.int32),
                        **{f"{k}__correct": v.numpy().astype(bool) for k, v in res.items()})
    print(json.dumps({k: card[k] for k in ("clean", f"noise_{args.sigma:g}", "train_seconds")}, indent=1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--phase", choices=["data", "train"], required=True)
    ap.add_argument("--sigma", type=float, default=0.25)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--per-epoch", type=int, default=15000)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.phase == "data":
        make_test_data()
    else:
        train(args)


if __name__ == "__main__":
    main()
