"""Images per second of batch evaluation: the local engine vs the Ray engine with 1 and 2 workers,
on the same labelled images (core/evaluation/batch/engine.py, core/evaluation/batch/ray_engine.py).

Every engine evaluates the same jobs (the 20 labelled ImageNet photos on EfficientNet-Lite0 by
default) with one torch thread per image (the setting that makes their results identical). The
clock runs from the first image handed to the engine to the last result, after the workers have
loaded the model and evaluated two images untimed (Ray's start-up and the actors' model loading
are printed apart: they are paid once per run, not per image). Prints images/s of each, the ratio of each Ray run to the local
engine, the per-image overhead of Ray at 1 worker ((t_ray1 - t_local) / n), and the seconds per
image spent inside ``evaluate_image`` (so that a slower Ray run can be told apart: slower compute
in the worker process, or time between the images). The runs are
interleaved over ``--repeats`` so that load from other processes hits them alike; the median is kept.

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python bench/bench_engines.py [--set labelled-imagenet]
        [--model EfficientNet-Lite0] [--attack FGSM] [--steps 0] [--repeats 3]
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from core.data.labelled_samples import register_labelled_sources  # noqa: E402
from core.evaluation.batch.engine import ImageWorker, Job, run_local  # noqa: E402
from core.evaluation.batch.evaluate import EvalSettings  # noqa: E402
from core.data.image_sets import iter_images  # noqa: E402
from core.data.images import prepare_for_model, to_tensor  # noqa: E402
from core.data.labels import Labeler, parse_labels  # noqa: E402
from core.runtime.limits import CLI_READ_BUDGET  # noqa: E402
from core.models import get_spec, load_model  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--set", default="labelled-imagenet")
    ap.add_argument("--model", default="EfficientNet-Lite0")
    ap.add_argument("--attack", default="PGD")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    import ray

    from core.evaluation.batch.ray_engine import ROOT, make_actors, run_ray

    register_labelled_sources()
    spec = get_spec(a.model)
    model = load_model(a.model)
    lb = Labeler(parse_labels("pattern"), model.class_names)
    jobs = [Job(it.key, it.name, it.value if it.value.dim() == 4 else it.value.unsqueeze(0), lb.label(it.name))
            for it in iter_images(a.set, lambda im: to_tensor(prepare_for_model(im, spec)), budget=CLI_READ_BUDGET)]
    n = len(jobs)
    s = EvalSettings(model=a.model, attack=a.attack, eps=(1 / 255, 4 / 255), steps=a.steps or None)
    local = ImageWorker(a.model, s, threads=1, model=model)
    t = time.perf_counter()
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}})
    t_init = time.perf_counter() - t
    t = time.perf_counter()
    pools = {1: make_actors(a.model, s, workers=1, threads=1, gpus_per_worker=0)}
    ray.get([x.pid.remote() for x in pools[1]])
    t_actor = time.perf_counter() - t
    pools[2] = pools[1] + make_actors(a.model, s, workers=1, threads=1, gpus_per_worker=0)
    ray.get([x.pid.remote() for x in pools[2]])
    times: dict[str, list[float]] = {"local": [], "ray1": [], "ray2": []}
    work: dict[str, list[float]] = {k: [] for k in times}  # seconds inside evaluate_image, summed over images

    def sink(k: str, acc: list[float]):
        return lambda ev: acc.append(ev.elapsed_s)

    # warm-up, untimed: every worker and the local engine evaluate two images first (the fused model
    # copy, oneDNN's kernels and the allocator's pools are made on first use in each process)
    run_local(jobs[:2], local, lambda ev: None)
    for actor in pools[2]:
        run_ray(jobs[:2], model_name=a.model, settings=s, workers=1, on_result=lambda ev: None, actors=[actor])
    for _ in range(a.repeats):
        acc: list[float] = []
        t = time.perf_counter()
        run_local(jobs, local, sink("local", acc))
        times["local"].append(time.perf_counter() - t)
        work["local"].append(sum(acc))
        for w in (1, 2):
            acc = []
            t = time.perf_counter()
            run_ray(jobs, model_name=a.model, settings=s, workers=w, on_result=sink(f"ray{w}", acc),
                    actors=pools[w])
            times[f"ray{w}"].append(time.perf_counter() - t)
            work[f"ray{w}"].append(sum(acc))
    ray.shutdown()
    med = {k: statistics.median(v) for k, v in times.items()}
    wmed = {k: statistics.median(v) for k, v in work.items()}
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch threads per image 1")
    print(f"{a.set}: {n} images, {a.model}, {a.attack} steps={a.steps}, 2 ε; {a.repeats} repeats (median)")
    print(f"once per run: ray.init {t_init:.1f} s, one actor ready (model loaded) {t_actor:.1f} s")
    for k in ("local", "ray1", "ray2"):
        print(f"  {k:<6} {med[k]:7.2f} s  {n / med[k]:6.2f} images/s  ratio to local {med['local'] / med[k]:.2f}x"
              f"  (evaluate_image itself: {wmed[k] / n:.2f} s per image)")
    print(f"Ray overhead at 1 worker: {(med['ray1'] - med['local']) / n * 1000:+.0f} ms per image")


if __name__ == "__main__":
    main()
