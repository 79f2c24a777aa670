"""Recompute the numbers of zoo model cards and compare them with the cards.

    OMP_NUM_THREADS=1 PYTHONPATH=. .venv/bin/python tools/evaluate_zoo.py                 # all, full test set
    OMP_NUM_THREADS=1 PYTHONPATH=. .venv/bin/python tools/evaluate_zoo.py fmnist-cifs --subset
    ... --write          # rewrite the cards' evaluation blocks (and docs/models/zoo.md)
    ... --check 0.005    # exit status 1 when any accuracy differs from the card by more

The full test set comes from the Debian package dataset-fashion-mnist
(``apt-get install -y --no-install-recommends dataset-fashion-mnist``); ``--subset`` needs only
the shipped assets/data/fashion_mnist_test_1000.npz. The evaluation is deterministic for a given
thread count (``--threads``, default 1, as the cards were made); the attacks are those of
core/evaluation/zoo/cards.py.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from core.models.zoo.catalogue import ZOO_BY_NAME, available, load_card  # noqa: E402
from core.evaluation.zoo.cards import METRIC_LABELS, METRICS  # noqa: E402

sys.path.insert(0, str(ROOT / "tools"))
import zoo_common  # noqa: E402
import zoo_docs  # noqa: E402


def compare(card: dict, new: dict, part: str) -> list[tuple[str, float | None, float]]:
    old = card.get("evaluation", {}).get(part, {})
    return [(m, old.get(m, {}).get("accuracy"), new[part][m]["accuracy"]) for m in METRICS if m in new.get(part, {})]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="*", help="zoo names (default: every model with weights)")
    ap.add_argument("--subset", action="store_true", help="only the shipped 1,000-image subset (and its curve)")
    ap.add_argument("--write", action="store_true", help="rewrite the cards' evaluation blocks")
    ap.add_argument("--check", type=float, default=None, help="fail when an accuracy differs by more than this")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    names = args.models or [e.name for e in available()]
    worst = 0.0
    for name in names:
        if name not in ZOO_BY_NAME:
            ap.error(f"unknown model {name}; known: {', '.join(ZOO_BY_NAME)}")
        card = load_card(name)
        ev = zoo_common.evaluation_for(name, full=not args.subset, subset=True)
        print(f"\n{name}  (ε = {ev['eps']}, L∞)")
        print(f"  {'':10s} {'metric':18s} {'card':>8s} {'now':>8s} {'diff':>8s}")
        for part in (["subset"] if args.subset else ["full_test", "subset"]):
            for m, old, now in compare(card, ev, part):
                diff = None if old is None else now - old
                worst = max(worst, abs(diff)) if diff is not None else max(worst, float("inf"))
                print(f"  {part:10s} {METRIC_LABELS[m]:18s} {'—' if old is None else f'{old:.4f}':>8s} {now:8.4f} "
                      f"{'' if diff is None else f'{diff:+.4f}':>8s}")
        if args.write:
            if args.subset and "full_test" in card.get("evaluation", {}):
                ev["full_test"] = card["evaluation"]["full_test"]
                ev["full_test_seconds"] = card["evaluation"].get("full_test_seconds")
            card["evaluation"] = ev
            zoo_common.write_card(name, card)
            print(f"  wrote {ZOO_BY_NAME[name].card_path}")
    if args.write:
        zoo_docs.phase_docs()
    print(f"\nlargest difference from the cards: {worst:.4f}")
    if args.check is not None and worst > args.check:
        print(f"FAIL: above the tolerance {args.check}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
