"""The command line's evaluation at scale (``python -m core evaluate``): streaming from a folder,
a ZIP or a list file with no cap on the number of images (:data:`core.runtime.limits.CLI_READ_BUDGET`),
true labels (``--labels``), resumable results in the output folder, and the local or Ray engine
(``--engine ray [--address ADDR] [--workers N] [--gpus-per-worker G]``). Kept apart from
:mod:`core.cli.commands` (parsing and validation) so that each can change without the other; the exit
codes and :func:`write_outputs` (the output files) live here, and :mod:`core.cli.commands` imports this
module, never the other way round.
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any, TextIO
from collections.abc import Callable, Iterator, Sequence

from core.evaluation.curves import NO_DEFENSE
from core.runtime.device import describe_device
from core.evaluation.batch.engine import run_evaluation
from core.evaluation.batch.evaluate import INTERVAL_COLUMNS, BatchResult, write_csv
from core.viz.run_reports import batch_report
from core.data.image_sets import NAMED_SOURCES, ImageSetError, iter_images
from core.data.images import list_samples, prepare_for_model, to_tensor
from core.data.labelled_samples import LABELLED_SOURCES, register_labelled_sources
from core.data.labels import LabelError, Labeler, parse_labels
from core.runtime.limits import CLI_READ_BUDGET
from core.models import get_spec, load_model
from core.models.imagenet.classes import imagenet_classes
from core.evaluation.batch.runs import RunMismatch, RunStore, run_fingerprint
from core.data.safe_text import terminal
from core.judging.stats import interval_note

EXIT_OK, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 130  # the command line's exit codes (core.cli.commands adds EXIT_USAGE)


def add_scale_options(e: argparse.ArgumentParser) -> None:
    """The options of evaluation at scale (labels, engine, cluster)."""
    g = e.add_argument_group("labels, resuming and scale")
    g.add_argument("--labels", default=None, metavar="SOURCE",
                   help="true labels: 'folder' (class folders named by WordNet id, index or class name), "
                        "'pattern' (the number before the extension, e.g. img_00_243.jpg -> 243), "
                        "'pattern:REGEX', a .csv/.json file mapping file names to labels, or 'none' "
                        "(agreement with the clean prediction; the default except for the labelled samples)")
    g.add_argument("--engine", default="local", choices=["local", "ray"],
                   help="'local' (this process) or 'ray' (Ray actors; a private local cluster unless --address)")
    g.add_argument("--address", default=None,
                   help="Ray cluster to join: 'auto', 'ray://host:10001', ... (with --engine ray)")
    g.add_argument("--workers", type=int, default=2, help="Ray actors, each loading the model once (default: 2)")
    g.add_argument("--gpus-per-worker", type=float, default=0.0, help="GPUs per Ray actor (default: 0)")
    g.add_argument("--threads", type=int, default=1,
                   help="torch threads per image, the same for every engine so results are identical bit for bit "
                        "(recorded with the run; default: 1)")


def check_scale_options(args: argparse.Namespace) -> list[str]:
    """One sentence per bad scale option (empty when all are fine)."""
    errs = []
    if args.workers < 1:
        errs.append("--workers must be at least 1")
    if not 0 <= args.gpus_per_worker <= 64:
        errs.append("--gpus-per-worker must be between 0 and 64")
    if not 1 <= args.threads <= 256:
        errs.append("--threads must be between 1 and 256")
    if args.engine != "ray" and (args.address is not None):
        errs.append("--address goes with --engine ray")
    return errs


def _fmt_s(s: float) -> str:
    s = int(max(0, s))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


class ImageProgress:
    """A progress line for a stream of images: count, images per second, ETA when the number of
    files is known."""

    def __init__(self, stream: TextIO, terminal: Callable[[str], str]) -> None:
        self.stream = stream
        self.terminal = terminal
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.total = 0  # files in the source (0: not known yet)
        self.t0 = time.perf_counter()
        self._last = 0.0
        self.cap: int | None = None  # --max-images / --samples: never more than this

    def files(self, done: int, total: int, name: str) -> None:
        if total and not self.total:
            self.total = total if self.cap is None else min(total, self.cap)

    def __call__(self, stats: Any, ev: Any) -> None:
        now = time.perf_counter()
        n = stats.resumed + stats.evaluated
        if not self.tty and now - self._last < 5.0 and n != self.total:
            return
        if self.tty and now - self._last < 0.1:
            return
        self._last = now
        rate = stats.evaluated / max(now - self.t0, 1e-9)
        left = (self.total - n) if self.total else 0
        eta = f" ETA {_fmt_s(left / rate)}" if rate > 0 and left > 0 else ""
        of = f"/{self.total}" if self.total else ""
        if self.total:
            k = int(round(20 * min(1.0, n / self.total)))
            of += f" [{'#' * k}{'-' * (20 - k)}]"
        name = self.terminal(ev.name)[:60] if ev is not None else "(resumed)"
        line = (f"{n}{of} images ({stats.resumed} resumed, {stats.evaluated} now) "
                f"{rate:.2f} img/s{eta}  {name}")
        if self.tty:
            self.stream.write("\r\x1b[2K" + line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def end(self) -> None:
        if self.tty:
            self.stream.write("\n")


def count_files(source: str) -> int:
    """The number of files under a folder source (for the ETA; the reader walks lazily and does not
    know it in advance), 0 for other sources (archives and list files report their own count)."""
    p = Path(NAMED_SOURCES[source]()) if source in NAMED_SOURCES else Path(source)
    if not p.is_dir():
        return 0
    n = 0
    for _dir, dirs, files in os.walk(p, followlinks=False):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d != "__MACOSX"]
        n += sum(1 for f in files if not f.startswith("."))
    return n


def _select(items: Iterator[Any], samples: list[str] | None, max_images: int | None) -> Iterator[Any]:
    """The bundled photos with the given keys (file stems), and at most ``max_images`` items."""
    n = 0
    for it in items:
        if samples is not None and Path(it.name).stem not in samples:
            continue
        if max_images is not None and n >= max_images:
            return
        n += 1
        yield it


def evaluate_at_scale(args: argparse.Namespace, settings: Any, stderr: TextIO) -> int:
    """Run ``python -m core evaluate`` (options already parsed into ``settings``); the exit code."""
    def fail(msg: str) -> int:
        stderr.write(f"error: {terminal(msg)}\n")
        return EXIT_ERROR

    errs = check_scale_options(args)
    if errs:
        for m in errs:
            stderr.write(f"error: {m}\n")
        return EXIT_ERROR
    spec = get_spec(settings.model)
    if spec.task not in ("classification", "fashion-mnist"):
        return fail(f"{settings.model} is not a classifier")
    register_labelled_sources()
    source = str(args.source)
    label_arg = args.labels if args.labels is not None else ("pattern" if source in LABELLED_SOURCES else None)
    samples = None
    if args.samples is not None:
        if source != "bundled":
            return fail("--samples only goes with the source 'bundled'.")
        samples = [k.strip() for k in args.samples.split(",") if k.strip()]
        known = {s.key for s in list_samples()}
        unknown = [k for k in samples if k not in known]
        if unknown:
            return fail(f"Unknown bundled photos: {', '.join(unknown)}; known: {', '.join(sorted(known))}.")
    if args.max_images is not None and args.max_images < 1:
        return fail("--max-images must be at least 1")
    try:
        model = load_model(settings.model) if args.engine == "local" else None
        class_names = list(getattr(model, "class_names", None) or _class_names(settings.model))
    except ValueError as e:  # a user model that fails its checks (core.models.user.checkpoint.ModelFileError)
        return fail(f"{settings.model}: {e}")
    try:
        labeler = Labeler(parse_labels(label_arg), class_names)
        # the label file's content is not part of the fingerprint: a fixed file resumes the run, and
        # every resumed image's recorded label is checked against the file (core.evaluation.batch.engine)
        fp = run_fingerprint(settings, model=settings.model, labels=labeler.spec.to_dict(), threads=args.threads)
        store = RunStore(Path(args.out), fp)
    except (LabelError, RunMismatch) as e:
        return fail(str(e))
    except OSError as e:
        return fail(f"the output folder {args.out} cannot be used ({e.strerror or type(e).__name__})")
    if store.done:
        stderr.write(f"resuming: {len(store.done)} image(s) already in {terminal(str(store.results_path))}"
                     + (" (an incomplete last line was dropped)" if store.dropped_partial else "") + "\n")
    notes: list[str] = []

    def note(m: str) -> None:
        notes.append(m)
        stderr.write(f"note: {terminal(m)}\n")

    prepare = lambda im: to_tensor(prepare_for_model(im, spec))  # noqa: E731 - the app's preprocessing
    progress = ImageProgress(stderr, terminal)
    progress.total = len(samples) if samples is not None else count_files(source)
    if args.max_images is not None or samples is not None:
        progress.cap = len(samples) if samples is not None else args.max_images
        progress.total = min(progress.total, progress.cap) if progress.total else 0
    result = BatchResult(settings=settings, device=describe_device(), skipped=notes)
    engine = "local" if args.engine == "local" else f"Ray ({args.workers} worker(s), "\
                                                     f"{args.address or 'a local cluster'})"
    stderr.write(f"Evaluating {terminal(source)} with {settings.attack} at ε = "
                 + ", ".join(f"{e * 255:g}/255" if settings.norm == "linf" else f"{e:g}" for e in settings.eps)
                 + f" on {settings.model}, engine {engine}; labels: {labeler.spec.describe()}\n")
    result.extra_notes.append(f"Engine: {engine}, {args.threads} torch thread(s) per image; per-image seeds from "
                              f"the run seed and each image's key; results kept in {store.results_path.name}.")
    code = EXIT_OK
    try:
        items = iter_images(source, prepare, budget=CLI_READ_BUDGET, note=note,
                            progress=None if args.quiet else progress.files)
        items = _select(items, samples, args.max_images)
        result, stats = run_evaluation(items, settings, model_name=settings.model, labeler=labeler, store=store,
                                       engine=args.engine, threads=args.threads, workers=args.workers,
                                       address=args.address, gpus_per_worker=args.gpus_per_worker, model=model,
                                       on_image=None if args.quiet else progress, result=result)
        progress.end()
    except (ImageSetError, LabelError) as e:
        progress.end()
        stderr.write(f"error: {terminal(str(e))}\n")
        code = EXIT_ERROR
    except KeyboardInterrupt:
        progress.end()
        stderr.write(f"\ninterrupted: {len(store.done)} image(s) are saved in {terminal(str(store.results_path))}; "
                     "run the same command again to resume\n")
        code = EXIT_INTERRUPTED
    finally:
        store.close()
    if not result.images:
        result.images = store.images()
    if not result.images:
        stderr.write("error: no usable images\n")
        return EXIT_ERROR if code == EXIT_OK else code
    paths = write_outputs(result, class_names, Path(args.out))
    for r in result.summary():
        ci = f" [{r['accuracy_ci95_lo']:.1%}–{r['accuracy_ci95_hi']:.1%}, {r['correct']}/{r['n']}]"
        vs = "" if r.get("vs_bare_p") is None else \
            (f"  vs bare: {100 * r['vs_bare_difference']:+.1f} points, McNemar p = {r['vs_bare_p']:.2g}"
             f"{' (significant)' if r['vs_bare_significant'] else ' (not significant)'}")
        if r["kind"] == "clean":
            stderr.write(f"  {terminal(r['defense']):<28} clean      accuracy {r['accuracy']:6.1%}{ci}"
                         f"{'' if labeler.labelled else ' (agreement)'}{vs}\n")
        else:
            e = r["eps"] * 255 if settings.norm == "linf" else r["eps"]
            sr = "—" if r["success_rate"] is None else f"{r['success_rate']:.0%}"
            stderr.write(f"  {terminal(r['defense']):<28} ε = {e:<6.3g} accuracy {r['accuracy']:6.1%}{ci}  "
                         f"success rate {sr}{vs}\n")
    names = result.breakdown_attacks()
    for b in result.breakdown():
        e = b["eps"] * 255 if settings.norm == "linf" else b["eps"]
        parts = [f"{a} {b[f'fooled_by_{a}']}" for a in names] + [f"none {b['not_fooled']}"]
        if b["clean_misclassified"]:
            parts.insert(0, f"clean {b['clean_misclassified']}")
        stderr.write(f"  robust accuracy at ε = {e:<6.3g} {b['robust_accuracy']:6.1%} "
                     f"[{b['robust_accuracy_ci95_lo']:.1%}–{b['robust_accuracy_ci95_hi']:.1%}, {b['robust']}/{b['n']}]"
                     f"  fooled first by: {', '.join(parts)}\n")
    stderr.write(f"note: {terminal(result.robust_accuracy_note())}\n")
    stderr.write(f"note: [..] is the exact 95 % interval (k/n). {interval_note(len(result.images))}\n")
    stderr.write("wrote " + ", ".join(terminal(str(p)) for p in paths.values()) + "\n")
    return code


def write_outputs(result: Any, class_names: Sequence[str], out: Path) -> dict[str, Path]:
    """summary.csv, images.csv, results.json and report.html of a batch result."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {k: out / f for k, f in (("summary", "summary.csv"), ("images", "images.csv"), ("json", "results.json"),
                                      ("html", "report.html"))}
    norm = result.settings.norm
    # the bare model's rows carry the per-attack breakdown (which attack fooled each image first)
    by_eps = {b["eps"]: b for b in result.breakdown()}
    extra = ["robust", "robust_accuracy_ci95_lo", "robust_accuracy_ci95_hi", "clean_misclassified",
             *[f"fooled_by_{a}" for a in result.breakdown_attacks()], "not_fooled"]
    rows = [{**r, "eps_255": r["eps"] * 255 if norm == "linf" else "",
             **({k: by_eps[r["eps"]][k] for k in extra} if r["kind"] == "attack" and r["defense"] == NO_DEFENSE
                and r["eps"] in by_eps else {})} for r in result.summary()]
    write_csv(rows, paths["summary"], ["defense", "kind", "attack", "eps", "eps_255", "n", "accuracy", "success_rate",
                                       "abstain_rate", "mean_confidence", *INTERVAL_COLUMNS, *extra])
    write_csv(result.image_rows(class_names), paths["images"])
    rep = batch_report(result, class_names, page="python -m core evaluate")
    paths["json"].write_text(rep.to_json(), encoding="utf-8")
    paths["html"].write_text(rep.to_html(), encoding="utf-8")
    return paths


def _class_names(model_name: str) -> list[str]:
    """The class names of a registered model without loading it on this process when possible."""
    spec = get_spec(model_name)
    if spec.task == "classification" and spec.num_classes == 1000:
        return imagenet_classes()
    return list(load_model(model_name, device="cpu").class_names)


__all__ = ["EXIT_ERROR", "EXIT_INTERRUPTED", "EXIT_OK", "LABELLED_SOURCES", "add_scale_options", "check_scale_options",
           "evaluate_at_scale", "register_labelled_sources", "write_outputs"]
