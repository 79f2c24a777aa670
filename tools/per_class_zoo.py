"""Per-class numbers for the zoo's model cards (core/evaluation/zoo/per_class.py): clean and attacked
accuracy per Fashion-MNIST class, and the rate at which attacks push other classes' images into the
cost-sensitive model's protected classes (Coat, Shirt) — for every model, so that the protected
model can be compared with the others.

    OMP_NUM_THREADS=1 PYTHONPATH=. .venv/bin/python tools/per_class_zoo.py --worst-case /tmp/rec_wc
        # from tools/ensemble_zoo.py outputs (NAME.json or NAME/NAME.json under the folder); used only
        # when the run reproduces the card's worst_case block (same n and robust count)
    OMP_NUM_THREADS=1 PYTHONPATH=. .venv/bin/python tools/per_class_zoo.py --pgd20 fmnist-trades ...
        # where no per-image worst case exists: the card's PGD-20 on the shipped subset, re-run
        # (same attack, seeds and batches as the card, so it reproduces the card's PGD-20 count)

Writes ``per_class`` into assets/zoo/<name>.json (a worst-case block replaces a PGD-20 one, never the
reverse) with the command that made it.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

import torch  # noqa: E402

import zoo_common  # noqa: E402
from core.models.zoo.catalogue import ZOO_BY_NAME, load_card, load_zoo_model  # noqa: E402
from core.data import fashion_mnist as zdata  # noqa: E402
from core.evaluation.zoo.cards import METRICS, card_attacks, predict  # noqa: E402
from core.evaluation.zoo.per_class import from_worst_case_run, per_class_block  # noqa: E402


def _write(name: str, block: dict) -> None:
    card = load_card(name)
    old = card.get("per_class")
    if old and old.get("source") == "worst_case" and block["source"] != "worst_case":
        print(f"  {name}: keeps its worst-case per-class block")
        return
    block["command"] = " ".join(["tools/per_class_zoo.py", *sys.argv[1:]])
    card["per_class"] = block
    zoo_common.write_card(name, card)
    o = block["overall"]
    pi = block.get("push_in", {})
    print(f"  {name}: per class from {block['source']}: clean {o['clean_correct']}/{o['n']}, attacked {o['robust']}/{o['n']}"
          + (f", attack push-in into {pi['protected_names']}: {pi['attack_into_protected']}/{pi['attacked_other_images']}"
             if pi else ""), flush=True)


def from_worst_case(folders: list[Path]) -> None:
    _, labels, _ = zdata.load_test_subset()
    for folder in folders:
        for f in sorted(set(folder.glob("*.json")) | set(folder.glob("*/*.json"))):
            name = f.stem
            if name not in ZOO_BY_NAME or not ZOO_BY_NAME[name].card_path.exists():
                continue
            res = json.loads(f.read_text(encoding="utf-8"))
            wc = load_card(name).get("worst_case")
            if not wc or res.get("n") != wc["n"]:
                print(f"  {name}: {f} does not match the card's worst case (merge it first); skipped")
                continue
            view = res.get(wc["quoted_view"])
            if view is None or "robust_per_image" not in view or view["robust"] != wc[wc["quoted_view"]]["robust"]:
                print(f"  {name}: {f}'s {wc['quoted_view']} robust count differs from the card's; skipped")
                continue
            blk = from_worst_case_run(view, labels, f"first {wc['n']} images of the shipped test subset "
                                      f"({wc['quoted_view'].replace('_', ' ')})", wc["eps"])
            _write(name, blk)


def from_pgd20(names: list[str], batch_size: int = 500) -> None:
    x8, labels, _ = zdata.load_test_subset()
    x = zdata.to_float(x8)
    attack = card_attacks()["pgd20"]
    seed = 1000 * METRICS.index("pgd20")  # the card's seed for PGD-20 (core/evaluation/zoo/cards.py)
    for name in names:
        model = load_zoo_model(name)
        clean_pred = predict(model, x, batch_size)
        clean = clean_pred == labels
        final = clean_pred.clone()
        idx = torch.nonzero(clean).flatten()
        for b, s in enumerate(range(0, len(idx), batch_size)):
            sel = idx[s:s + batch_size]
            x_adv, _ = attack.perturb(model, x[sel], labels[sel], seed=seed + b)
            with torch.no_grad():
                final[sel] = model(x_adv).argmax(1)
        robust = clean & (final == labels)
        card = load_card(name)
        want = card.get("evaluation", {}).get("subset", {}).get("pgd20", {}).get("correct")
        print(f"  {name}: PGD-20 robust {int(robust.sum())} (card: {want})", flush=True)
        _write(name, per_class_block(labels, clean, robust, final, "pgd20",
                                     "the 1,000 shipped test-subset images (PGD-20 re-run with the card's seeds)"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--worst-case", nargs="*", default=[], metavar="DIR")
    ap.add_argument("--pgd20", nargs="*", default=[], metavar="NAME")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    for n in args.pgd20:
        if n not in ZOO_BY_NAME:
            ap.error(f"unknown model {n}")
    if args.worst_case:
        from_worst_case([Path(d) for d in args.worst_case])
    if args.pgd20:
        from_pgd20(args.pgd20)
    return 0


if __name__ == "__main__":
    sys.exit(main())
