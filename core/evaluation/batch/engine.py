"""Batch evaluation at scale: a stream of images, true labels, resumable results, and the same
per-image work on this process (the *local* engine) or on a Ray cluster (:mod:`core.evaluation.batch.ray_engine`).

The unit of work is one image (:class:`Job`): its key (identity), name, prepared tensor and true
label (or None). :class:`ImageWorker` loads the model and builds the defenses once, then evaluates
jobs with :func:`core.evaluation.batch.evaluate.evaluate_image`; the local engine runs one in this process, the Ray
engine one per actor. Because every image's seed is :func:`core.evaluation.batch.evaluate.image_seed` of the run's
seed and the image's key, and every worker runs torch with the same number of threads per image
(``threads``, recorded with the run: float sums in a convolution depend on how the work is split
between threads), an image's result is the same bit for bit whichever engine, worker or order
computed it.

**Where the attack per image is chosen.** :meth:`ImageWorker.evaluate` hands the settings to
:func:`core.evaluation.batch.evaluate.evaluate_image`, which attacks with :func:`core.evaluation.batch.evaluate.image_attacks`: an
ensemble attack (several attacks, the worst case per image) slots in there, and both engines use it.

:func:`run_evaluation` drives a run: it reads the items lazily (memory does not grow with the
number of images beyond one small record per finished image), labels each one
(:class:`core.data.labels.Labeler`), skips the keys already in the output folder's
:class:`core.evaluation.batch.runs.RunStore` (checking that their recorded label is still the same), sends the rest
to the engine, and appends each result as it arrives. Interrupting it (Ctrl-C, a kill, a crash)
loses at most the images in flight.
"""
from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from typing import Any
from collections.abc import Callable, Iterable, Iterator

import torch

from core.evaluation.batch.evaluate import BatchResult, EvalSettings, ImageEval, evaluate_images
from core.data.labels import LabelError, Labeler
from core.runtime.progress import ProgressFn, report
from core.evaluation.batch.ray_engine import run_ray
from core.evaluation.batch.runs import RunStore
from core.evaluation.batch.worker import ImageWorker, Job, run_local

ENGINES = ("local", "ray")


@dataclass
class RunStats:
    """What a run did: images read, skipped as already done, evaluated now, seconds."""

    read: int = 0
    resumed: int = 0
    evaluated: int = 0
    seconds: float = 0.0
    engine: str = "local"
    workers: int = 1


def _value(item: Any) -> torch.Tensor:
    x = item.value
    return x if x.dim() == 4 else x.unsqueeze(0)


def run_evaluation(items: Iterable[Any], settings: EvalSettings, *, model_name: str, labeler: Labeler,
                   store: RunStore, engine: str = "local", threads: int = 1, workers: int = 1,
                   address: str | None = None, gpus_per_worker: float = 0.0,
                   model: torch.nn.Module | None = None,
                   on_image: Callable[[RunStats, ImageEval | None], None] | None = None,
                   result: BatchResult | None = None) -> tuple[BatchResult, RunStats]:
    """Evaluate a stream of :class:`core.data.image_sets.ImageItem` (``name``, ``key``, ``value`` =
    prepared tensor) into ``store`` with the chosen engine (module docstring); returns the
    result over every image of the store in the source's order, and the run's counts.
    ``on_image(stats, ev)`` is called after each image (``ev`` None for a resumed one)."""
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; known: {', '.join(ENGINES)}")
    t0 = time.perf_counter()
    stats = RunStats(engine=engine, workers=workers if engine == "ray" else 1)
    order: list[str] = []
    out = result if result is not None else BatchResult(settings=settings)
    out.complete = False
    out.label_note = labeler.note()
    if labeler.labelled:
        out.label_source = labeler.spec.describe()

    def jobs() -> Iterator[Job]:
        for item in items:
            stats.read += 1
            label = labeler.label(item.name)
            order.append(item.key)
            if item.key in store:
                old = store.done[item.key]
                if label is not None and (old.label != label or not old.true_label):
                    raise LabelError(f"“{item.name}”: its label is now {label}, but the run in the output folder "
                                     f"evaluated it with label {old.label}; use another output folder.")
                stats.resumed += 1
                if on_image is not None:
                    on_image(stats, None)
                continue
            yield Job(item.key, item.name, _value(item), label)

    def on_result(ev: ImageEval) -> None:
        if store.add(ev):
            stats.evaluated += 1
        stats.seconds = time.perf_counter() - t0
        if on_image is not None:
            on_image(stats, ev)

    threads_before = torch.get_num_threads()
    try:
        if engine == "local":
            run_local(jobs(), ImageWorker(model_name, settings, threads, model=model), on_result)
        else:
            run_ray(jobs(), model_name=model_name, settings=settings, threads=threads, workers=workers,
                    address=address, gpus_per_worker=gpus_per_worker, on_result=on_result)
        out.complete = True
    finally:
        torch.set_num_threads(threads_before)  # the local engine's setting ends with the run
        stats.seconds = time.perf_counter() - t0
        out.images = store.images(order)
        out.elapsed_s = stats.seconds
    return out, stats


def evaluate_on_cluster(items: list[Any], settings: EvalSettings, labeler: Labeler, address: str,
                        progress: ProgressFn, into: BatchResult, *, workers: int = 2, threads: int = 1) -> BatchResult:
    """The Batch evaluation page's run on a configured Ray cluster (``RAY_ADDRESS``): the items
    (ImageItems) go to ``workers`` actors there, results arrive into ``into`` as they finish (kept
    in a temporary run folder), and ``progress(done, total, message)`` counts whole images;
    raising :class:`core.runtime.progress.Cancelled` from it stops the run, keeping the finished images."""
    total = len(items)
    with tempfile.TemporaryDirectory(prefix="batch-ray-") as tmp:
        store = RunStore(tmp, {"settings": settings.to_dict()})

        def on_image(stats: RunStats, ev: ImageEval | None) -> None:
            into.images = [store.done[k] for k in (i.key for i in items) if k in store.done]
            report(progress, stats.evaluated, total, f"{stats.evaluated}/{total} images on the cluster"
                   + (f" ({ev.name})" if ev is not None else ""))

        report(progress, 0, total, f"starting {workers} worker(s) on the cluster at {address}")
        try:
            run_evaluation(items, settings, model_name=settings.model, labeler=labeler, store=store, engine="ray",
                           threads=threads, workers=workers, address=address, on_image=on_image, result=into)
        finally:
            store.close()
    return into


__all__ = ["ENGINES", "evaluate_on_cluster", "ImageWorker", "Job", "RunStats", "run_evaluation", "run_local"]


def evaluate_here_or_on_cluster(model: Any, items: list[Any], settings: EvalSettings, labeler: Labeler, *,
                                defenses: dict, labels: dict[str, int] | None, progress: ProgressFn,
                                into: BatchResult, address: str | None = None) -> BatchResult:
    """The Batch evaluation page's run: on the Ray cluster at ``address`` when one is given
    (:func:`evaluate_on_cluster`), else in this process (:func:`core.evaluation.batch.evaluate.evaluate_images`).
    Either way the finished images arrive in ``into`` as they finish, so a stopped run keeps them."""
    if address:
        return evaluate_on_cluster(items, settings, labeler, address, progress, into)
    return evaluate_images(model, items, settings, defenses=defenses, class_names=model.class_names,
                           progress=progress, into=into, labels=labels)
