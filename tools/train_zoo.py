"""Retrain the whole Fashion-MNIST model zoo on the CPU, evaluate it, and write the model cards.

Needs the Debian package with the dataset (the app and the tests do not):

    apt-get install -y --no-install-recommends dataset-fashion-mnist
    OMP_NUM_THREADS=1 PYTHONPATH=. .venv/bin/python tools/train_zoo.py            # everything

Phases (``--phase``, default ``all`` = subset, train, evaluate, docs):

* ``subset``   — assets/data/fashion_mnist_test_1000.npz: 100 test images per class (seed 0).
* ``train``    — for each model (``--models``, default all, in zoo order: the standard model
  first, since J-SIGR uses it as its saliency teacher): fixed seed, the shared budget of
  :class:`core.train.common.TrainConfig`, weights to assets/zoo/<name>.pt and the training part
  of assets/zoo/<name>.json.
* ``evaluate`` — clean / FGSM / PGD-20 / APGD-CE accuracy at ε = 0.1 on the full 10k test set
  and on the shipped subset, and PGD-10 accuracy-versus-ε curves on the subset, into the cards
  (the same code as tools/evaluate_zoo.py).
* ``docs``     — docs/models/zoo.md, the table of all cards (and the cards' title/paper/about
  refreshed from core/models/zoo/catalogue.py).

* ``seeds``    — retrain with other seeds (``--seeds 1 2``) into ``--out DIR`` and evaluate them;
  ``--merge-seeds DIR`` writes the spread into the cards (tools/seed_zoo.py).

Threads: ``--threads`` (default 1, to share a small machine). Deterministic for a given thread
count. Progress bars with tqdm when it is importable, plain lines otherwise.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from core.data import fashion_mnist as zdata  # noqa: E402
from core.train.common import TrainConfig  # noqa: E402
from core.models.zoo.catalogue import ZOO, ZOO_BY_NAME, build, get_entry, load_zoo_model  # noqa: E402
from core.models.zoo.net import FMNIST_MEAN, FMNIST_STD  # noqa: E402
from core.evaluation.zoo.cards import METRICS  # noqa: E402
import seed_zoo  # noqa: E402
from zoo_common import evaluation_for, read_card, train_model, training_data, write_card  # noqa: E402
from zoo_docs import phase_docs  # noqa: E402

def phase_subset() -> None:
    x, y = zdata.load_fashion_mnist("test")
    idx = zdata.stratified_indices(y, 100, seed=0)
    zdata.save_test_subset(x[idx], y[idx], idx)
    print(f"wrote {zdata.SUBSET_PATH} ({zdata.SUBSET_PATH.stat().st_size} bytes)")


def variant_card(name: str) -> dict:
    """The card of an entry that loads another entry's weights (``weights_from``: a test-time variant,
    e.g. another ODE solver): nothing is trained; the training record is the source card's, marked so."""
    entry = get_entry(name)
    src = read_card(entry.weights_from)
    if "training" not in src:
        raise SystemExit(f"{name} loads the weights of {entry.weights_from}: train {entry.weights_from} first")
    model = build(name)
    return {"name": name, "title": entry.title, "paper": entry.paper, "recipe": entry.recipe, "about": entry.about,
            "architecture": {"family": entry.family, "family_title": entry.arch_family.title,
                             "defined_in": entry.arch_family.module, **getattr(model.net, "config", {}),
                             "parameters": sum(p.numel() for p in model.parameters()),
                             "input": "[0, 1], (N, 1, 28, 28) or (N, 3, 28, 28) averaged to grey",
                             "normalisation": [FMNIST_MEAN, FMNIST_STD]},
            "recipe_params": src["recipe_params"], "teacher": src.get("teacher"), "train_config": src["train_config"],
            "training": {**src["training"], "seconds": 0.0,
                         "not_trained": f"the weights of {entry.weights_from} (trained in "
                                        f"{src['training']['seconds']:.0f} s), evaluated with this entry's architecture"},
            "weights": f"assets/zoo/{entry.weights_from}.pt", "weights_from": entry.weights_from,
            "licence": src.get("licence", "")}


def phase_train(names: list[str], cfg: TrainConfig) -> None:
    x, y, idx = training_data(cfg)
    print(f"training images: {len(idx)} (class-balanced, seed {cfg.seed})", flush=True)
    trained: dict[str, torch.nn.Module] = {}
    for name in names:
        entry = get_entry(name)
        if entry.weights_from:  # a test-time variant of another entry's weights: never trained (issue 21)
            write_card(name, variant_card(name))
            print(f"{name}: not trained, loads {entry.weights_path.name}", flush=True)
            continue
        model, recipe, log, secs = train_model(name, cfg, x, y, trained)
        entry.weights_path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(model.state_dict(), entry.weights_path)
        trained[name] = model
        card = {
            "name": name, "title": entry.title, "paper": entry.paper, "recipe": entry.recipe,
            "about": entry.about,
            "architecture": {"family": entry.family, "family_title": entry.arch_family.title,
                             "defined_in": entry.arch_family.module, **getattr(model.net, "config", {}),
                             "parameters": sum(p.numel() for p in model.parameters()),
                             "input": "[0, 1], (N, 1, 28, 28) or (N, 3, 28, 28) averaged to grey",
                             "normalisation": [FMNIST_MEAN, FMNIST_STD]},
            "recipe_params": recipe.params(),
            "teacher": entry.teacher,
            "train_config": cfg.as_dict(),
            "training": {
                "seconds": round(secs, 1), "epoch_loss": [round(v, 4) for v in log.epoch_loss],
                "epoch_train_accuracy": [round(v, 4) for v in log.epoch_train_acc],
                "passes_per_step": recipe.passes_per_step(), "threads": torch.get_num_threads(),
                "torch": torch.__version__, "machine": platform.machine(),
                "date": _dt.date.today().isoformat(),
                "data": f"{len(idx)} Fashion-MNIST training images (class-balanced, seed {cfg.seed}), "
                        "Debian dataset-fashion-mnist",
            },
            "weights": f"assets/zoo/{name}.pt",
            "licence": "MIT (trained by this project on Fashion-MNIST, © Zalando SE, MIT)",
        }
        old = read_card(name)
        if "evaluation" in old:  # stale after retraining
            card["evaluation_stale"] = True
        write_card(name, card)
        print(f"{name}: trained in {secs:.0f} s, last-epoch loss {log.epoch_loss[-1]:.3f}", flush=True)


def phase_evaluate(names: list[str], full: bool = True, batch_size: int = 500,
                   full_metrics: tuple[str, ...] = METRICS, curve: bool = True,
                   subset_metrics: tuple[str, ...] = METRICS) -> None:
    for name in names:
        card = read_card(name)
        old = card.get("evaluation", {})
        ev = evaluation_for(name, full=full, batch_size=batch_size, full_metrics=full_metrics, curve=curve,
                            subset_metrics=subset_metrics)
        if set(subset_metrics) != set(METRICS):  # the slowest models: the card says which attacks were left out
            ev["subset_skipped"] = (f"not run (--subset-metrics): {', '.join(m for m in METRICS if m not in subset_metrics)}"
                                    " — too slow for this model on the project's CPU")
        if not full and "full_test" in old:
            ev["full_test"], ev["full_test_seconds"] = old["full_test"], old.get("full_test_seconds")
        if "full_test" not in ev:  # the cards say why a model has only subset numbers
            ev["full_test_skipped"] = ("not run (--subset-only-eval): only the 1,000 shipped subset images; the "
                                       "full 10,000-image test set was too slow for this model on the project's CPU")
        card["evaluation"] = ev
        card.pop("evaluation_stale", None)
        write_card(name, card)
        show = {k: v["accuracy"] for k, v in ev.get("full_test", ev["subset"]).items()}
        print(f"{name}: " + ", ".join(f"{k} {v:.3f}" for k, v in show.items()), flush=True)


def phase_noise(names: list[str]) -> None:
    """Add (or refresh) the Gaussian-noise accuracy on the shipped subset in each card."""
    from core.evaluation.zoo.cards import noise_block

    x, y, _ = zdata.load_test_subset()
    for name in names:
        card = read_card(name)
        if "evaluation" not in card:
            print(f"{name}: no evaluation block yet; skipped")
            continue
        card["evaluation"]["gaussian_noise_subset"] = noise_block(load_zoo_model(name), zdata.to_float(x), y)
        write_card(name, card)
        pts = card["evaluation"]["gaussian_noise_subset"]["points"]
        print(f"{name}: noise " + ", ".join(f"σ={p['sigma']:g} {p['accuracy']:.3f}" for p in pts), flush=True)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--phase", choices=["all", "subset", "train", "evaluate", "noise", "seeds", "docs"], default="all")
    ap.add_argument("--seeds", nargs="*", type=int, default=[1, 2], help="seeds phase: the other training seeds")
    ap.add_argument("--out", default="/tmp/zooseeds", help="seeds phase: folder for one JSON per model and seed")
    ap.add_argument("--merge-seeds", default=None, metavar="DIR", help="write the seed results in DIR into the cards")
    ap.add_argument("--models", nargs="*", default=None, help="zoo names (default: all)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--subset-only-eval", action="store_true", help="evaluate: skip the full test set")
    ap.add_argument("--full-metrics", nargs="+", choices=METRICS, default=list(METRICS),
                    help="evaluate: the metrics run on the full test set (default all; e.g. clean fgsm for a "
                         "slow architecture, whose other attacks then run on the shipped subset only)")
    ap.add_argument("--subset-metrics", nargs="+", choices=METRICS, default=list(METRICS),
                    help="evaluate: the metrics run on the shipped subset (default all; fewer for the slowest models)")
    ap.add_argument("--no-curve", action="store_true", help="evaluate: leave out the PGD-10 accuracy-vs-ε curve "
                    "(the slowest architectures: the dopri5 ODE variant, LT-NODE)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    names = args.models or [e.name for e in ZOO]
    for n in names:
        if n not in ZOO_BY_NAME:
            ap.error(f"unknown model {n}; known: {', '.join(ZOO_BY_NAME)}")
    cfg = TrainConfig(threads=args.threads)
    t0 = time.perf_counter()
    if args.merge_seeds or args.phase == "seeds":
        if args.merge_seeds:
            seed_zoo.merge_seeds(Path(args.merge_seeds))
        else:
            for n in names:
                for sd in args.seeds:
                    seed_zoo.run_seed(n, sd, cfg, Path(args.out))
        print(f"done in {time.perf_counter() - t0:.0f} s")
        return
    if args.phase in ("all", "subset"):
        phase_subset()
    if args.phase in ("all", "train"):
        phase_train(names, cfg)
    if args.phase in ("all", "evaluate"):
        phase_evaluate(names, full=not args.subset_only_eval, full_metrics=tuple(args.full_metrics),
                       curve=not args.no_curve, subset_metrics=tuple(args.subset_metrics))
    if args.phase == "noise":
        phase_noise(names)
    if args.phase in ("all", "docs", "evaluate", "noise"):
        phase_docs()
    print(f"done in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
