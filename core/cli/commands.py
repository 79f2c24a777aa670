"""Command line: ``python -m core evaluate <folder | archive.zip | list.txt | bundled | labelled-imagenet>
--model … --attack … --eps 1,2,4,8 --defense … [--labels …] [--engine ray …] --out outdir``.

Evaluates a set of images with :func:`core.evaluation.batch.evaluate.evaluate_image` — the per-image code the Batch
evaluation page runs, so the numbers are the same for the same images and settings — streaming the
images (no cap on their number, :mod:`core.cli.scale`), with a progress line and ETA on stderr, on
this process or a Ray cluster (:mod:`core.evaluation.batch.engine`), and writes to ``outdir``:

* ``run.json`` and ``results.jsonl``: the run's settings and one line per finished image, so the
  same command run again resumes (:mod:`core.evaluation.batch.runs`);
* ``summary.csv``: accuracy, success rate, abstentions and mean confidence per defense and ε;
* ``images.csv``: every image × defense × ε;
* ``results.json``: the report document (settings, seeds, library versions, device, the tables);
* ``report.html``: the same as a self-contained HTML page with the figure.

ε values are in k/255 for L∞ (as in the app: ``--eps 1,2,4,8`` means 1/255 … 8/255) and in the
[0, 1] pixel scale for L2. Images are read as in the app (:mod:`core.data.image_sets`): decoded with
the app's decoder, in name order, with the app's per-file limits. With ``--labels`` accuracy is
true accuracy (:mod:`core.data.labels`); without, each image's label is the model's clean prediction.
Ctrl-C stops the run and still writes the images finished so far (marked incomplete); run the
same command again to finish it.

Every option is checked before any work (:func:`validate_evaluate`): the output folder (writable,
not a file), the source, the model, numeric ranges (ε, steps, restarts, step ratio, seed, image
count, scale options) and each defense; each problem is one ``error: …`` line and the exit code is
2. Nothing user-derived reaches the terminal raw (:func:`core.data.safe_text.terminal`), CSV cells go
through :func:`core.data.safe_text.csv_cell` (no spreadsheet formula), and an unexpected failure is one
line too, never a traceback.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, TextIO
from collections.abc import Sequence

from core.runtime import limits
from core.attacks import ATTACKS
from core.attacks.specs import ATTACK_SPECS
from core.evaluation.audit.runs import default_config, prepare, run_audit
from core.judging.stats import interval_note
from core.viz.audit import comparison_rows
from core.cli.dense import add_dense_parser, cmd_dense_eval
from core.cli.scale import (EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, add_scale_options, check_scale_options,
                            evaluate_at_scale)
from core.defenses import DEFENSE_PARAMS, DEFENSES, default_params
from core.evaluation.batch.evaluate import WORST_CASE, WORST_CASE_CLI, EvalSettings
from core.data.image_sets import NAMED_SOURCES
from core.data.images import list_samples
from core.data.labelled_samples import register_labelled_sources
from core.models import get_spec, list_models
from core.models.user.checkpoint import ModelFileError
from core.models.user.models_file import _REGISTERED, build_model, failed_models, use_models_file
from core.data.safe_text import terminal

EXIT_USAGE = 2  # bad options (argparse's own code); the other exit codes are core.cli.scale's


class TextProgress:
    """A one-line text progress bar (``[#####-----]  50% message``) on a stream.

    On a terminal the line is redrawn in place (at most every ``interval`` seconds); otherwise a
    line is printed each time the whole-percent value changes by ``step`` or more, so logs stay short.
    """

    def __init__(self, stream: TextIO | None = None, width: int = 30, interval: float = 0.1, step: int = 10) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self.interval = interval
        self.step = step
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last_t = 0.0
        self._last_pct = -100
        self._t0 = time.perf_counter()

    def line(self, done: int, total: int, message: str = "") -> str:
        frac = 0.0 if total <= 0 else min(1.0, max(0.0, done / total))
        n = int(round(frac * self.width))
        return f"[{'#' * n}{'-' * (self.width - n)}] {frac * 100:5.1f}% {terminal(message)}"[:160]

    def __call__(self, done: int, total: int, message: str = "") -> None:
        now = time.perf_counter()
        pct = int(100 * done / total) if total > 0 else 100
        if self.tty:
            if now - self._last_t < self.interval and pct < 100:
                return
            self._last_t = now
            self.stream.write("\r\x1b[2K" + self.line(done, total, message))
            if pct >= 100:
                self.stream.write(f"  ({now - self._t0:.1f} s)\n")
        else:
            if pct - self._last_pct < self.step and pct < 100:
                return
            if pct >= 100 and self._last_pct >= 100:
                return
            self._last_pct = pct
            self.stream.write(self.line(done, total, message) + "\n")
        self.stream.flush()


def parse_eps(text: str, norm: str) -> list[float]:
    """``"1,2,4,8"`` → ε values in [0, 1] scale (k/255 for L∞, as given for L2)."""
    vals = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            v = float(part)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number in --eps: {part!r}") from None
        vals.append(v / 255 if norm == "linf" else v)
    if not vals:
        raise argparse.ArgumentTypeError("--eps needs at least one value")
    return vals


def parse_defense(text: str) -> tuple[str, tuple[tuple[str, Any], ...]]:
    """``NAME`` or ``NAME:key=value,key=value`` (values as the app's widgets show them: k/255
    for ε-like settings, ``+``-separated lists for multiple choices)."""
    name, _, rest = text.partition(":")
    name = name.strip()
    if name not in DEFENSES:
        raise argparse.ArgumentTypeError(f"unknown defense {name!r}; known: {', '.join(DEFENSES)}")
    specs = {p.name: p for p in DEFENSE_PARAMS.get(name, ())}
    params: list[tuple[str, Any]] = []
    for item in filter(None, (s.strip() for s in rest.split(","))):
        key, eq, raw = item.partition("=")
        key = key.strip()
        if not eq or key not in specs:
            raise argparse.ArgumentTypeError(f"{name}: unknown setting {key!r}; known: {', '.join(specs) or 'none'}")
        spec = specs[key]
        try:
            if spec.kind in ("int", "k255"):
                v: Any = int(raw)
            elif spec.kind == "float":
                v = float(raw)
            elif spec.kind == "bool":
                v = raw.strip().lower() in ("1", "true", "yes", "on")
            elif spec.kind == "multichoice":
                v = tuple(x for x in raw.split("+") if x)
                bad = [x for x in v if x not in [str(c) for c in spec.choices]]
                if bad:
                    raise ValueError(f"not among {', '.join(map(str, spec.choices))}")
            else:  # choice
                match = [c for c in spec.choices if str(c) == raw.strip()]
                if not match:
                    raise ValueError(f"not among {', '.join(map(str, spec.choices))}")
                v = match[0]
        except ValueError as e:
            raise argparse.ArgumentTypeError(f"{name}: bad value for {key}: {raw!r} ({e})") from None
        if spec.kind in ("int", "k255", "float") and spec.min is not None and not (spec.min <= v <= spec.max):
            raise argparse.ArgumentTypeError(f"{name}: {key} must be in {spec.min:g}..{spec.max:g}")
        params.append((key, spec.to_value(v)))
    return name, tuple(params)


def defense_arg(name: str, params: Sequence[tuple[str, Any]] | dict) -> str:
    """The ``--defense`` argument for a defense and its settings (the inverse of
    :func:`parse_defense`); only settings that differ from the defaults are written."""
    specs = {p.name: p for p in DEFENSE_PARAMS.get(name, ())}
    defaults = default_params(name)
    parts = []
    for key, v in (params.items() if isinstance(params, dict) else params):
        if key not in specs or defaults.get(key) == v:
            continue
        spec = specs[key]
        if spec.kind == "k255":
            text = str(int(round(float(v) * 255)))
        elif spec.kind == "multichoice":
            text = "+".join(str(u) for u in v)
        elif spec.kind == "bool":
            text = "1" if v else "0"
        else:
            text = str(v)
        parts.append(f"{key}={text}")
    return name + (":" + ",".join(parts) if parts else "")


def cli_command(settings: Any, source: str = "bundled", samples: Sequence[str] | None = None,
                out: str = "results") -> str:
    """The shell command that evaluates the same images with the same settings
    (:class:`core.evaluation.batch.evaluate.EvalSettings`)."""
    s = settings
    t = s.threat()
    eps = ",".join(f"{e * 255:.6g}" if s.norm == "linf" else f"{e:.6g}" for e in s.eps)
    args = [".venv/bin/python", "-m", "core", "evaluate", source]  # as the README runs it: the bare "python" lacks the packages
    if samples:
        args += ["--samples", ",".join(samples)]
    args += ["--model", s.model, "--attack", WORST_CASE_CLI if s.worst_case else s.attack]
    if s.norm != ("linf" if s.worst_case else ATTACKS[s.attack].norms[0]):
        args += ["--norm", s.norm]
    if s.worst_case:
        p = dict(s.attack_params)
        if "n_targets" in p:
            args += ["--targets", str(p["n_targets"])]
        if "square_queries" in p:
            args += ["--square-queries", str(p["square_queries"])]
    args += ["--eps", eps]
    if s.steps is not None:
        args += ["--steps", str(t.steps)]
    if s.step_ratio is not None:
        args += ["--step-ratio", f"{s.step_ratio:.6g}"]
    if s.random_start is not None:
        args.append("--random-start" if s.random_start else "--no-random-start")
    if s.restarts != 1:
        args += ["--restarts", str(s.restarts)]
    for name, value in s.attack_params:
        opt = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            args.append(opt if value else "--no-" + opt[2:])
        else:
            args += [opt, f"{value:g}" if isinstance(value, float) else str(value)]
    notes = []
    for name, params in s.defenses:
        if dict(params).get("preset"):
            notes.append(f"{name}'s paper preset is not available on the command line")
            continue
        args += ["--defense", defense_arg(name, params)]
    if s.adaptive:
        args.append("--adaptive")
    if s.seed:
        args += ["--seed", str(s.seed)]
    args += ["--out", out]
    return " ".join(shlex.quote(a) for a in args) + ("  # " + "; ".join(notes) if notes else "")


def attack_keyword_options() -> dict[str, tuple[Any, list[str]]]:
    """The command line's options for the attacks' own keywords, derived from
    :data:`core.attacks.specs.ATTACK_SPECS`: ``--binary-steps``, ``--clip-to-eps``… → (the
    parameter's description, the attacks that take it)."""
    out: dict[str, tuple[Any, list[str]]] = {}
    for name, spec in ATTACK_SPECS.items():
        for p in spec.params:
            if p.field.startswith("kw:"):
                opt = "--" + p.field[3:].replace("_", "-")
                out.setdefault(opt, (p, []))[1].append(name)
    return out


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m core", description="Robustness Explorer from the command line.")
    sub = p.add_subparsers(dest="command", required=True)
    e = sub.add_parser("evaluate", help="evaluate a folder, a .zip of images, or the bundled photos",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    e.add_argument("source", help="a folder of images, a .zip archive, a .txt list of image paths, the word "
                                  "'bundled', or 'labelled-imagenet' / 'labelled-fashion-mnist' (labelled samples)")
    e.add_argument("--samples", default=None, metavar="KEY,KEY",
                   help="with the source 'bundled': only these bundled photos (sample keys, e.g. chelsea,coffee)")
    e.add_argument("--model", default="EfficientNet-Lite0", help="registered classifier (default: %(default)s)")
    e.add_argument("--attack", default="FGSM", choices=[*ATTACKS, WORST_CASE_CLI],
                   help=f"attack (default: %(default)s); {WORST_CASE_CLI}: the worst case per image and ε over "
                        "APGD-CE, targeted APGD-DLR and Square (the robust accuracy to quote; --steps sets APGD's "
                        "iterations, --targets and --square-queries its other budgets)")
    e.add_argument("--targets", type=int, default=None,
                   help=f"with --attack {WORST_CASE_CLI}: target classes of APGD-T (default 3; 0: none)")
    e.add_argument("--square-queries", type=int, default=None,
                   help=f"with --attack {WORST_CASE_CLI}: Square's queries per image and ε (default 1000; 0: no Square)")
    e.add_argument("--norm", default=None, choices=["linf", "l2"], help="threat norm (default: the attack's first)")
    e.add_argument("--eps", default="1,2,4,8", help="comma-separated ε: k/255 for L∞, pixel scale for L2 "
                                                    "(default: %(default)s)")
    e.add_argument("--steps", type=int, default=None, help="attack steps (default: the attack's CPU default)")
    e.add_argument("--step-ratio", type=float, default=None, help="step size α as a fraction of ε (default: the "
                                                                  "attack's default ratio, 1/4 for PGD)")
    rs = e.add_mutually_exclusive_group()
    rs.add_argument("--random-start", dest="random_start", action="store_true", default=None)
    rs.add_argument("--no-random-start", dest="random_start", action="store_false")
    e.add_argument("--restarts", type=int, default=1)
    for opt, (param, attacks) in attack_keyword_options().items():  # from core.attacks.specs, as the widgets
        kind = {"int": int, "float": float, "choice": float}.get(param.kind)
        help_ = f"{param.label} ({', '.join(attacks)}; default {param.default})"
        if param.kind == "bool":
            e.add_argument(opt, action=argparse.BooleanOptionalAction, default=None, help=help_)
        else:
            e.add_argument(opt, type=kind, default=None, choices=list(param.choices) or None, help=help_)
    e.add_argument("--defense", action="append", default=[], metavar="NAME[:key=value,...]",
                   help="a defense to evaluate besides the bare model; repeatable, e.g. --defense JPEG:quality=50")
    e.add_argument("--adaptive", action="store_true", help="attack through each defense (BPDA/EOT/plain)")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--max-images", type=int, default=None,
                   help="use at most this many images (by name; default: all, no ceiling on the command line)")
    e.add_argument("--out", required=True, help="output folder (created if needed)")
    e.add_argument("--quiet", action="store_true", help="no progress bar")
    add_scale_options(e)
    e.add_argument("--models", default=None, metavar="FILE.toml",
                   help="a model description file (your own classifiers; default: $EXPLORER_MODELS or ./models.toml)")
    m = sub.add_parser("models", help="list the registered models, and check your own (models.toml)",
                       description="Lists every registered model; with --check, loads and probes each user model.")
    m.add_argument("--models", default=None, metavar="FILE.toml",
                   help="a model description file (default: $EXPLORER_MODELS or ./models.toml)")
    m.add_argument("--check", action="store_true", help="load every user model and show its probe prediction")
    add_audit_parser(sub)
    add_dense_parser(sub)
    return p


def cmd_models(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    """``python -m core models [--check]``: registered models, user models' errors and probes."""
    code = EXIT_OK
    for s in list_models():
        stdout.write(f"{s.name}\t{s.task}\t{s.origin}\t{s.source}\n")
        if args.check and s.origin == "user" and s.name in _REGISTERED:
            try:
                _, probe = build_model(_REGISTERED[s.name])
                top = ", ".join(f"{c} {p:.1%}" for c, p in probe.top)
                stdout.write(f"  ok: on {probe.sample}: {top}\n")
                if probe.note:  # it loads and runs, but e.g. predicts one class everywhere
                    stdout.write(f"  note: {probe.note.replace('**', '')}\n")
            except ModelFileError as e:
                stderr.write(f"  error: {s.name}: {e}\n")
                code = EXIT_ERROR
    for name, err in failed_models():
        stderr.write(f"error: {name}: {err}\n")
        code = EXIT_ERROR
    return code


def add_audit_parser(sub: Any) -> None:
    """``python -m core audit``: the gradient-masking audit (core/evaluation/audit/checks.py)."""
    a = sub.add_parser("audit", help="check a model (or a defense) for signs of gradient masking",
                       description="Run the gradient-masking audit of core/evaluation/audit/checks.py on a zoo model (shipped test "
                                   "subset) or an ImageNet classifier (bundled photos) and print each check's verdict.")
    a.add_argument("--model", required=True, help="registered classifier, e.g. fmnist-cifs or EfficientNet-Lite0")
    a.add_argument("--n", type=int, default=100, help=f"images (ceiling {limits.MAX_EVAL_IMAGES}; default %(default)s)")
    a.add_argument("--samples", default=None, metavar="KEY,KEY", help="ImageNet models: only these bundled photos")
    a.add_argument("--labelled", action="store_true",
                   help="ImageNet models: the shipped labelled ImageNet sample (true labels) instead of the bundled photos")
    a.add_argument("--norm", default="linf", choices=["linf", "l2"])
    a.add_argument("--eps", default=None, help="ε in pixel scale, e.g. 0.1 or 4/255 (default: 0.1 zoo, 4/255 ImageNet)")
    a.add_argument("--steps", type=int, default=None, help="white-box PGD steps (default 20 zoo, 10 ImageNet)")
    a.add_argument("--square-queries", type=int, default=None, help="Square Attack queries per image")
    a.add_argument("--binarization", type=int, default=None, metavar="N",
                   help="images for the binarization test (default 10 for zoo models, 0 = off for ImageNet)")
    a.add_argument("--attack-batch", type=int, default=None, metavar="N",
                   help="images per attack pass (default: all at once, or one for a randomized defense on ImageNet "
                        "photos, whose EOT graphs would not fit in memory)")
    a.add_argument("--through-mask", action="store_true", help="CIFS models: differentiate through the channel mask")
    a.add_argument("--defense", default=None, metavar="NAME[:key=value,...]", help="audit the model behind a defense")
    a.add_argument("--naive", action="store_true", help="with --defense: attack with the defense's naive gradients")
    a.add_argument("--surrogate", default="default", help="model to transfer from ('none' to skip; default: "
                                                          "fmnist-pgd-at for zoo models, the undefended model for defenses)")
    a.add_argument("--seed", type=int, default=0)
    a.add_argument("--out", default=None, help="write the audit as JSON to this file")
    a.add_argument("--quiet", action="store_true")


def _parse_fraction(text: str) -> float:
    num, _, den = text.partition("/")
    try:
        return float(num) / (float(den) if den else 1.0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


def cmd_audit(args: argparse.Namespace, stderr: TextIO) -> int:
    try:
        if not 1 <= args.n <= limits.MAX_EVAL_IMAGES:
            raise ValueError(f"--n must be in 1..{limits.MAX_EVAL_IMAGES}")
        defense = parse_defense(args.defense) if args.defense else None
        if args.out and (Path(args.out).is_dir() or not Path(args.out).resolve().parent.is_dir()):
            raise ValueError(f"--out must be a file in an existing folder: {terminal(args.out)}")
        sur = None if args.surrogate == "none" else args.surrogate
        cfg = default_config(args.model, norm=args.norm, eps=_parse_fraction(args.eps) if args.eps else None,
                             steps=args.steps, square_queries=args.square_queries,
                             binarization_n=args.binarization, attack_batch=args.attack_batch)
        target = prepare(args.model, n=args.n, samples=args.samples.split(",") if args.samples else None,
                         through_mask=args.through_mask, defense=defense, adaptive=not args.naive, surrogate=sur,
                         labelled=args.labelled)
    except (ValueError, KeyError, argparse.ArgumentTypeError) as e:
        stderr.write(f"error: {e}\n")
        return EXIT_ERROR
    stderr.write(f"Auditing {target.description} on the {target.data}, ε = {cfg.eps:.4g} ({cfg.norm})\n")
    try:
        res = run_audit(target, cfg, seed=args.seed, progress=None if args.quiet else TextProgress(stderr))
    except KeyboardInterrupt:
        stderr.write("\ninterrupted\n")
        return EXIT_INTERRUPTED
    except ValueError as e:  # a limit or a setting the work itself refused
        stderr.write(f"\nerror: the audit stopped: {terminal(str(e))}\n")
        return EXIT_ERROR
    for c in res.checks:
        stderr.write(f"  [{c.verdict.upper():4s}] {c.title}: {c.meaning}\n")
    for row in comparison_rows(res):  # success rates with their exact 95 % intervals and paired tests
        stderr.write("  " + ", ".join(f"{k} {v}" for k, v in row.items() if v is not None) + "\n")
    stderr.write(f"  (success over {res.clean_correct} clean-correct images, exact 95 % intervals in brackets; "
                 f"{interval_note(res.clean_correct)})\n")
    stderr.write(f"{'FLAGGED: ' + ', '.join(res.flags()) if res.flagged else 'no check warns'} "
                 f"({res.clean_correct}/{res.n} clean-correct images, {res.elapsed_s:.0f} s)\n")
    if args.out:
        doc = {"model": args.model, "description": target.description, "data": target.data,
               "command": "python -m core audit " + shlex.join(sys.argv[2:]) if sys.argv[1:2] == ["audit"] else "",
               **res.to_dict()}
        Path(args.out).write_text(json.dumps(doc, indent=1, default=float), encoding="utf-8")
        stderr.write(f"wrote {args.out}\n")
    return EXIT_OK


def _settings(args: argparse.Namespace) -> Any:
    attack, norm, params = _attack_choice(args)
    eps = parse_eps(args.eps, norm)
    defenses = tuple(parse_defense(d) for d in args.defense)
    attack_params = list(params)
    for opt, (p, attacks) in attack_keyword_options().items():
        value = getattr(args, opt[2:].replace("-", "_"))
        if value is not None:
            if attack not in attacks:
                raise ValueError(f"{opt} applies to {', '.join(attacks)}, not {args.attack}")
            attack_params.append((p.field[3:], p.to_value(value)))
    return EvalSettings(model=args.model, attack=attack, norm=norm, eps=tuple(eps), steps=args.steps,
                        step_ratio=args.step_ratio, random_start=args.random_start, restarts=args.restarts,
                        attack_params=tuple(attack_params), defenses=defenses, adaptive=args.adaptive, seed=args.seed)


def _attack_choice(args: argparse.Namespace) -> tuple[str, str, tuple]:
    """(attack name of EvalSettings, norm, attack_params) of the options; ``worst-case`` is the
    ensemble (:data:`core.evaluation.batch.evaluate.WORST_CASE`)."""
    if args.attack == WORST_CASE_CLI:
        params = tuple((k, v) for k, v in (("n_targets", getattr(args, "targets", None)),
                                            ("square_queries", getattr(args, "square_queries", None))) if v is not None)
        return WORST_CASE, args.norm or "linf", params
    return args.attack, args.norm or ATTACKS[args.attack].norms[0], ()


# ----------------------------------------------------------------------------- validation (before any work)
EPS_MAX = {"linf": 64.0, "l2": 50.0}  # as the Batch page: k/255 for L∞, pixel scale for L2
MAX_STEP_RATIO = 10.0


def say(stream: TextIO, kind: str, text: Any) -> None:
    """One line ``kind: text`` with every control character made visible."""
    stream.write(f"{kind}: {terminal(text)}\n")


def check_out_dir(out: str, create: bool = True) -> str | None:
    """Why ``--out`` cannot be used (a file, not writable, under a file), or None. With
    ``create``, makes the folder (as the run would) and writes and removes a probe file in it;
    otherwise checks the nearest existing folder's permissions only."""
    p = Path(out)
    if p.exists() and not p.is_dir():
        return f"--out {out} is a file, not a folder"
    parent = p
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        return f"--out {out} lies under {parent}, which is a file"
    if not create:
        return None if os.access(parent, os.W_OK | os.X_OK) else f"--out {out} is not a writable folder"
    try:
        p.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-test-", dir=p)
        os.close(fd)
        os.remove(probe)
    except OSError as e:
        return f"--out {out} is not a writable folder ({e.strerror or type(e).__name__})"
    return None


def check_source(source: str, samples: str | None) -> str | None:
    """Why the source (and ``--samples``) cannot be read, or None (nothing is decoded here)."""
    register_labelled_sources()
    if samples is not None:
        if source != "bundled":
            return "--samples only goes with the source 'bundled'"
        known = {s.key for s in list_samples()}
        unknown = [k for k in (x.strip() for x in samples.split(",")) if k and k not in known]
        if unknown:
            return f"--samples: unknown bundled photos {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        return None
    if source == "bundled" or source in NAMED_SOURCES or Path(source).is_dir() or Path(source).is_file():
        return None
    words = ", ".join(["'bundled'", *(f"'{w}'" for w in NAMED_SOURCES)])
    return f"{source} is neither a folder nor a file (nor one of the words {words})"


def validate_evaluate(args: argparse.Namespace) -> tuple[Any, list[str]]:
    """(settings or None, every problem with the options), checked before any work."""
    errors: list[str] = []
    why = check_source(str(args.source), args.samples)
    if why:
        errors.append(why)
    try:
        spec = get_spec(args.model)
        if spec.task not in ("classification", "fashion-mnist"):
            errors.append(f"--model {args.model} is not a classifier")
    except (KeyError, ValueError) as e:
        errors.append(f"--model: {e.args[0] if e.args else e}")
    worst = args.attack == WORST_CASE_CLI
    _, norm, _ = _attack_choice(args)
    if not worst and norm not in ATTACKS[args.attack].norms:
        errors.append(f"--norm {norm}: {args.attack} supports {', '.join(ATTACKS[args.attack].norms)}")
    for opt, v, hi in (("--targets", getattr(args, "targets", None), limits.MAX_ENSEMBLE_TARGETS),
                       ("--square-queries", getattr(args, "square_queries", None), limits.MAX_SQUARE_QUERIES)):
        if v is not None and not worst:
            errors.append(f"{opt} needs --attack {WORST_CASE_CLI}")
        elif v is not None and not 0 <= v <= hi:
            errors.append(f"{opt} must be in 0..{hi}, not {v}")
    if worst and (args.step_ratio is not None or args.random_start is not None or args.restarts != 1):
        errors.append(f"--step-ratio, --random-start and --restarts do not apply to --attack {WORST_CASE_CLI} "
                      "(APGD and Square set their own); --steps sets APGD's iterations")
    if worst and args.adaptive:
        errors.append(f"--adaptive: --attack {WORST_CASE_CLI} attacks the bare model only (defenses classify its "
                      "examples); choose a single attack for an adaptive attacker")
    eps: list[float] = []
    try:
        eps = parse_eps(args.eps, norm)
        shown = [e * 255 if norm == "linf" else e for e in eps]
        bad = [v for v in shown if not (math.isfinite(v) and 0 <= v <= EPS_MAX[norm])]
        if bad:
            errors.append(f"--eps: each value must be in 0..{EPS_MAX[norm]:g} ({'k/255' if norm == 'linf' else 'L2'}); "
                          f"got {', '.join(f'{v:g}' for v in bad)}")
        if len(set(eps)) > limits.MAX_CURVE_EPS:
            errors.append(f"--eps: at most {limits.MAX_CURVE_EPS} values, got {len(set(eps))}")
    except argparse.ArgumentTypeError as e:
        errors.append(str(e))
    if args.steps is not None and not 1 <= args.steps <= limits.MAX_ATTACK_STEPS:
        errors.append(f"--steps must be in 1..{limits.MAX_ATTACK_STEPS}, not {args.steps}")
    if not 1 <= args.restarts <= limits.MAX_RESTARTS:
        errors.append(f"--restarts must be in 1..{limits.MAX_RESTARTS}, not {args.restarts}")
    if args.step_ratio is not None and not (math.isfinite(args.step_ratio) and 0 < args.step_ratio <= MAX_STEP_RATIO):
        errors.append(f"--step-ratio must be in (0, {MAX_STEP_RATIO:g}], not {args.step_ratio:g}")
    if not 0 <= args.seed < 2**31:
        errors.append(f"--seed must be in 0..{2**31 - 1}, not {args.seed}")
    if args.max_images is not None and args.max_images < 1:
        errors.append(f"--max-images must be at least 1, not {args.max_images}")
    errors += check_scale_options(args)
    for d in args.defense:
        try:
            parse_defense(d)
        except argparse.ArgumentTypeError as e:
            errors.append(f"--defense {d}: {e}")
    settings = None
    if not errors:
        try:
            settings = _settings(args)
            settings.threat()  # the attack's own checks (steps, restarts, step size)
        except (ValueError, KeyError, argparse.ArgumentTypeError) as e:
            errors.append(str(e.args[0] if isinstance(e, KeyError) and e.args else e))
            settings = None
    why = check_out_dir(args.out, create=not errors)  # only a valid command creates the output folder
    if why:
        errors.append(why)
    return settings, errors


def cmd_evaluate(args: argparse.Namespace, stderr: TextIO) -> int:
    settings, errors = validate_evaluate(args)
    if errors:
        for e in errors:
            say(stderr, "error", e)
        return EXIT_USAGE
    get_spec(settings.model)
    return evaluate_at_scale(args, settings, stderr)


def main(argv: Sequence[str] | None = None, stderr: TextIO | None = None) -> int:
    stderr = stderr if stderr is not None else sys.stderr
    args = build_parser().parse_args(argv)  # argparse's own errors: usage + one line, exit 2
    if getattr(args, "models", None):
        try:
            use_models_file(args.models)
        except Exception as e:  # noqa: BLE001 - never a traceback on the command line
            say(stderr, "error", f"--models {args.models}: {e}")
            return EXIT_USAGE
    if args.command == "models":
        return cmd_models(args, sys.stdout, stderr)
    if args.command == "evaluate":
        try:
            return cmd_evaluate(args, stderr)
        except KeyboardInterrupt:
            say(stderr, "interrupted", "stopped before the evaluation started")
            return EXIT_INTERRUPTED
        except OSError as e:  # e.g. the output folder became unwritable, the disk is full
            say(stderr, "error", f"{e.strerror or type(e).__name__}: {e.filename or ''}".rstrip(": "))
            return EXIT_ERROR
        except Exception as e:  # noqa: BLE001 - never a traceback on the command line
            say(stderr, "error", f"unexpected {type(e).__name__}: {e}")
            return EXIT_ERROR
    if args.command == "audit":
        return cmd_audit(args, stderr)
    if args.command == "dense-eval":
        return cmd_dense_eval(args, stderr)
    return EXIT_ERROR  # pragma: no cover - argparse requires a command


__all__ = ["TextProgress", "build_parser", "check_out_dir", "check_source", "say", "validate_evaluate", "cli_command", "defense_arg", "main", "parse_defense", "parse_eps"]
