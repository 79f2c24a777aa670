"""Per-image results and robustness distributions of the zoo models, beside their cards (issue 35).

    OMP_NUM_THREADS=1 PYTHONPATH=. .venv/bin/python tools/per_image_zoo.py [names] [--dist-n 500]

For each model, on the shipped 1,000-image Fashion-MNIST subset (assets/data):

* the card's subset evaluation per image — clean, FGSM, PGD-20, APGD-CE at ε = 0.1 with the card's
  seeds and batch size (core/evaluation/zoo/cards.py), so the per-image sums reproduce the card's counts —
  and the Gaussian-noise accuracy per image at every σ of the card (one fixed draw per image, shared by
  all models);
* the robustness distribution on the first ``--dist-n`` images: each image's smallest flipping ε (L∞)
  on core.evaluation.distributions.ZOO_GRID by the worst-case ensemble's gradient attacks: APGD-CE, then
  targeted APGD-DLR on the highest other class, 25 iterations each (the cards' worst case runs 50 iterations
  and three targets: cut for time on this 2-core machine, since every image is attacked at every grid point
  until it flips; test_distributions checks that the result at the card's ε does not differ significantly
  from the card's worst case); the "rand" version with EOT for a
  randomized model), with carry-over between grid points. Square is left out of the grid for time: in
  the cards' 1,000-image worst cases it fooled no image of 20 of the 22 models (13 for CIFS, 1 for
  DIAL); the CIFS model is measured through its channel mask, the view its card quotes.

Writes ``assets/zoo/<name>.per_image.npz`` (core/evaluation/per_image.py) and the card's ``per_image``
and ``distribution`` blocks.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import zoo_common  # noqa: E402
from core.attacks.cifs_adaptive import has_cifs, through_mask  # noqa: E402
from core.data.fashion_mnist import load_test_subset, to_float  # noqa: E402
from core.evaluation.distributions import ZOO_GRID, distribution_block, min_eps_grid  # noqa: E402
from core.evaluation.ensemble import EnsembleConfig  # noqa: E402
from core.evaluation.per_image import PerImage, path_for  # noqa: E402
from core.evaluation.zoo.cards import (EVAL_EPS, METRICS, NOISE_SIGMAS, card_attacks, noise_correct,  # noqa: E402
                                       predict, robust_correct)
from core.models.zoo.catalogue import ZOO, get_entry, load_zoo_model  # noqa: E402

GRID_CONFIG = EnsembleConfig(norm="linf", eps=EVAL_EPS, apgd_steps=25, n_targets=1, square_queries=0)
GRID_ATTACKS = ("APGD-CE (25 it.) then targeted APGD-DLR on the top other class (25 it.), each on the images "
                "no smaller ε fooled; Square left out (it fooled no image of 20 of the 22 zoo models in the cards' "
                "worst cases)")


def noise_key(sigma: float) -> str:
    return f"noise_{sigma:g}"


def per_image_block(path: Path, per: PerImage, card: dict, evaluated: list[str], dist: str, seconds: float,
                    command: str) -> dict:
    """The card's ``per_image`` block: the file, what each array holds, and the per-image sums."""
    words = card.get("evaluation", {}).get("attacks", {})
    what = {}
    for m in evaluated:
        base, _, eps = m.partition("_eps")
        if m.startswith("noise_"):
            what[m] = f"Gaussian noise σ = {m[6:]}, the card's fixed draw"
        elif eps:
            what[m] = f"{words.get(base, base)} at ε = {eps}"
        else:
            what[m] = words.get(m, m)
    return {"file": str(path.relative_to(ROOT)), "format_version": 1, "n": per.n, "evaluations": what,
            "counts": {m: int(per.correct[m].sum()) for m in evaluated}, "min_eps_linf": dist,
            "seconds_single_attacks_and_noise": seconds, "command": command, "threads": torch.get_num_threads()}


def run(name: str, dist_n: int, command: str, extra_eps: tuple[float, ...] = ()) -> None:
    entry = get_entry(name)
    card = zoo_common.read_card(name)
    if not card:
        print(f"{name}: no card; skipped", flush=True)
        return
    x8, y, idx = load_test_subset()
    x, y = to_float(x8), y.long()
    model = load_zoo_model(name)
    t0 = time.perf_counter()
    per = PerImage(np.asarray(idx), y.numpy())
    clean = predict(model, x) == y
    attacks = card_attacks(EVAL_EPS)
    evaluated = []
    if not entry.randomized:  # the cards' single attacks are deterministic only for deterministic models
        for m in METRICS:
            ok = clean if m == "clean" else robust_correct(model, x, y, attacks[m], seed=1000 * METRICS.index(m),
                                                           clean_correct=clean)
            per.add(m, ok.numpy())
            evaluated.append(m)
        for eps in extra_eps:  # the single attacks at another ε (the ViT heads' claim is about small ε)
            more = card_attacks(eps)
            for m in ("fgsm", "pgd20", "apgd_ce"):
                ok = robust_correct(model, x, y, more[m], seed=1000 * METRICS.index(m), clean_correct=clean)
                per.add(f"{m}_eps{eps:g}", ok.numpy())
                evaluated.append(f"{m}_eps{eps:g}")
        for sigma in NOISE_SIGMAS:
            per.add(noise_key(sigma), noise_correct(model, x, y, sigma).numpy())
            evaluated.append(noise_key(sigma))
    cheap_s = round(time.perf_counter() - t0, 1)
    if dist_n <= 0:  # only the per-image single attacks and noise (claims judged on noise accuracy)
        path = per.save(path_for(entry.card_path))
        card["per_image"] = per_image_block(path, per, card, evaluated, "not measured", cheap_s, command)
        zoo_common.write_card(name, card)
        print(f"{name}: per-image evaluations only ({cheap_s} s)", flush=True)
        return
    view = through_mask(model) if has_cifs(model) else model
    cfg = dataclasses.replace(GRID_CONFIG, version="rand") if entry.randomized else GRID_CONFIG
    n = min(dist_n, len(y))
    grid = min_eps_grid(view, x[:n], y[:n], ZOO_GRID, config=cfg, seed=0,
                        progress=lambda d, t, msg: print(f"  {name}: {msg}", flush=True))
    min_eps = np.full(len(y), np.nan, dtype=np.float32)
    min_eps[:n] = grid.min_eps
    per.values["min_eps_linf"] = min_eps
    found = np.array([""] * len(y), dtype="<U24")
    found[:n] = grid.found_by[EVAL_EPS]
    per.found_by["grid_eps_0.1"] = found
    path = per.save(path_for(entry.card_path))
    card["per_image"] = per_image_block(path, per, card, evaluated, f"first {n} images (NaN: not measured)",
                                        cheap_s, command)
    card["distribution"] = distribution_block(grid.min_eps, ZOO_GRID, card_eps=EVAL_EPS, attacks=GRID_ATTACKS
                                              + (" ('rand' version: EOT gradients, majority votes)"
                                                 if entry.randomized else "")
                                              + (" (through the CIFS channel mask)" if view is not model else ""),
                                              seconds=grid.seconds, command=command)
    zoo_common.write_card(name, card)
    at = next(p for p in card["distribution"]["ecdf"] if abs(p["eps"] - EVAL_EPS) < 1e-9)
    print(f"{name}: cheap {cheap_s} s, grid {card['distribution']['total_seconds']} s; robust at ε = 0.1: "
          f"{at['robust']}/{at['n']}; median {card['distribution']['median']}", flush=True)


def rebuild_distribution(name: str) -> None:
    """Recompute a card's distribution block (ECDF, median) from its per-image file, keeping how it was made."""
    entry = get_entry(name)
    card = zoo_common.read_card(name)
    per = PerImage.load(path_for(entry.card_path))
    v = per.values["min_eps_linf"]
    old = card["distribution"]
    card["distribution"] = distribution_block(v[~np.isnan(v)], old["grid"], card_eps=old["card_eps"],
                                              attacks=old["attacks"], seconds={float(k): s for k, s in
                                                                               old["seconds"].items()},
                                              command=old["command"])
    zoo_common.write_card(name, card)
    print(f"{name}: distribution block rebuilt from {path_for(entry.card_path).name}", flush=True)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="*")
    ap.add_argument("--dist-n", type=int, default=500, help="images of the distribution (first n of the subset)")
    ap.add_argument("--extra-eps", type=float, nargs="*", default=[], help="also FGSM/PGD-20/APGD-CE at these ε")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rebuild", action="store_true", help="only recompute the cards' distribution blocks from the "
                    "per-image files")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    names = args.models or [e.name for e in ZOO]
    command = "tools/per_image_zoo.py " + " ".join(sys.argv[1:])
    for name in names:
        if args.rebuild:
            rebuild_distribution(name)
            continue
        run(name, args.dist_n, command, tuple(args.extra_eps))


if __name__ == "__main__":
    main()
