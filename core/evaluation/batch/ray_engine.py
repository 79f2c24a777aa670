"""The Ray engine of batch evaluation: the same per-image work as the local engine, spread over
the actors of a Ray cluster (https://docs.ray.io/, Ray Core actors).

* ``workers`` actors (:class:`EvalActor`), each holding one :class:`core.evaluation.batch.worker.ImageWorker`: the
  model is loaded and the defenses built once per actor, with ``threads`` CPUs (torch threads) and
  ``gpus_per_worker`` GPUs each (Ray sets ``CUDA_VISIBLE_DEVICES``; the model goes to the GPU when
  there is one, :func:`core.runtime.device.get_device`).
* Images are sharded dynamically: each actor holds at most :data:`IN_FLIGHT` images at a time, and
  the next image goes to the first actor that returns one, so fast and slow workers stay busy and
  the driver holds only the images in flight (memory does not grow with the set).
* A worker process that dies (killed, out of memory, a lost node) is restarted by Ray
  (``max_restarts=-1``), which re-runs its unfinished calls on the new process
  (``max_task_retries=-1``): its images are evaluated again from scratch with the same seeds, so
  nothing is lost, and the driver records each key once (:class:`core.evaluation.batch.runs.RunStore`), so
  nothing is counted twice.
* Results are identical bit for bit to the local engine's: same code, same per-image seeds, same
  threads per image (:mod:`core.evaluation.batch.engine`).

Without ``address`` a private local cluster is started for the run (``ray.init("local")``, never
an existing cluster by accident) with ``workers × threads`` CPUs and stopped at the end; with
``address`` ("auto", "ray://host:10001", ...) the run joins that cluster, whose nodes must have
the project and its virtual environment at the same path (docs/SCALING.md). Ray is imported only
here, so nothing else in the project needs it.
"""
from __future__ import annotations

import os
from typing import Any
from collections.abc import Callable, Iterable

from core.evaluation.batch.evaluate import EvalSettings, ImageEval
from core.evaluation.batch.worker import ImageWorker, Job
from core.runtime.paths import ROOT

IN_FLIGHT = 2  # images queued per actor (one running, one ready)


class EvalActor:
    """One worker: loads the model once, evaluates images (wrapped by ``ray.remote`` at run time)."""

    def __init__(self, model_name: str, settings: EvalSettings, threads: int) -> None:
        self.worker = ImageWorker(model_name, settings, threads)

    def pid(self) -> int:
        return os.getpid()

    def evaluate(self, job: Job) -> ImageEval:
        return self.worker.evaluate(job)


def _init(address: str | None, workers: int, threads: int, gpus: float) -> bool:
    """Connect to (or start) the cluster; True when this call started Ray (and must stop it)."""
    import ray  # local: Ray is optional (only --engine ray needs it), ~0.4 s to import

    if ray.is_initialized():
        return False
    env = {"env_vars": {"PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}}
    if address:
        ray.init(address=address, runtime_env=env, log_to_driver=False)
    else:
        kw: dict[str, Any] = {"num_cpus": max(1, workers * threads)}
        if gpus > 0:
            kw["num_gpus"] = max(1, int(-(-workers * gpus // 1)))
        ray.init(address="local", include_dashboard=False, runtime_env=env, log_to_driver=False, **kw)
    return True


def make_actors(model_name: str, settings: EvalSettings, *, workers: int, threads: int,
                gpus_per_worker: float) -> list[Any]:
    """``workers`` evaluation actors (Ray must be initialised)."""
    import ray  # local: Ray is optional and slow to import (see _init)

    cls = ray.remote(EvalActor).options(num_cpus=threads, num_gpus=gpus_per_worker, max_restarts=-1,
                                        max_task_retries=-1)
    return [cls.remote(model_name, settings, threads) for _ in range(workers)]


def run_ray(jobs: Iterable[Job], *, model_name: str, settings: EvalSettings, threads: int = 1, workers: int = 2,
            address: str | None = None, gpus_per_worker: float = 0.0, on_result: Callable[[ImageEval], None],
            actors: list[Any] | None = None) -> None:
    """Evaluate every job on Ray actors; ``on_result`` gets each image once, in completion order.
    ``actors``: use these (already created) instead of making ``workers`` new ones."""
    if workers < 1:
        raise ValueError("the Ray engine needs at least one worker")
    import ray  # local: Ray is optional and slow to import (see _init)

    started = _init(address, workers, threads, gpus_per_worker) if actors is None else False
    try:
        pool = actors if actors is not None else make_actors(model_name, settings, workers=workers, threads=threads,
                                                             gpus_per_worker=gpus_per_worker)
        it = iter(jobs)
        pending: dict[Any, tuple[int, Job]] = {}  # object ref -> (actor index, job)
        load = [0] * len(pool)
        done_keys: set[str] = set()

        def submit(i: int) -> bool:
            job = next(it, None)
            if job is None:
                return False
            pending[pool[i].evaluate.remote(job)] = (i, job)
            load[i] += 1
            return True

        exhausted = False
        for _ in range(IN_FLIGHT):
            for i in range(len(pool)):
                if not exhausted and not submit(i):
                    exhausted = True
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            ref = ready[0]
            i, job = pending.pop(ref)
            load[i] -= 1
            ev = ray.get(ref)  # an actor that died is restarted and the call retried by Ray
            if ev.key not in done_keys:
                done_keys.add(ev.key)
                on_result(ev)
            if not exhausted and not submit(i):
                exhausted = True
    finally:
        if started:
            ray.shutdown()


__all__ = ["EvalActor", "IN_FLIGHT", "make_actors", "run_ray"]
