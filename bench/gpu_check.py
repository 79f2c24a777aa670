"""One prepared GPU check: everything the project wants to know from a CUDA machine, in one run.

    bash bench/gpu_check.sh [OUT_DIR]        # sets up .venv, then runs this file
    .venv/bin/python bench/gpu_check.py --out /tmp/gpu_check [--quick]

Stages, each timed and each printed as one line (and written to ``OUT_DIR/gpu_check.json`` and
``gpu_check.txt``):

1. ``environment`` — torch, its CUDA build, the device's name and memory;
2. ``gpu_tests`` — the tests marked ``gpu`` (``pytest -m gpu``: models, attacks, the ensemble and
   smoothing on CUDA agree with the CPU);
3. ``pgd10`` — PGD-10 on EfficientNet-Lite0 at 224 px, batch 1 and 8: ours, the floor of 10
   forward+backward passes, torchattacks (bench/bench_pgd.py on the device);
4. ``worst_case_zoo`` — the worst-case ensemble (tools/ensemble_zoo.py's configuration) on the
   1,000 shipped Fashion-MNIST test images for ``fmnist-pgd-at``;
5. ``certify`` — randomized-smoothing CERTIFY (σ = 0.25, n0 = 100, n = 1,000) on one photo:
   noisy samples per second;
6. ``attack_lab`` — the Attack Lab's computation at its defaults (PGD-10, ε = 4/255, coffee).

Without CUDA every stage that needs it prints ``SKIPPED (no CUDA): …`` and the script still
exits 0 (the project's tests run it so on the CPU). A stage that fails prints ``FAILED`` with
the error, the others still run, and the exit code is 1. The whole run is bounded by
``--budget`` seconds (default 480 = 8 minutes): a stage that would start after the budget is
skipped with a line saying so.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from pathlib import Path
from collections.abc import Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def stage_environment(dev: torch.device, quick: bool) -> dict:
    out = {"torch": torch.__version__, "cuda_build": torch.version.cuda, "python": platform.python_version(),
           "machine": platform.machine(), "cuda_available": torch.cuda.is_available()}
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        out.update(device=p.name, memory_gib=round(p.total_memory / 2**30, 1), capability=f"{p.major}.{p.minor}")
    return out


def stage_gpu_tests(dev: torch.device, quick: bool) -> dict:
    cmd = [sys.executable, "-m", "pytest", "-q", "-m", "gpu", "-p", "no:cacheprovider", "tests/test_gpu.py"]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    tail = (r.stdout + r.stderr).strip().splitlines()[-1:] or [""]
    if r.returncode not in (0, 5):
        raise RuntimeError(f"GPU tests failed: {tail[0]}\n{r.stdout[-3000:]}")
    return {"summary": tail[0], "returncode": r.returncode}


def stage_pgd10(dev: torch.device, quick: bool) -> dict:
    cmd = [sys.executable, "bench/bench_pgd.py", "--device", str(dev), "--repeats", "3" if quick else "5"]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, OMP_WAIT_POLICY="PASSIVE"))
    if r.returncode != 0:
        raise RuntimeError(r.stderr[-2000:])
    return {"printed": r.stdout.strip().splitlines()[-12:]}


def stage_worst_case_zoo(dev: torch.device, quick: bool) -> dict:
    from tools.ensemble_zoo import CONFIG  # the cards' configuration
    from core.evaluation.ensemble import worst_case
    from core.models import load_model
    from core.data.fashion_mnist import load_test_subset, to_float

    n = 200 if quick else 1000
    xs, ys, _ = load_test_subset()
    x, y = to_float(xs)[:n].to(dev), ys[:n].to(dev)
    model = load_model("fmnist-pgd-at", device=dev)
    _sync()
    t0 = time.perf_counter()
    r = worst_case(model, x, y, CONFIG, seed=0)
    _sync()
    s = r.summary()
    return {"model": "fmnist-pgd-at", "n": n, "seconds": round(time.perf_counter() - t0, 2),
            "robust_accuracy": s["robust_accuracy"], "clean_accuracy": s["clean_accuracy"],
            "breakdown": [(b["attack"], b["fooled"]) for b in s["breakdown"]]}


def _photo(dev: torch.device, model_name: str = "EfficientNet-Lite0") -> torch.Tensor:
    from core.data.images import load_sample, prepare_for_model, to_tensor
    from core.models import get_spec

    return to_tensor(prepare_for_model(load_sample("coffee"), get_spec(model_name))).to(dev)


def stage_certify(dev: torch.device, quick: bool) -> dict:
    from core.defenses.smoothing import certify
    from core.models import load_model

    model = load_model("EfficientNet-Lite0", device=dev)
    x = _photo(dev)
    n = 200 if quick else 1000
    certify(model, x, sigma=0.25, n0=10, n=10, alpha=0.001, batch_size=100)  # warm-up
    _sync()
    t0 = time.perf_counter()
    res = certify(model, x, sigma=0.25, n0=100, n=n, alpha=0.001, batch_size=100, seed=0)
    _sync()
    secs = time.perf_counter() - t0
    return {"n0": 100, "n": n, "seconds": round(secs, 3), "samples_per_s": round((100 + n) / secs, 1),
            "radius": float(getattr(res, "radius", float("nan")))}


def stage_attack_lab(dev: torch.device, quick: bool) -> dict:
    from core.attacks import ThreatModel
    from core.evaluation.lab import run_attack_lab
    from core.models import load_model

    model = load_model("EfficientNet-Lite0", device=dev)
    x = _photo(dev)
    with torch.no_grad():
        label = int(model(x).argmax())
    threat = ThreatModel(norm="linf", eps=4 / 255, step=1 / 255, steps=10, random_start=True)
    run_attack_lab(model, x, label, "PGD", threat, seed=0)  # warm-up (cuDNN autotuning, the fused copy)
    times = []
    for _ in range(3 if quick else 5):
        _sync()
        t0 = time.perf_counter()
        run = run_attack_lab(model, x, label, "PGD", threat, seed=0)
        _sync()
        times.append(time.perf_counter() - t0)
    times.sort()
    return {"attack": "PGD-10, ε = 4/255", "median_s": round(times[len(times) // 2], 4),
            "succeeded": bool(run.result.success[0])}


STAGES: list[tuple[str, Callable[[torch.device, bool], dict], bool]] = [
    ("environment", stage_environment, False),
    ("gpu_tests", stage_gpu_tests, True),
    ("pgd10", stage_pgd10, True),
    ("worst_case_zoo", stage_worst_case_zoo, True),
    ("certify", stage_certify, True),
    ("attack_lab", stage_attack_lab, True),
]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(ROOT / "bench" / "gpu_check_out"), help="folder for gpu_check.json/.txt")
    ap.add_argument("--budget", type=float, default=480.0, help="seconds for the whole run")
    ap.add_argument("--quick", action="store_true", help="smaller sizes (a first look)")
    args = ap.parse_args(argv)
    cuda = torch.cuda.is_available()
    dev = torch.device("cuda" if cuda else "cpu")
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    results: dict = {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "device": str(dev), "stages": {}}
    lines: list[str] = []
    failed = False
    t_start = time.perf_counter()

    def say(line: str) -> None:
        print(line, flush=True)
        lines.append(line)

    say(f"gpu_check: device {dev} ({'CUDA' if cuda else 'no CUDA'}), budget {args.budget:g} s")
    for name, fn, needs_cuda in STAGES:
        if needs_cuda and not cuda:
            say(f"{name}: SKIPPED (no CUDA): this stage measures the GPU path")
            results["stages"][name] = {"status": "skipped", "reason": "no CUDA"}
            continue
        left = args.budget - (time.perf_counter() - t_start)
        if left <= 0:
            say(f"{name}: SKIPPED (out of time): the {args.budget:g} s budget is spent")
            results["stages"][name] = {"status": "skipped", "reason": "budget"}
            continue
        t0 = time.perf_counter()
        try:
            res = fn(dev, args.quick)
            res = {"status": "ok", "seconds_total": round(time.perf_counter() - t0, 2), **res}
            say(f"{name}: ok ({res['seconds_total']} s) " + json.dumps({k: v for k, v in res.items()
                                                                       if k not in ("status", "seconds_total")}))
        except Exception as e:  # one failing stage must not hide the others' figures
            failed = True
            res = {"status": "failed", "error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()[-3000:]}
            say(f"{name}: FAILED {type(e).__name__}: {e}")
        results["stages"][name] = res
    results["seconds"] = round(time.perf_counter() - t_start, 1)
    say(f"gpu_check: done in {results['seconds']} s" + (" with failures" if failed else ""))
    (out_dir / "gpu_check.json").write_text(json.dumps(results, indent=1), encoding="utf-8")
    (out_dir / "gpu_check.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
