"""Make the few-shot test episodes and train the few-shot segmenters (prototype CNN, PNODE,
R-PNODE, adversarially trained CNN); weights and training cards to assets/fewshot/.

Needs the Debian package dataset-fashion-mnist (the app and the tests do not):

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python tools/train_fewshot.py --phase episodes
    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python tools/train_fewshot.py --phase train --kind rpnode --seed 0

Phases:

* ``episodes`` — assets/fewshot/episodes_test.npz: ``TEST_EPISODES`` episodes of seed ``TEST_SEED``
  on the novel classes, from t10k scenes (:mod:`core.data.fewshot_episodes`).
* ``train``    — :func:`core.train.fewshot.train` for ``--kind`` and ``--seed``: weights
  assets/fewshot/<kind>-s<seed>.pt and the training part of assets/fewshot/<kind>-s<seed>.json
  (config, log, wall time, command). The evaluation part is written by tools/eval_fewshot.py.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from core.data import fewshot_episodes as fe  # noqa: E402
from core.train.fewshot import KINDS, TITLES, TrainConfig, card_path, config_dict, train, weights_path  # noqa: E402


def read_card(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


def write_card(path: Path, card: dict) -> None:
    path.write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--phase", choices=("episodes", "train"), required=True)
    ap.add_argument("--kind", choices=tuple(KINDS), default="proto")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", type=int, default=TrainConfig.steps)
    ap.add_argument("--init-from", default="", help='e.g. "proto:0": warm start (core.train.fewshot.warm_start)')
    ap.add_argument("--tag", default="", help='a variant\'s name: weights and card <kind>-s<seed>-<tag> (e.g. "cont150": '
                    'the CNN trained on from proto:<seed> for the ODE models\' 150 steps, their matched control)')
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    command = "OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python tools/train_fewshot.py " + " ".join(
        sys.argv[1:] if argv is None else argv)
    if a.phase == "episodes":
        ep = fe.make_test_episodes()
        fe.save_episodes(ep, fe.TEST_SEED)
        print(f"{len(ep)} episodes -> {fe.EPISODES_PATH} ({fe.EPISODES_PATH.stat().st_size // 1024} KB)")
        return 0
    cfg = TrainConfig(kind=a.kind, seed=a.seed, steps=a.steps, init_from=a.init_from)
    model, log, seconds = train(cfg)
    wpath, cpath = weights_path(a.kind, a.seed, a.tag), card_path(a.kind, a.seed, a.tag)
    wpath.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), wpath)
    card = read_card(cpath)
    card.update({"name": TITLES[a.kind] + (f" ({a.tag})" if a.tag else ""), "kind": a.kind, "seed": a.seed,
                 **({"tag": a.tag} if a.tag else {}),
                 "architecture": f"{type(model).__module__}.{type(model).__name__}",
                 "parameters": sum(p.numel() for p in model.parameters()),
                 "episodes": {"train": f"base classes {list(fe.BASE)}, train split, scene seed {fe.TRAIN_SEED}",
                              "test": f"{fe.EPISODES_PATH.relative_to(ROOT)} (novel classes {list(fe.NOVEL)}, "
                                      f"t10k, episode seed {fe.TEST_SEED})",
                              "size": fe.SIZE},
                 "training": {"config": config_dict(cfg), "log": log, "wall_seconds": round(seconds, 1),
                              "command": command, "date": _dt.date.today().isoformat(),
                              "machine": f"{platform.machine()}, torch {torch.__version__}, {a.threads} thread(s)"}})
    write_card(cpath, card)
    print(f"{a.kind} seed {a.seed}: {seconds:.0f} s, last {log[-1]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
