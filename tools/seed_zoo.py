"""Training seeds for the zoo: retrain a model with other seeds, evaluate each the way its card is
evaluated, and write the spread into the card (``seeds`` block, core/judging/stats.py's convention).

A claim that compares two recipes or architectures needs several training seeds, or the difference
may be noise. The shipped weights stay the seed of the card (``train_config.seed``, 0); the other
seeds' weights are not shipped (they are made again by this command).

    OMP_NUM_THREADS=1 PYTHONPATH=. .venv/bin/python tools/train_zoo.py --phase seeds --seeds 1 2 \\
        --models fmnist-standard --out /tmp/zooseeds          # train + evaluate seeds 1 and 2
    OMP_NUM_THREADS=1 PYTHONPATH=. .venv/bin/python tools/train_zoo.py --merge-seeds /tmp/zooseeds

A seed changes everything random in training: the class-balanced choice of the 16,000 training
images, the initialisation, the shuffling and the recipe's noise (attack starts, masks). Each seed's
model is evaluated on the shipped 1,000-image test subset: clean, FGSM, PGD-20, APGD-CE (the card's
attacks and seeds, core/evaluation/zoo/cards.py) and the worst-case ensemble (tools/ensemble_zoo.py's
configuration, on the same 1,000 images; for CIFS the lower of the mask-blind and through-the-mask
views), so seed 0's numbers come from the card itself and every seed is measured identically.
"""
from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path

import torch

import ensemble_zoo
import zoo_common
import zoo_docs
from core.models.zoo.catalogue import get_entry
from core.judging.stats import seed_spread, with_interval
from core.data import fashion_mnist as zdata
from core.train.common import TrainConfig
from core.evaluation.zoo.cards import METRICS, evaluate

SPREAD_METRICS = (*METRICS, "worst_case")
WORST_CASE_N = 1000


def run_seed(name: str, seed: int, cfg: TrainConfig, out: Path, worst_case_n: int = WORST_CASE_N) -> dict:
    """Train ``name`` with ``seed``, evaluate it, write ``out/<name>.seed<seed>.json``."""
    cfg_s = dataclasses.replace(cfg, seed=int(seed))
    x, y, _ = zoo_common.training_data(cfg_s)
    model, recipe, log, secs = zoo_common.train_model(name, cfg_s, x, y)
    model.eval()
    xs, ys, _ = zdata.load_test_subset()
    xs = zdata.to_float(xs)
    t0 = time.perf_counter()
    ev = evaluate(model, xs, ys)
    wc = ensemble_zoo.evaluate_one(name, worst_case_n, 0, model=model)
    views = {k: wc[k] for k in ("as_shipped", "through_mask") if k in wc}
    quoted = min(views, key=lambda k: views[k]["robust_accuracy"])
    res = {"name": name, "seed": int(seed), "train_seconds": round(secs, 1),
           "eval_seconds": round(time.perf_counter() - t0, 1), "train_config": cfg_s.as_dict(),
           "epoch_loss": [round(v, 4) for v in log.epoch_loss],
           "subset": ev, "worst_case": {"correct": views[quoted]["robust"], "n": views[quoted]["n"],
                                        "accuracy": views[quoted]["robust_accuracy"], "view": quoted},
           "command": " ".join(sys.argv), "torch": torch.__version__, "threads": torch.get_num_threads()}
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.seed{seed}.json").write_text(json.dumps(res, indent=1), encoding="utf-8")
    print(f"{name} seed {seed}: clean {ev['clean']['accuracy']:.3f} pgd20 {ev['pgd20']['accuracy']:.3f} "
          f"worst case {res['worst_case']['accuracy']:.3f} (train {secs:.0f} s)", flush=True)
    return res


def card_run(card: dict) -> dict:
    """The card's own seed as a run: its subset numbers and its worst case (same images, same attacks)."""
    sub = card["evaluation"]["subset"]
    wc = card["worst_case"]
    view = wc[wc["quoted_view"]]
    return {"seed": card["train_config"]["seed"], **{m: with_interval(sub[m]) for m in METRICS if m in sub},
            "worst_case": with_interval({"accuracy": view["robust_accuracy"], "correct": view["robust"],
                                         "n": view["n"]}), "train_seconds": card["training"]["seconds"]}


def seeds_block(card: dict, runs: list[dict], command: str) -> dict:
    """The card's ``seeds`` block from the card's own seed and the other seeds' results."""
    rows = [card_run(card)]
    for r in sorted(runs, key=lambda r: r["seed"]):
        rows.append({"seed": r["seed"], **{m: with_interval(r["subset"][m]) for m in METRICS if m in r["subset"]},
                     "worst_case": with_interval({k: r["worst_case"][k] for k in ("accuracy", "correct", "n")}),
                     "train_seconds": r["train_seconds"]})
    spread = {m: seed_spread([row[m]["accuracy"] for row in rows], [row["seed"] for row in rows]).as_dict()
              for m in SPREAD_METRICS if all(m in row for row in rows)}
    return {"shipped_seed": rows[0]["seed"], "seeds": [row["seed"] for row in rows],
            "data": "the shipped 1,000-image test subset; worst case on the same 1,000 images",
            "what_a_seed_changes": "the choice of training images, the initialisation, the shuffling and the "
                                   "recipe's noise",
            "command": command, "runs": rows, "spread": spread}


def merge_seeds(folder: Path) -> list[str]:
    """Write a ``seeds`` block into each card with results in ``folder``; regenerate the docs."""
    done = []
    by_name: dict[str, list[dict]] = {}
    for f in sorted(folder.glob("*.seed*.json")):
        r = json.loads(f.read_text(encoding="utf-8"))
        by_name.setdefault(r["name"], []).append(r)
    for name, runs in by_name.items():
        get_entry(name)
        card = zoo_common.read_card(name)
        if "worst_case" not in card or "evaluation" not in card:
            print(f"  {name}: the card has no evaluation or worst case yet; seeds not merged")
            continue
        seeds = " ".join(str(r["seed"]) for r in sorted(runs, key=lambda r: r["seed"]))
        cmd = f"tools/train_zoo.py --phase seeds --seeds {seeds} --models {name} --out DIR; --merge-seeds DIR"
        card["seeds"] = seeds_block(card, runs, cmd)
        zoo_common.write_card(name, card)
        sp = card["seeds"]["spread"]["worst_case"]
        print(f"  {name}: worst case over seeds {sp['values']} (range {sp['range']:.3f})")
        done.append(name)
    zoo_docs.phase_docs()
    return done
