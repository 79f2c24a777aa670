"""bench/gpu_check.sh runs on a machine without CUDA too: every GPU stage says it is skipped, the
environment stage reports, the figures file is written, the exit code is 0."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(torch.cuda.is_available(), reason="on a GPU machine the check runs for real (bench/gpu_check.sh)")
def test_gpu_check_runs_on_the_cpu_and_says_what_it_skipped(tmp_path):
    r = subprocess.run(["bash", "bench/gpu_check.sh", str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                       timeout=600, env=dict(os.environ))
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    for stage in ("gpu_tests", "pgd10", "worst_case_zoo", "certify", "attack_lab"):
        assert f"{stage}: SKIPPED (no CUDA)" in r.stdout
    assert "environment: ok" in r.stdout
    res = json.loads((tmp_path / "gpu_check.json").read_text())
    assert res["device"] == "cpu" and res["stages"]["environment"]["cuda_available"] is False
    assert {v["status"] for k, v in res["stages"].items() if k != "environment"} == {"skipped"}
    assert (tmp_path / "gpu_check.txt").read_text().count("SKIPPED (no CUDA)") == 5
