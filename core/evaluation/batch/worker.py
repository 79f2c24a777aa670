"""The unit of work of batch evaluation at scale and the code that does it, shared by both engines
(:mod:`core.evaluation.batch.engine` runs it in this process, :mod:`core.evaluation.batch.ray_engine` in Ray actors): a :class:`Job`
is one prepared image, an :class:`ImageWorker` loads the model and builds the defenses once and
evaluates jobs with :func:`core.evaluation.batch.evaluate.evaluate_image`. Kept apart from :mod:`core.evaluation.batch.engine` so
that the Ray engine can build on it while :mod:`core.evaluation.batch.engine` imports the Ray engine.
"""
from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Callable, Iterable

import torch

from core.evaluation.batch.evaluate import EvalSettings, ImageEval, evaluate_image
from core.models import load_model


@dataclass(frozen=True)
class Job:
    """One image to evaluate."""

    key: str
    name: str
    x: torch.Tensor  # (1, 3, H, W) in [0, 1], already prepared for the model
    label: int | None


class ImageWorker:
    """Loads the model once and evaluates images one at a time (the body of both engines)."""

    def __init__(self, model_name: str, settings: EvalSettings, threads: int = 1,
                 model: torch.nn.Module | None = None) -> None:
        torch.set_num_threads(max(1, int(threads)))
        if model is None:
            model = load_model(model_name)
        self.model = model
        self.settings = settings
        self.defenses = settings.build_defenses(model)
        self.class_names = getattr(model, "class_names", None)

    def evaluate(self, job: Job) -> ImageEval:
        x = job.x if job.x.dim() == 4 else job.x.unsqueeze(0)
        return evaluate_image(self.model, x, job.name, self.settings, self.defenses, class_names=self.class_names,
                              label=job.label, key=job.key)


ResultFn = Callable[[ImageEval], None]


def run_local(jobs: Iterable[Job], worker: ImageWorker, on_result: ResultFn) -> None:
    """The local engine: every job in this process, in order."""
    for job in jobs:
        on_result(worker.evaluate(job))


__all__ = ["ImageWorker", "Job", "ResultFn", "run_local"]
