"""Run the binarization test (core/evaluation/audit/binarization.py) on every zoo model, or on an ImageNet classifier
behind an inference-time defense, and store the per-model results as JSON with the command that made them.

Zoo (``--zoo``): for each model of ``core.models.zoo.catalogue.ZOO`` (randomized ones with EOT gradients and
majority verdicts, as the audit treats them), the first ``--n`` images of the shipped test subset that
the model classifies correctly, ε = 0.1 (L∞), 999 inner points; attacks: the audit's white-box PGD
(20 steps of 2.5ε/20, random start) and APGD-CE (50 iterations, the worst-case ensemble's first
stage). The worst case's cost per image is read from the model's card (``worst_case.as_shipped``:
seconds over its n images, one thread) for the comparison in docs/BENCHMARKS.md.

ImageNet (``--defense NAME[:k=v]`` with ``--model``): the shipped labelled ImageNet photos, ε = 4/255,
PGD with ``--steps`` steps (5, as the shipped audits of docs/audits/), naive or adaptive gradients.

    python tools/binarization_runs.py --zoo --n 20 --out docs/audits/binarization/zoo.json
    python tools/binarization_runs.py --model EfficientNet-Lite0 --defense JPEG:quality=25 --naive --n 3 \
        --out docs/audits/binarization/jpeg25-naive.json
    python tools/binarization_runs.py --table    # the markdown table of docs/BENCHMARKS.md

The results live in their own folder, docs/audits/binarization/: the audits' folder docs/audits/ holds
only ``python -m core audit`` files, which tools/audit_table.py and the tests read by globbing it.
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from the repository root

from core.attacks.apgd import APGDCE  # noqa: E402
from core.attacks.base import ThreatModel  # noqa: E402
from core.attacks.pgd import PGD  # noqa: E402
from core.evaluation.audit.binarization import N_INNER, binarization_test  # noqa: E402
from core.evaluation.audit.runs import prepare  # noqa: E402
from core.cli.commands import parse_defense  # noqa: E402
from core.evaluation.ensemble import EnsembleConfig, worst_case  # noqa: E402
from core.models.zoo.catalogue import ZOO, ZOO_DIR  # noqa: E402


def attacks(eps: float, steps: int, apgd_steps: int) -> dict:
    return {"pgd": (f"PGD ({steps} steps of 2.5ε/{steps}, random start; the audit's white-box attack)",
                    lambda: PGD(ThreatModel(eps=eps, step=2.5 * eps / steps, steps=steps))),
            "apgd_ce": (f"APGD-CE ({apgd_steps} iterations; the worst-case ensemble's first stage)",
                        lambda: APGDCE(ThreatModel(eps=eps, step=eps, steps=apgd_steps)))}


def card_worst_case(name: str) -> dict:
    """Seconds per image of the card's worst case (as shipped), and its setting."""
    wc = json.loads((ZOO_DIR / f"{name}.json").read_text(encoding="utf-8")).get("worst_case") or {}
    shipped = wc.get("as_shipped") or {}
    if not shipped.get("seconds") or not shipped.get("n"):
        return {}
    return {"seconds": shipped["seconds"], "n": shipped["n"], "per_image_s": round(shipped["seconds"] / shipped["n"], 4),
            "threads": wc.get("threads"), "command": wc.get("command")}


def run_one(name: str, n: int, eps: float, steps: int, apgd_steps: int, which: list[str], n_inner: int,
            defense=None, adaptive: bool = True, labelled: bool = False, pool: int = 60,
            through_mask: bool = False) -> dict:
    target = prepare(name, n=pool, defense=defense, adaptive=adaptive, surrogate=None, labelled=labelled,
                     through_mask=through_mask)
    out = {"description": target.description, "data": target.data, "randomized": target.randomized,
           "eps": eps, "n_inner": n_inner, "attacks": {}}
    for key, (label, make) in attacks(eps, steps, apgd_steps).items():
        if key not in which:
            continue
        t0 = time.perf_counter()
        r = binarization_test(target.model, target.x, target.y, eps, make, n_cases=n, n_inner=n_inner,
                              randomized=target.randomized)
        s = r.summary()
        out["attacks"][key] = {**{k: s[k] for k in ("tried", "feasible", "found", "score", "ci95", "random_found",
                                                   "nontrivial_found", "nontrivial_feasible")},
                               "attack": label, "seconds": round(time.perf_counter() - t0, 1),
                               "cases": [{k: c[k] for k in ("index", "feasible", "found", "random_found")}
                                         for c in r.cases]}
        print(f"{name} {target.description} [{key}]: {s['found']}/{s['feasible']} feasible "
              f"(of {s['tried']}), random {s['random_found']}, {out['attacks'][key]['seconds']} s", flush=True)
    return out


def _pct(found: int, n: int) -> str:
    return f"{found}/{n}" + (f" ({100 * found / n:.0f} %)" if n else "")


def table(zoo_json: Path, defense_jsons: list[Path]) -> str:
    """Markdown tables for docs/BENCHMARKS.md from the stored results."""
    rows = ["| model | attack | feasible / tried | found | random point wins | found where it does not | "
            "seconds (per image) | worst case s / image (card) |", "|---|---|---|---|---|---|---|---|"]
    if zoo_json.exists():
        for name, m in json.loads(zoo_json.read_text(encoding="utf-8"))["models"].items():
            wc = m.get("worst_case", {}).get("per_image_s")
            if m.get("not_run"):
                rows.append(f"| {name} | — | not run: {m['not_run']} | | | | | {wc if wc else '—'} |")
            for key, r in m["attacks"].items():
                nt = [c for c in r["cases"] if c["feasible"] and not c["random_found"]]
                rows.append(f"| {name} | {key} | {r['feasible']}/{r['tried']} | {_pct(r['found'], r['feasible'])} | "
                            f"{r['random_found']} | {_pct(sum(c['found'] for c in nt), len(nt))} | "
                            f"{r['seconds']} ({r['seconds'] / max(r['tried'], 1):.2f}) | {wc if wc else '—'} |")
    for p in defense_jsons:
        d = json.loads(p.read_text(encoding="utf-8"))
        for key, r in d.get("attacks", {}).items():  # zoo-style files (same_run.json, ltnode.json) have "models"
            nt = [c for c in r["cases"] if c["feasible"] and not c["random_found"]]
            rows.append(f"| {d['description']} (`{p.name}`) | {key} | {r['feasible']}/{r['tried']} | "
                        f"{_pct(r['found'], r['feasible'])} | {r['random_found']} | "
                        f"{_pct(sum(c['found'] for c in nt), len(nt))} | {r['seconds']} "
                        f"({r['seconds'] / max(r['tried'], 1):.1f}) | — |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--zoo", action="store_true", help="every zoo model")
    p.add_argument("--models", default=None, help="with --zoo: only these (comma-separated)")
    p.add_argument("--model", default="EfficientNet-Lite0")
    p.add_argument("--defense", default=None, metavar="NAME[:key=value,...]")
    p.add_argument("--naive", action="store_true")
    p.add_argument("--worst-case", action="store_true",
                   help="with --zoo: also time the worst-case ensemble (card settings) on the same n images, same process")
    p.add_argument("--through-mask", action="store_true",
                   help="with --zoo --models fmnist-cifs: attack through the CIFS mask (stored as '<name> through-mask')")
    p.add_argument("--n", type=int, default=20, help="images (cases) per model")
    p.add_argument("--eps", type=float, default=None)
    p.add_argument("--steps", type=int, default=None, help="PGD steps (default 20 zoo, 5 ImageNet)")
    p.add_argument("--apgd-steps", type=int, default=50)
    p.add_argument("--attacks", default=None, help="pgd,apgd_ce (default: both for the zoo, pgd for ImageNet)")
    p.add_argument("--n-inner", type=int, default=N_INNER)
    p.add_argument("--out", default=None)
    p.add_argument("--table", action="store_true", help="print the markdown table of docs/audits/binarization*.json")
    a = p.parse_args(argv)
    if a.table:
        folder = Path(__file__).resolve().parents[1] / "docs" / "audits" / "binarization"
        print(table(folder / "zoo.json", sorted(p for p in folder.glob("*.json") if p.name != "zoo.json")))
        return 0
    if not a.out:
        p.error("--out is required")
    torch.set_num_threads(1)
    command = "python tools/binarization_runs.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    out_path = Path(a.out)
    if a.zoo:
        eps, steps = a.eps or 0.1, a.steps or 20
        which = (a.attacks or "pgd,apgd_ce").split(",")
        names = a.models.split(",") if a.models else [e.name for e in ZOO]
        doc = json.loads(out_path.read_text(encoding="utf-8")) if out_path.exists() else {}
        doc.setdefault("about", "Binarization test (core/evaluation/audit/binarization.py) per zoo model: the first n correctly "
                                "classified images of the shipped test subset, eps 0.1 (Linf), 999 inner points, "
                                "one boundary point; score = found / feasible with its exact 95 % interval; "
                                "random_found: cases a random eps-surface point or corner already wins; "
                                "worst_case: the card's worst-case cost. One thread, shared 2-core CPU.")
        doc.setdefault("models", {})
        for name in names:
            t0 = time.perf_counter()
            try:
                res = run_one(name, a.n, eps, steps, a.apgd_steps, which, a.n_inner, through_mask=a.through_mask)
            except ValueError as e:  # e.g. no final linear layer (the NTK kernel machine)
                print(f"{name}: not run: {e}", flush=True)
                res = {"not_run": str(e), "attacks": {}}
            res.update(n=a.n, seconds=round(time.perf_counter() - t0, 1), command=command,
                       worst_case=card_worst_case(name))
            if a.worst_case and not res.get("not_run"):
                # the same images the test used (its cases), the card's ensemble budget, timed here
                target = prepare(name, n=60, surrogate=None, through_mask=a.through_mask)
                idx = [c["index"] for c in next(iter(res["attacks"].values()))["cases"]]
                cfg = EnsembleConfig(eps=eps, version="rand" if target.randomized else "standard")
                wc = worst_case(target.model, target.x[idx], target.y[idx], cfg)
                res["worst_case_same_run"] = {"n": len(idx), "seconds": round(wc.elapsed_s, 1),
                                              "per_image_s": round(wc.elapsed_s / max(len(idx), 1), 4),
                                              "robust": int(wc.robust.sum())}
                print(f"{name}: worst case on the same {len(idx)} images {wc.elapsed_s:.1f} s", flush=True)
            doc["models"][name + (" through-mask" if a.through_mask else "")] = res
            out_path.write_text(json.dumps(doc, indent=1), encoding="utf-8")
        return 0
    eps, steps = a.eps or 4 / 255, a.steps or 5
    which = (a.attacks or "pgd").split(",")
    defense = parse_defense(a.defense) if a.defense else None
    t0 = time.perf_counter()
    res = run_one(a.model, a.n, eps, steps, a.apgd_steps, which, a.n_inner, defense=defense, adaptive=not a.naive,
                  labelled=True, pool=20)
    res.update(model=a.model, defense=a.defense, adaptive=not a.naive, n=a.n,
               seconds=round(time.perf_counter() - t0, 1), command=command)
    out_path.write_text(json.dumps(res, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
