"""The Ray engine on a real local Ray cluster started by the test (2 worker actors): per-image results
identical bit for bit to the local engine's on the labelled Fashion-MNIST sample, a worker killed
mid-run with os.kill loses and duplicates nothing, and the command line's --engine ray writes the
same tables as the local engine. One cluster for the module; a small zoo model and few steps keep it
well under a minute of work on two cores (most of the time is Ray starting its workers)."""
from __future__ import annotations

import io
import json
import os
import signal

import pytest
import ray

from core.cli.commands import main
from core.evaluation.batch.engine import ImageWorker, Job, run_local
from core.data.labels import Labeler, parse_labels
from core.evaluation.batch.ray_engine import ROOT, make_actors, run_ray
from core.evaluation.batch.runs import eval_to_json
from tests.evaluation.test_scale import ARGS, MODEL, fmnist_items, settings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster():
    ray.init(address="local", num_cpus=4, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}})
    try:
        yield
    finally:
        ray.shutdown()


def jobs():
    lb = Labeler(parse_labels("pattern"), [str(i) for i in range(10)])
    return [Job(it.key, it.name, it.value.unsqueeze(0) if it.value.dim() == 3 else it.value, lb.label(it.name))
            for it in fmnist_items()]


def canon(ev) -> str:
    d = json.loads(eval_to_json(ev))
    d["elapsed_s"] = 0.0
    return json.dumps(d, sort_keys=True)


@pytest.fixture(scope="module")
def local_results():
    s = settings(attack="PGD", steps=4, random_start=True)  # random start: the per-image seeds matter
    out = []
    import torch

    before = torch.get_num_threads()
    try:
        run_local(jobs(), ImageWorker(MODEL, s, threads=1), out.append)
    finally:
        torch.set_num_threads(before)
    return s, {ev.key: canon(ev) for ev in out}


def test_ray_matches_local_and_survives_a_killed_worker(cluster, local_results):
    s, want = local_results
    actors = make_actors(MODEL, s, workers=2, threads=1, gpus_per_worker=0)
    pids = ray.get([a.pid.remote() for a in actors])
    assert len(set(pids)) == 2 and os.getpid() not in pids
    got: list[str] = []
    keys: list[str] = []
    killed = []

    def on_result(ev):
        keys.append(ev.key)
        got.append(canon(ev))
        if len(keys) == 3 and not killed:  # mid-run: the worker holds images in flight
            os.kill(pids[0], signal.SIGKILL)
            killed.append(pids[0])

    run_ray(jobs(), model_name=MODEL, settings=s, workers=2, on_result=on_result, actors=actors)
    assert killed
    assert sorted(keys) == sorted(want) and len(keys) == len(set(keys)) == 20  # nothing lost, nothing twice
    assert sorted(got) == sorted(want.values())  # bit for bit the local engine's results
    new_pids = ray.get([a.pid.remote() for a in actors])
    assert new_pids[0] != pids[0] and new_pids[1] == pids[1]  # the killed worker was replaced
    for a in actors:
        ray.kill(a)


def test_cli_ray_engine_writes_the_local_engine_tables(cluster, tmp_path):
    err = io.StringIO()
    assert main([*ARGS, "--out", str(tmp_path / "local")], stderr=err) == 0, err.getvalue()
    err = io.StringIO()
    code = main([*ARGS, "--engine", "ray", "--workers", "2", "--out", str(tmp_path / "ray")], stderr=err)
    assert code == 0, err.getvalue()
    assert "engine Ray (2 worker(s)" in err.getvalue()
    for f in ("summary.csv", "images.csv"):
        assert (tmp_path / "ray" / f).read_bytes() == (tmp_path / "local" / f).read_bytes()


def test_batch_page_cluster_run_matches_local(cluster, local_results):
    from core.evaluation.batch.engine import evaluate_on_cluster
    from core.evaluation.batch.evaluate import BatchResult

    s, want = local_results
    items = list(fmnist_items())[:4]
    seen = []
    out = BatchResult(settings=s)
    evaluate_on_cluster(items, s, Labeler(parse_labels("pattern"), [str(i) for i in range(10)]), "auto",
                        lambda d, t, m: seen.append((d, t)), out, workers=1)
    assert out.complete and [e.key for e in out.images] == [i.key for i in items]
    assert [canon(e) for e in out.images] == [want[i.key] for i in items]
    assert seen[0] == (0, 4) and seen[-1] == (4, 4)


def test_worst_case_ensemble_on_ray_matches_local_bit_for_bit(cluster):
    import torch

    from core.evaluation.batch.evaluate import WORST_CASE, BatchResult

    s = settings(attack=WORST_CASE, eps=(0.1,), steps=3, attack_params=(("n_targets", 1), ("square_queries", 20)))
    few = jobs()[:6]
    local: list = []
    before = torch.get_num_threads()
    try:
        run_local(few, ImageWorker(MODEL, s, threads=1), local.append)
    finally:
        torch.set_num_threads(before)
    actors = make_actors(MODEL, s, workers=2, threads=1, gpus_per_worker=0)
    remote: list = []
    run_ray(iter(few), model_name=MODEL, settings=s, workers=2, on_result=remote.append, actors=actors)
    for a in actors:
        ray.kill(a)
    assert sorted(map(canon, remote)) == sorted(map(canon, local))
    assert all(ev.found_by and ev.found_by[0] in ("APGD-CE", "APGD-T", "Square", "none", "clean") for ev in local)
    # the ensemble's robust accuracy is never above PGD's on the same images
    p, pgd = settings(eps=(0.1,), steps=3), []
    run_local(few, ImageWorker(MODEL, p, threads=1), pgd.append)
    torch.set_num_threads(before)
    acc = lambda st, evs: BatchResult(settings=st, images=evs).breakdown()[0]["robust_accuracy"]  # noqa: E731
    assert acc(s, local) <= acc(p, pgd)
