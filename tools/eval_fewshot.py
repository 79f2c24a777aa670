"""Evaluate a trained few-shot segmenter under attack on the shipped test episodes; the evaluation
part of its card and its per-episode file in assets/fewshot/ (core.evaluation.dense.fewshot_eval).

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python tools/eval_fewshot.py --kind proto --seed 0
    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python tools/eval_fewshot.py --kind rpnode --seed 0 --dopri5
    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python tools/eval_fewshot.py --claim

* the model as trained (the CNNs; the ODE models with their fixed-step RK4 solver) -> card
  ``evaluation``; with ``--dopri5`` also the same weights under dopri5 at rtol = atol = 1e-3, attacked
  through dopri5 (the paper's way) and adaptively (fixed-step copy, tolerance change), on the first
  ``--dopri5-episodes`` (30) episodes, query attacks only (``--only-dopri5``: this part alone) -> card ``<kind>-s<seed>-dopri5.json`` and
  its ``.per_image.npz``; the model as trained: ``<kind>-s<seed>.per_image.npz``;
* transfer: Dense PGD examples crafted on ``--transfer-from`` (default the prototype CNN, seed 0;
  for that model itself, seed 1);
* ``--claim``: the claim block of the R-PNODE card (seed 0), from the per-episode files.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from core.data import fewshot_episodes as fe  # noqa: E402
from core.evaluation.dense.fewshot_eval import (FewShotEvalConfig, add_members, craft, evaluate, per_image_arrays,  # noqa: E402
                                     summarize)
from core.attacks.dense.fewshot_metrics import mean_ci  # noqa: E402
from core.evaluation.claims.systems import CONTROL_TAG, rpnode_verdict  # noqa: E402
from core.train.fewshot import KINDS, card_path, load, weights_path  # noqa: E402
from core.models.fewshot.pnode import PNODE  # noqa: E402


def _read(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


def _write(path: Path, card: dict) -> None:
    path.write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n")


def per_image_path(kind: str, seed: int, suffix: str = "") -> Path:
    return card_path(kind, seed).with_name(f"{kind}-s{seed}{suffix}.per_image.npz")


def _control_path(seed: int) -> Path:
    """The R-PNODE claim's matched control: the CNN trained on for the same 150 steps, else as shipped."""
    p = per_image_path("proto", seed, f"-{CONTROL_TAG}")
    return p if p.exists() else per_image_path("proto", seed)


def claim_block(seeds: tuple[int, ...] = (0, 1, 2)) -> dict:
    """R-PNODE vs its matched control on the same episodes: paired bootstrap of the Dice difference; the
    verdict by the Claims page's rule (core.evaluation.claims.systems.rpnode_verdict)."""
    rows = {}
    for key, label in (("clean", "clean"), ("q_pgd_paper", "query PGD as the paper ran it"),
                       ("q_worst_case", "query adaptive worst case"), ("s_worst_case", "support adaptive worst case")):
        per_seed = []
        for s in seeds:
            a, b = per_image_path("rpnode", s), _control_path(s)
            if not (a.exists() and b.exists()):
                continue
            with np.load(a, allow_pickle=False) as ra, np.load(b, allow_pickle=False) as rb:
                if f"{key}__dice" not in ra or f"{key}__dice" not in rb:
                    continue
                d = ra[f"{key}__dice"].astype(np.float64) - rb[f"{key}__dice"].astype(np.float64)
                m, lo, hi = mean_ci(d)
                per_seed.append({"seed": s, "control": b.name, "rpnode": round(float(ra[f"{key}__dice"].mean()), 4),
                                 "cnn": round(float(rb[f"{key}__dice"].mean()), 4),
                                 "difference": round(m, 4), "difference_ci95": [round(lo, 4), round(hi, 4)]})
        rows[label] = per_seed
    dop = per_image_path("rpnode", 0, "-dopri5")
    if dop.exists():
        with np.load(dop, allow_pickle=False) as r, np.load(_control_path(0), allow_pickle=False) as c:
            n = len(r["image_index"])
            for key, label in (("q_pgd_paper", "query PGD as the paper ran it, R-PNODE under dopri5"),
                               ("q_worst_case", "query adaptive worst case, R-PNODE under dopri5")):
                if f"{key}__dice" in r:
                    d = r[f"{key}__dice"].astype(np.float64) - c[f"{key}__dice"][:n].astype(np.float64)
                    m, lo, hi = mean_ci(d)
                    rows[label] = [{"seed": 0, "episodes": n, "rpnode": round(float(r[f"{key}__dice"].mean()), 4),
                                    "cnn": round(float(c[f"{key}__dice"][:n].mean()), 4), "difference": round(m, 4),
                                    "difference_ci95": [round(lo, 4), round(hi, 4)]}]
    verdict, reason, _ = rpnode_verdict()
    return {"verdict": verdict, "verdict_reason": reason,
            "claim": "R-PNODE is much more robust to adversarial attacks than CNN-based prototype few-shot "
                     "segmenters (Pandey et al., IEEE TMI 2023, arXiv 2208.12428)",
            "claimed_model": "rpnode (assets/fewshot/rpnode-s<seed>.pt)",
            "control": f"proto-s<seed>-{CONTROL_TAG}: the PANet-style prototype CNN of the same seed trained on for "
                       "the 150 steps on which R-PNODE was warm-started from it (same episodes, same optimiser), "
                       "so that only the ODE block and its regularizer differ",
            "metric": "mean Dice of the query's predicted novel-class mask over the 60 shipped episodes, ε = 0.035 "
                      "(L∞); difference = R-PNODE − CNN per episode, 95 % paired percentile bootstrap",
            "per_episode_file": f"assets/fewshot/rpnode-s<seed>.per_image.npz vs "
                                f"assets/fewshot/proto-s<seed>-{CONTROL_TAG}.per_image.npz",
            "comparisons": rows}


def add_erase(model, ep, kind: str, seed: int, suffix: str, command: str) -> None:
    """Merge the targeted erase attack into a card (``suffix`` "" or "-dopri5") and its per-episode file."""
    t0 = time.perf_counter()
    path, cpath = per_image_path(kind, seed, suffix), card_path(kind, seed).with_name(f"{kind}-s{seed}{suffix}.json")
    with np.load(path, allow_pickle=False) as r:
        per = {k: r[k] for k in r.files if "__" in k and not k.endswith("__correct")}
    per = add_members(model, ep, per, ["Dense PGD (erase)"])
    card = _read(cpath)
    ev = card["evaluation"]
    fresh = summarize(per, FewShotEvalConfig(**ev["config"]))
    ev["results"] = fresh["results"]
    ev["found_by"]["q_worst_case"] = {m: int((per["q_worst_case__found_by"] == m).sum())
                                      for m in np.unique(per["q_worst_case__found_by"])}
    ev["seconds"]["q_dense_pgd_erase"] = round(time.perf_counter() - t0, 1)
    ev["added_later"] = {"q_dense_pgd_erase": command}
    _write(cpath, card)
    np.savez_compressed(path, **per_image_arrays(per, ep.classes.numpy()))
    print(f"{kind} s{seed}{suffix}: erase {per['q_dense_pgd_erase__dice'].mean():.3f}, "
          f"worst case {per['q_worst_case__dice'].mean():.3f}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kind", choices=tuple(KINDS), default="proto")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dopri5", action="store_true")
    ap.add_argument("--episodes", type=int, default=fe.TEST_EPISODES)
    ap.add_argument("--dopri5-episodes", type=int, default=30)
    ap.add_argument("--only-dopri5", action="store_true", help="skip the model as trained (its card part is kept)")
    ap.add_argument("--transfer-from", default="")
    ap.add_argument("--claim", action="store_true")
    ap.add_argument("--add-erase", action="store_true",
                    help="add the targeted 'erase' Dense PGD to an existing evaluation (its worst case lowered)")
    ap.add_argument("--tag", default="", help="a variant made by tools/train_fewshot.py --tag (its card and "
                    "per-episode file <kind>-s<seed>-<tag>); not with --dopri5")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    command = "OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python tools/eval_fewshot.py " + " ".join(
        sys.argv[1:] if argv is None else argv)
    if a.claim:
        card = _read(card_path("rpnode", 0))
        card["claim"] = {**claim_block(), "command": command, "date": _dt.date.today().isoformat()}
        _write(card_path("rpnode", 0), card)
        print(json.dumps(card["claim"]["comparisons"], indent=1))
        return 0
    t0 = time.perf_counter()
    ep = fe.load_episodes().subset(slice(0, a.episodes))
    if a.tag and (a.dopri5 or a.add_erase):
        raise SystemExit("--tag evaluates a variant as trained; --dopri5 and --add-erase are for the shipped models")
    model = load(a.kind, a.seed, tag=a.tag)
    if a.add_erase:
        if not a.only_dopri5:
            add_erase(model, ep, a.kind, a.seed, "", command)
        if a.dopri5:
            add_erase(model.with_solver("dopri5"), ep.subset(slice(0, a.dopri5_episodes)), a.kind, a.seed, "-dopri5",
                      command)
        return 0
    cfg = FewShotEvalConfig()
    src = a.transfer_from or ("proto:1" if (a.kind, a.seed) == ("proto", 0) else "proto:0")
    skind, sseed = src.split(":")
    transfer = {}
    if weights_path(skind, int(sseed)).exists():
        surrogate = load(skind, int(sseed))
        transfer[f"{skind}{sseed}"] = {t: craft(surrogate, ep, t, "Dense PGD", cfg) for t in ("query", "support")}
    tag = f"-{a.tag}" if a.tag else ""
    cpath = card_path(a.kind, a.seed, a.tag)
    card = _read(cpath)
    if not a.only_dopri5:
        per, summary = evaluate(model, ep, cfg, transfer=transfer, progress=None)
        card["evaluation"] = {**summary, "solver": getattr(model, "solver", None), "transfer_from": list(transfer)}
        np.savez_compressed(per_image_path(a.kind, a.seed, tag), **per_image_arrays(per, ep.classes.numpy()))
        card["evaluation_command"] = command
        card["evaluation_wall_seconds"] = round(time.perf_counter() - t0, 1)
        _write(cpath, card)
    if a.dopri5:
        if not isinstance(model, PNODE):
            raise SystemExit("--dopri5 is for the ODE models")
        t1 = time.perf_counter()
        sub = ep.subset(slice(0, a.dopri5_episodes))
        dop = model.with_solver("dopri5")
        variants = {"tol1e-5": model.with_solver("dopri5", rtol=1e-5, atol=1e-5), "rk4": model}
        tr_sub = {k: {t: x[:a.dopri5_episodes] for t, x in v.items()} for k, v in transfer.items()}
        cfg_d = FewShotEvalConfig(support_attacks=False)
        per_d, summary_d = evaluate(dop, sub, cfg_d, transfer=tr_sub, fixed_step=model, tolerance_variants=variants)
        dpath = card_path(a.kind, a.seed).with_name(f"{a.kind}-s{a.seed}-dopri5.json")
        _write(dpath, {"name": f"{card.get('name', a.kind)}, solved by dopri5", "weights": str(weights_path(
            a.kind, a.seed).relative_to(ROOT)), "solver": "torchdiffeq dopri5, rtol = atol = 1e-3 (the public code's)",
            "evaluation": {**summary_d, "transfer_from": list(transfer) + ["rk4 copy (same weights)"],
                           "note": f"the first {len(sub)} shipped episodes; query attacks only (CPU time)"},
            "evaluation_command": command, "evaluation_wall_seconds": round(time.perf_counter() - t1, 1)})
        np.savez_compressed(per_image_path(a.kind, a.seed, "-dopri5"), **per_image_arrays(per_d, sub.classes.numpy()))
        print("dopri5: " + ", ".join(f"{k} {v['dice']:.3f}" for k, v in summary_d["results"].items()))
    if a.only_dopri5:
        return 0
    res = card["evaluation"]["results"]
    print(f"{a.kind} s{a.seed}: {card['evaluation_wall_seconds']} s; " + ", ".join(
        f"{k} {v['dice']:.3f}" for k, v in res.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
