"""Evaluate zoo models with the worst-case ensemble (core/evaluation/ensemble.py) and, optionally, with
torchattacks' AutoAttack on the same images (the agreement table of docs/BENCHMARKS.md).

    OMP_NUM_THREADS=1 PYTHONPATH=. .venv/bin/python tools/ensemble_zoo.py --out /tmp/zooeval [names]
    ... --oracle 200     # also torchattacks.AutoAttack('standard') on the first 200 images
    ... --merge DIR      # copy the results in DIR into the cards (evaluation.ensemble) and docs
    ... --full           # the whole 10,000-image test set (Debian package dataset-fashion-mnist)
    ... --merge-full DIR # copy full-test-set results in DIR into the cards (worst_case.full_test_set)
    ... --merge-audits DIR  # replace only the audits in the cards (DIR/NAME.json from python -m core audit --out)

Images: the shipped 1,000-image test subset (assets/data), or with --full the whole test set,
float in [0, 1]; ε = 0.1 (L∞).
CIFS is evaluated twice: as shipped (the attacks' gradient treats its channel mask as a
constant) and through its mask (core/attacks/cifs_adaptive.py); the card quotes the lower.
One JSON per model in the output folder: the ensemble summary, per-image verdicts and timing.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from collections.abc import Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from core.attacks.cifs_adaptive import has_cifs, through_mask  # noqa: E402
from core.evaluation.ensemble import EnsembleConfig, worst_case  # noqa: E402
from core.data.fashion_mnist import load_fashion_mnist, load_test_subset, to_float  # noqa: E402
from core.models.zoo.catalogue import ZOO_BY_NAME, available, get_entry, load_card, load_zoo_model  # noqa: E402
import zoo_common  # noqa: E402
import zoo_docs  # noqa: E402

EPS = 0.1
CONFIG = EnsembleConfig(norm="linf", eps=EPS, apgd_steps=50, n_targets=3, square_queries=1000, square_p_init=0.8)


def torchattacks_autoattack(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """Per image: robust under torchattacks.AutoAttack(version='standard') (its own defaults:
    APGD-CE, APGD-T over 9 targets, FAB-T, Square 5,000 queries)."""
    import torchattacks

    aa = torchattacks.AutoAttack(model, norm="Linf", eps=EPS, version="standard", n_classes=10, seed=seed)
    adv = aa(x, y)
    with torch.no_grad():
        return (model(adv).argmax(1) == y) & (model(x).argmax(1) == y)


def evaluate_one(name: str, n: int, oracle: int, seed: int = 0, full: bool = False,
                 model: torch.nn.Module | None = None) -> dict:
    """The worst case of zoo model ``name`` (its shipped weights, or ``model``: e.g. another
    training seed) on the first ``n`` images."""
    x, y = load_fashion_mnist("test") if full else load_test_subset()[:2]
    x, y = to_float(x)[:n], y[:n].long()
    n = len(y)
    model = load_zoo_model(name) if model is None else model
    out: dict = {"model": name, "n": n, "data": "full test set" if full else "shipped test subset",
                 "eps": EPS, "norm": "linf", "seed": seed, "threads": torch.get_num_threads(),
                 "torch": torch.__version__, "command": " ".join(sys.argv)}
    views = [("as_shipped", model)] + ([("through_mask", through_mask(model))] if has_cifs(model) else [])
    # a randomized model (LT-NODE) gets AutoAttack's "rand" version: EOT gradients, majority-vote verdicts
    config = dataclasses.replace(CONFIG, version="rand") if get_entry(name).randomized else CONFIG
    for label, m in views:
        t0 = time.perf_counter()
        r = worst_case(m, x, y, config, seed=seed,
                       progress=lambda d, t, msg: print(f"  {name} {label}: {msg}", file=sys.stderr, flush=True)
                       if d == t or d % 5 == 0 else None)
        s = r.summary()
        s["robust_per_image"] = [int(v) for v in r.robust]
        s["found_by"] = r.found_by
        with torch.no_grad():  # the class each image ends in (its first successful example, else the clean image)
            s["adv_pred_per_image"] = [int(v) for v in torch.cat([m(r.x_adv[i:i + 500]).argmax(1)
                                                                  for i in range(0, len(r.x_adv), 500)])]
        s["seconds"] = round(time.perf_counter() - t0, 1)
        out[label] = s
        print(f"{name} {label}: clean {s['clean_accuracy']:.3f} robust {s['robust_accuracy']:.3f} "
              f"({s['seconds']} s) {[(b['attack'], b['fooled']) for b in s['breakdown']]}", flush=True)
    if oracle:
        for label, m in views:
            t0 = time.perf_counter()
            rob = torchattacks_autoattack(m, x[:oracle], y[:oracle], seed=seed)
            mine = torch.tensor(out[label]["robust_per_image"][:oracle]).bool()
            out[label]["oracle"] = {"n": oracle, "torchattacks_autoattack_robust": int(rob.sum()),
                                    "ensemble_robust": int(mine.sum()),
                                    "both_robust": int((rob & mine).sum()),
                                    "only_ensemble_robust": int((mine & ~rob).sum()),
                                    "only_torchattacks_robust": int((rob & ~mine).sum()),
                                    "seconds": round(time.perf_counter() - t0, 1)}
            print(f"{name} {label} oracle: {out[label]['oracle']}", flush=True)
    return out


def _views(res: dict) -> tuple[dict, str, dict]:
    """A run's model views (as shipped, and through the mask for CIFS), the view with the lower
    robust accuracy (the one the card quotes) and each view's summary as a card keeps it."""
    views = {k: res[k] for k in ("as_shipped", "through_mask") if k in res}
    quoted_view = min(views, key=lambda k: views[k]["robust_accuracy"])
    keep = ("n", "clean_accuracy", "robust_accuracy", "clean_correct", "robust", "breakdown", "seconds")
    return views, quoted_view, {k: {kk: v[kk] for kk in keep if kk in v} for k, v in views.items()}


def _attacks_text(view: dict) -> str:
    """The card's words for the ensemble that ran (the "rand" version for a randomized model)."""
    cfg = view.get("config", {})
    if cfg.get("version") == "rand":
        return (f"the 'rand' version for a randomized model: {', '.join(b['attack'] for b in view['breakdown'])} "
                f"({cfg['apgd_steps']} it.), gradients averaged over {cfg['eot_samples']} calls of the model (EOT), "
                f"every verdict a majority of {cfg['verdict_evals']} calls; each on the images still correct "
                "(core/evaluation/ensemble.py)")
    return ("APGD-CE (50 it.), APGD-T (targeted APGD-DLR, top-3 other classes, 50 it.), Square "
            "(1,000 queries, p_init 0.8); each on the images still correct (core/evaluation/ensemble.py)")


def worst_case_block(name: str, res: dict, audit: dict | None, audit_view: dict | None, oracle: dict | None) -> dict:
    """The card's ``worst_case`` block from this tool's JSON (and the audits' JSON, if any)."""
    views, quoted_view, kept = _views(res)
    block = {"eps": res["eps"], "norm": res["norm"], "n": res["n"],
             "data": f"first {res['n']} images of the shipped test subset",
             "attacks": _attacks_text(views["as_shipped"]),
             "config": views["as_shipped"]["config"], "seed": res["seed"], "threads": res["threads"],
             "command": res["command"], "robust_accuracy": views[quoted_view]["robust_accuracy"],
             "clean_accuracy": views[quoted_view]["clean_accuracy"], "quoted_view": quoted_view, **kept}
    for label, a in (("audit", audit), ("audit_through_mask", audit_view)):
        if a:
            block[label] = audit_block(a)
    if oracle:
        block["agreement"] = {k: v["oracle"] for k, v in oracle.items() if isinstance(v, dict) and "oracle" in v}
    return block


def audit_block(a: dict) -> dict:
    """The card's words for one audit, from its JSON (``python -m core audit --out``)."""
    return {"flagged": a["flagged"], "flags": a["flags"], "n": a["n"], "eps": a["config"]["eps"],
            "description": a.get("description", ""), "command": a.get("command", ""),
            "checks": {c["key"]: c["verdict"] for c in a["checks"]},
            # success rates over the clean-correct images: white-box PGD, transfer, Square (issue 22)
            "comparison": [{k: r[k] for k in ("eps", "white_box", "transfer", "square") if k in r}
                           for r in a.get("comparison", [])]}


def _merge_into_worst_case(folder: Path, suffix: str, key: str, block: Callable[[dict], dict], what: str) -> None:
    """For every zoo model with ``folder/NAME{suffix}``: set ``worst_case[key]`` of its card to
    ``block(that JSON)``, keeping the rest of the block; then regenerate docs/models/zoo.md."""
    for e in available():
        f = folder / f"{e.name}{suffix}"
        if not f.exists():
            continue
        card = load_card(e.name)
        if "worst_case" not in card:
            print(f"  {e.name}: its card has no worst-case block yet (run --merge first)")
            continue
        card["worst_case"][key] = block(json.loads(f.read_text(encoding="utf-8")))
        zoo_common.write_card(e.name, card)
        print(f"  wrote the {what} of {e.name}")
    zoo_docs.phase_docs()


def merge_audits(folder: Path) -> None:
    """Replace only the audit of each card whose audit JSON (NAME.json) is in ``folder``, keeping
    the rest of its worst-case block (a re-run audit needs no re-run of the ensemble)."""
    _merge_into_worst_case(folder, ".json", "audit", audit_block, "audit")


def full_test_set_block(res: dict) -> dict:
    """The card's ``worst_case.full_test_set`` block from a ``--full`` run's JSON."""
    views, quoted_view, kept = _views(res)
    return {"n": res["n"], "data": "the whole Fashion-MNIST test set (t10k, Debian package dataset-fashion-mnist)",
            "eps": res["eps"], "norm": res["norm"], "seed": res["seed"], "threads": res["threads"],
            "command": res["command"], "robust_accuracy": views[quoted_view]["robust_accuracy"],
            "clean_accuracy": views[quoted_view]["clean_accuracy"], "quoted_view": quoted_view, **kept}


def merge_full(folder: Path) -> None:
    """Write each ``--full`` result in ``folder`` (NAME.full.json) into its card
    (``worst_case.full_test_set``)."""
    _merge_into_worst_case(folder, ".full.json", "full_test_set", full_test_set_block, "full-test-set worst case")


def merge(folder: Path, audits: Path | None) -> None:
    """Write each model's ``worst_case`` block into its card and regenerate docs/models/zoo.md."""
    for e in available():
        f = folder / f"{e.name}.json"
        if not f.exists():
            print(f"  {e.name}: no results in {folder}")
            continue
        res = json.loads(f.read_text(encoding="utf-8"))
        of = folder / f"{e.name}.oracle.json"
        oracle = json.loads(of.read_text(encoding="utf-8")) if of.exists() else None

        def read(p: Path | None) -> dict | None:
            return json.loads(p.read_text(encoding="utf-8")) if p is not None and p.exists() else None

        audit = read(audits / f"{e.name}.json") if audits else None
        audit_view = read(audits / f"{e.name}-through-mask.json") if audits else None
        card = load_card(e.name)
        full = card.get("worst_case", {}).get("full_test_set")  # kept: it comes from --merge-full
        card["worst_case"] = worst_case_block(e.name, res, audit, audit_view, oracle)
        others = sorted(audits.glob(f"{e.name}-surrogate-*.json")) if audits else []
        if others:  # the same audit with other surrogates (NAME-surrogate-OTHER.json; issue 22)
            card["worst_case"]["audit_other_surrogates"] = [
                worst_case_block(e.name, res, read(p), None, None)["audit"] for p in others]
        if full is not None:
            card["worst_case"]["full_test_set"] = full
        zoo_common.write_card(e.name, card)
        print(f"  wrote the worst-case block of {e.name}")
    zoo_docs.phase_docs()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="*")
    ap.add_argument("--out", default=None, help="folder for one JSON per model")
    ap.add_argument("--n", type=int, default=1000, help="images of the shipped subset (first n)")
    ap.add_argument("--full", action="store_true", help="the whole 10,000-image test set (overrides --n)")
    ap.add_argument("--oracle", type=int, default=0, help="also run torchattacks' AutoAttack on the first N images")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--merge", default=None, metavar="DIR", help="write the results in DIR into the cards and docs")
    ap.add_argument("--merge-full", default=None, metavar="DIR", help="write the --full results in DIR into the cards and docs")
    ap.add_argument("--audits", default=None, metavar="DIR", help="with --merge: the audits' JSON (python -m core audit --out)")
    ap.add_argument("--merge-audits", default=None, metavar="DIR",
                    help="replace only the audits of the cards whose audit JSON (NAME.json) is in DIR")
    args = ap.parse_args(argv)
    if args.merge:
        merge(Path(args.merge), Path(args.audits) if args.audits else None)
        return 0
    if args.merge_full:
        merge_full(Path(args.merge_full))
        return 0
    if args.merge_audits:
        merge_audits(Path(args.merge_audits))
        return 0
    torch.set_num_threads(args.threads)
    names = args.models or [e.name for e in available()]
    for nm in names:
        if nm not in ZOO_BY_NAME:
            ap.error(f"unknown model {nm}")
    out_dir = Path(args.out) if args.out else None
    if out_dir:
        out_dir.mkdir(parents=True, exist_ok=True)
    for nm in names:
        res = evaluate_one(nm, 10_000 if args.full else args.n, args.oracle, full=args.full)
        if out_dir:
            suffix = ".oracle" if args.oracle else ".full" if args.full else ""
            (out_dir / f"{nm}{suffix}.json").write_text(json.dumps(res, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
