"""``python -m core dense-eval``: the dense-prediction measurements on the garment scenes.

* ``--what equivariance``: mIoU clean / attacked / defended (equivariance purification) with the
  non-adaptive and the equivariance-aware adaptive attacker (:mod:`core.evaluation.dense.equivariance_eval`);
* ``--what worst-case``: the dense worst case, per image the lowest mIoU of Dense PGD, Dense
  APGD, SegPGD and the gradient-free Dense Square on the mIoU (:mod:`core.evaluation.dense.worst_case`);
* ``--what all`` (default): both.

Every option is checked before any work (one ``error:`` line each, exit code 2). ``--out FILE``
writes the JSON; ``--card`` merges it into the bundled model's card
(``assets/dense/garment-unet.json``) and is refused for another model or a subset of the scenes.
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from core.runtime import limits
from core.attacks.base import ThreatModel
from core.defenses.equivariance_views import CPU_VIEWS, VIEW_RECIPES
from core.evaluation.dense.equivariance_eval import ATTACKERS, DefenseSettings, evaluate_equivariance, scene_key
from core.evaluation.per_image import PerImage, path_for
from core.runtime.paths import ROOT
from core.data.scenes import TEST_SCENES_PATH, load_test_scenes
from core.evaluation.dense.worst_case import ATTACKS, DenseWorstCaseConfig, dense_worst_case
from core.models import get_spec, load_model
from core.models.dense.segmentation_builtin import DENSE_CARD, GARMENT_UNET
from core.data.safe_text import terminal

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


def add_dense_parser(sub: Any) -> None:
    """Register the ``dense-eval`` subcommand."""
    d = sub.add_parser("dense-eval", help="mIoU of a multi-class segmenter under attack and defense (garment scenes)",
                       description="Measure a multi-class segmentation model on the shipped garment scenes: "
                                   "the equivariance defense (clean / attacked / defended mIoU, non-adaptive and "
                                   "adaptive attacker) and the dense worst case.")
    d.add_argument("--model", default=GARMENT_UNET, help="a multi-class segmentation model (default %(default)s)")
    d.add_argument("--what", choices=["all", "equivariance", "worst-case"], default="all",
                   help="equivariance: mIoU clean / attacked / defended; worst-case: the lowest mIoU of four attacks "
                        "per scene; all (default): both")
    d.add_argument("--scenes", default=str(TEST_SCENES_PATH), help="an .npz of scenes (default: the shipped 200)")
    d.add_argument("--n", type=int, default=None, help="only the first N scenes")
    d.add_argument("--eps", type=float, default=4.0, help="L∞ ε in k/255 (default %(default)s)")
    d.add_argument("--steps", type=int, default=10, help="attack steps (default %(default)s)")
    d.add_argument("--step", type=float, default=1.0, help="PGD step size in k/255 (default %(default)s)")
    d.add_argument("--attackers", default=",".join(ATTACKERS), help="comma list of: " + ", ".join(ATTACKERS))
    d.add_argument("--purify-steps", type=int, default=5,
                   help="steps of the equivariance purification (the defense) per image (default %(default)s)")
    d.add_argument("--eps-v", type=float, default=6.0, help="reversal budget in k/255 (default %(default)s)")
    d.add_argument("--views", default=",".join(CPU_VIEWS), help="comma list of views, of: " + ", ".join(VIEW_RECIPES))
    d.add_argument("--lam", type=float, default=1.0, help="λ of the adaptive attacker (default %(default)s)")
    d.add_argument("--square-queries", type=int, default=300,
                   help="queries of the gradient-free Dense Square in the worst case (default %(default)s)")
    d.add_argument("--seed", type=int, default=0, help="seed of the random starts and views (default %(default)s)")
    d.add_argument("--out", default=None, help="write the results as JSON to this file")
    d.add_argument("--card", action="store_true",
                   help="maintainers only: REWRITE the shipped card assets/dense/garment-unet.json with these results "
                        "(its equivariance / worst_case blocks are replaced); use --out to keep results elsewhere")
    d.add_argument("--quiet", action="store_true", help="no progress line on stderr")


def validate_dense(args: argparse.Namespace) -> list[str]:
    """Every problem with the options, one sentence each (empty: fine)."""
    errs = []
    try:
        spec = get_spec(args.model)
        if spec.task != "segmentation" or spec.num_classes < 2:
            errs.append(f"--model {args.model} is not a multi-class segmentation model")
    except KeyError:
        errs.append(f"--model: unknown model {args.model}")
    if not Path(args.scenes).is_file():
        errs.append(f"--scenes: no such file {args.scenes}")
    if args.n is not None and not 1 <= args.n <= limits.MAX_EVAL_IMAGES:
        errs.append(f"--n must be in 1..{limits.MAX_EVAL_IMAGES}")
    if not 0 <= args.eps <= 64:
        errs.append("--eps must be in 0..64 (k/255)")
    if not 1 <= args.steps <= limits.MAX_ATTACK_STEPS:
        errs.append(f"--steps must be in 1..{limits.MAX_ATTACK_STEPS}")
    if not 0 < args.step <= 64:
        errs.append("--step must be in (0, 64] (k/255)")
    bad = [a for a in args.attackers.split(",") if a not in ATTACKERS]
    if bad or not args.attackers:
        errs.append(f"--attackers: unknown {', '.join(bad) or '(empty)'}; choose from {', '.join(ATTACKERS)}")
    if not 0 <= args.purify_steps <= limits.MAX_PURIFICATION_STEPS:
        errs.append(f"--purify-steps must be in 0..{limits.MAX_PURIFICATION_STEPS}")
    if not 0 <= args.eps_v <= 64:
        errs.append("--eps-v must be in 0..64 (k/255)")
    views = [v for v in args.views.split(",") if v]
    badv = [v for v in views if v not in VIEW_RECIPES]
    if badv or not views or len(views) > limits.MAX_EQUIVARIANCE_VIEWS:
        errs.append(f"--views: unknown or too many ({', '.join(badv)}); choose up to "
                    f"{limits.MAX_EQUIVARIANCE_VIEWS} of {', '.join(VIEW_RECIPES)}")
    if not 0 <= args.lam <= 100:
        errs.append("--lam must be in 0..100")
    if not 1 <= args.square_queries <= 10_000:
        errs.append("--square-queries must be in 1..10000")
    if args.out and (Path(args.out).is_dir() or not Path(args.out).resolve().parent.is_dir()):
        errs.append(f"--out must be a file in an existing folder: {args.out}")
    if args.card and (args.model != GARMENT_UNET or args.n is not None
                      or Path(args.scenes).resolve() != TEST_SCENES_PATH.resolve()):
        errs.append("--card needs the bundled model on all of the shipped scenes (no --model, --n or --scenes)")
    return errs


class _Progress:
    def __init__(self, stream: TextIO) -> None:
        self.stream, self.last = stream, 0.0

    def __call__(self, done: int, total: int, message: str = "") -> None:
        now = time.monotonic()
        if now - self.last > 2 or done >= total:
            self.last = now
            self.stream.write(f"\r{100 * done / max(total, 1):5.1f} % {terminal(message)[:60]:60s}")
            self.stream.flush()


def cmd_dense_eval(args: argparse.Namespace, stderr: TextIO) -> int:
    """Run ``dense-eval`` (options validated first)."""
    errs = validate_dense(args)
    for e in errs:
        stderr.write(f"error: {terminal(e)}\n")
    if errs:
        return EXIT_USAGE
    model = load_model(args.model, device="cpu")
    x, y = load_test_scenes(args.scenes)
    if args.n is not None:
        x, y = x[:args.n], y[:args.n]
    eps = args.eps / 255
    threat = ThreatModel(norm="linf", eps=eps, step=args.step / 255, steps=args.steps, random_start=True)
    prog = None if args.quiet else _Progress(stderr)
    doc: dict[str, Any] = {"model": args.model, "scenes": str(args.scenes), "images": len(x),
                           "command": "python -m core dense-eval " + shlex.join(sys.argv[2:])
                           if sys.argv[1:2] == ["dense-eval"] else ""}
    try:
        if args.what in ("all", "equivariance"):
            defense = DefenseSettings(views=tuple(v for v in args.views.split(",") if v), steps=args.purify_steps,
                                      eps_v=args.eps_v / 255)
            t0 = time.perf_counter()
            doc["equivariance"] = evaluate_equivariance(model, x, y, threat=threat, defense=defense,
                                                        attackers=args.attackers.split(","), lam=args.lam,
                                                        seed=args.seed, progress=prog)
            doc["equivariance"]["seconds"] = round(time.perf_counter() - t0, 1)
            stderr.write("\n")
            for k, v in doc["equivariance"]["results"].items():
                stderr.write(f"  {k:34s} mIoU {v['miou']:.3f}\n")
        if args.what in ("all", "worst-case"):
            cfg = DenseWorstCaseConfig(eps=eps, steps=args.steps, square_queries=args.square_queries, seed=args.seed)
            t0 = time.perf_counter()
            wc = dense_worst_case(model, x, y, cfg, progress=prog)
            wc.check()
            doc["worst_case"] = {"eps_255": args.eps, "steps": args.steps, "square_queries": args.square_queries,
                                 "attacks": list(ATTACKS), **wc.summary(),
                                 "seconds": round(time.perf_counter() - t0, 1)}
            stderr.write("\n")
            s = doc["worst_case"]
            for name, v in s["per_attack"].items():
                stderr.write(f"  {name:34s} mIoU {v['miou']:.3f}  (worst for {v['worst_for_images']} images)\n")
            stderr.write(f"  {'worst case':34s} mIoU {s['worst_case_miou']:.3f}  (clean {s['clean_miou']:.3f})\n")
    except KeyboardInterrupt:
        stderr.write("\ninterrupted\n")
        return 130
    except ValueError as e:
        stderr.write(f"\nerror: {terminal(str(e))}\n")
        return EXIT_ERROR
    if args.out:
        Path(args.out).write_text(json.dumps(doc, indent=1, ensure_ascii=False), encoding="utf-8")
        stderr.write(f"wrote {terminal(args.out)}\n")
    if args.card:
        card = json.loads(DENSE_CARD.read_text())
        for k in ("equivariance", "worst_case"):
            if k in doc:
                card[k] = doc[k] | {"command": doc["command"]}
        if "equivariance" in doc:  # per-scene mIoUs go to the card's per-image file, not into the card
            miou = card["equivariance"].pop("per_image_miou")
            per = PerImage(np.arange(len(x)), np.zeros(len(x), dtype=np.int64),
                           values={f"{scene_key(k)}__miou": np.asarray(v, dtype=np.float32) for k, v in miou.items()})
            card["equivariance"]["per_image"] = str(per.save(path_for(DENSE_CARD)).relative_to(ROOT))
        DENSE_CARD.write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n")
        stderr.write(f"merged into {DENSE_CARD}\n")
    return EXIT_OK
