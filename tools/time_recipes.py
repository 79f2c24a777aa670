"""Training cost of the zoo's recipes against PGD-AT's, measured in one run on one machine.

Each recipe runs the same number of training steps (its loss, backward pass and optimiser step,
exactly as :func:`core.train.common.fit` does them) on the same batches of the shared training
set; the recipes take turns, round after round, so that a change in the machine's load during the
run affects them alike. The per-step time is the median over the rounds; "× PGD-AT" divides it
by PGD-AT's. One-off preparation before training (LADDER's autoencoder and SVM, the kernel model's
support initialisation) is not in the per-step time: the cards' total training seconds include it.

    OMP_NUM_THREADS=1 PYTHONPATH=. .venv/bin/python tools/time_recipes.py --rounds 3 --steps 3
        # writes docs/models/recipe_times.json (read by tools/train_zoo.py --phase docs)
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from core.models.zoo.catalogue import ZOO_BY_NAME, build, get_entry  # noqa: E402
from core.data import fashion_mnist as zdata  # noqa: E402
from core.train.common import TrainConfig  # noqa: E402
from core.train.recipes import RECIPES, recipe_class  # noqa: E402

OUT = ROOT / "docs" / "models" / "recipe_times.json"
MODELS = ("fmnist-pgd-at", "fmnist-iat", "fmnist-dial", "fmnist-cost-sensitive", "fmnist-ladder",
          "fmnist-ntk-kernel", "fmnist-ntk-cnn")
def recipe_key(name: str) -> str:
    return get_entry(name).recipe


def make(name: str, x: torch.Tensor, y: torch.Tensor, cfg: TrainConfig, kernel):
    """(model, recipe, optimiser) ready to take steps; preparation done (not timed)."""
    torch.manual_seed(cfg.seed)
    model = build(name)
    cls = RECIPES[recipe_key(name)]
    recipe = cls(teacher=kernel) if name in ZOO_BY_NAME and get_entry(name).teacher else cls()
    if hasattr(recipe, "train_model"):
        recipe.init_support(model, x, y, cfg.seed)
        opt = torch.optim.Adam([model.net.support], lr=recipe.lr)
    else:
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=cfg.momentum, weight_decay=cfg.weight_decay,
                              nesterov=True)
        recipe.prepare(model, x, y)
        model.train()
    return model, recipe, opt


def step(model, recipe, opt, x, y, idx, gen) -> None:
    loss, _ = recipe.loss(model, x[idx], y[idx], idx, gen)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=3, help="steps per recipe per round")
    ap.add_argument("--models", nargs="*", default=list(MODELS))
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    cfg = TrainConfig()
    x_all, y_all = zdata.load_fashion_mnist("train")
    sel = zdata.stratified_indices(y_all, cfg.train_images // 10, seed=cfg.seed)
    x, y = zdata.to_float(x_all[sel]), y_all[sel]
    kernel = build("fmnist-ntk-kernel")
    recipe_class(get_entry("fmnist-ntk-kernel"))().init_support(kernel, x, y, cfg.seed)
    made = {n: make(n, x, y, cfg, kernel) for n in args.models}
    gen = torch.Generator().manual_seed(0)
    times: dict[str, list[float]] = {n: [] for n in args.models}
    for r in range(args.rounds):
        for n in args.models:
            model, recipe, opt = made[n]
            bs = getattr(recipe, "target_batch", cfg.batch_size)
            batches = [torch.randint(0, len(y), (bs,), generator=torch.Generator().manual_seed(100 * r + s))
                       for s in range(args.steps)]
            t0 = time.perf_counter()
            for idx in batches:
                step(model, recipe, opt, x, y, idx, gen)
            times[n].append((time.perf_counter() - t0) / args.steps)
            print(f"round {r + 1}: {n} {times[n][-1]:.2f} s/step", flush=True)
    base = statistics.median(times["fmnist-pgd-at"]) if "fmnist-pgd-at" in times else None
    rows = []
    for n in args.models:
        med = statistics.median(times[n])
        recipe = made[n][1]
        rows.append({"model": n, "recipe": recipe_key(n), "seconds_per_step": round(med, 3),
                     "per_round": [round(t, 3) for t in times[n]],
                     "batch": getattr(recipe, "target_batch", cfg.batch_size),
                     "relative_to_pgd_at": round(med / base, 2) if base else None})
    out = {"what": "median seconds per training step (loss, backward, optimiser step), recipes taking turns",
           "rounds": args.rounds, "steps_per_round": args.steps, "threads": 1, "torch": torch.__version__,
           "machine": platform.machine(), "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="minutes"),
           "note": "a 2-core machine shared with other jobs; preparation before training not included",
           "command": " ".join(["tools/time_recipes.py", *sys.argv[1:]]), "rows": rows}
    Path(args.out).write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
