"""The CUDA path, checked against the CPU (skipped where there is no GPU; bench/gpu_check.sh runs
these on a lent GPU). Same seeds on both devices; results agree to float tolerance, not bit for bit
(cuDNN's convolutions sum in another order)."""
from __future__ import annotations

import pytest
import torch

from core.attacks import PGD, ThreatModel
from core.evaluation.ensemble import EnsembleConfig, worst_case
from core.models import load_model
from core.data.fashion_mnist import load_test_subset, to_float

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]


def _subset(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys, _ = load_test_subset()
    return to_float(xs)[:n], ys[:n]


def test_zoo_model_logits_agree_on_cuda():
    x, _ = _subset(64)
    cpu = load_model("fmnist-standard", device="cpu")
    gpu = load_model("fmnist-standard", device="cuda")
    with torch.no_grad():
        a, b = cpu(x), gpu(x.cuda()).cpu()
    assert torch.allclose(a, b, atol=1e-3, rtol=1e-3)


def test_imagenet_model_on_cuda_predicts_like_the_cpu():
    from core.data.images import load_sample, prepare_for_model, to_tensor  # only with CUDA: a full photo
    from core.models import get_spec

    x = to_tensor(prepare_for_model(load_sample("coffee"), get_spec("EfficientNet-Lite0")))
    with torch.no_grad():
        a = load_model("EfficientNet-Lite0", device="cpu")(x)
        b = load_model("EfficientNet-Lite0", device="cuda")(x.cuda()).cpu()
    assert int(a.argmax()) == int(b.argmax())
    assert torch.allclose(a.softmax(1), b.softmax(1), atol=1e-3)


def test_pgd_on_cuda_stays_in_the_ball_and_fools_like_the_cpu():
    x, y = _subset(128)
    threat = ThreatModel(norm="linf", eps=0.1, step=0.025, steps=10, random_start=True)
    gpu = load_model("fmnist-standard", device="cuda")
    xa, _ = PGD(threat).perturb(gpu, x.cuda(), y.cuda(), seed=0)
    assert xa.device.type == "cuda"
    d = (xa.cpu() - x).abs().amax()
    assert float(d) <= 0.1 + 1e-5 and 0 <= float(xa.min()) and float(xa.max()) <= 1
    with torch.no_grad():
        fooled_gpu = (gpu(xa).argmax(1).cpu() != y).float().mean()
    cpu = load_model("fmnist-standard", device="cpu")
    xc, _ = PGD(threat).perturb(cpu, x, y, seed=0)
    with torch.no_grad():
        fooled_cpu = (cpu(xc).argmax(1) != y).float().mean()
    assert abs(float(fooled_gpu) - float(fooled_cpu)) <= 0.05


def test_worst_case_runs_on_cuda_and_is_below_pgd():
    x, y = _subset(64)
    m = load_model("fmnist-pgd-at", device="cuda")
    r = worst_case(m, x.cuda(), y.cuda(), EnsembleConfig(eps=0.1, apgd_steps=20, square_queries=200), seed=0)
    s = r.summary()
    threat = ThreatModel(norm="linf", eps=0.1, step=0.025, steps=10, random_start=True)
    xa, _ = PGD(threat).perturb(m, x.cuda(), y.cuda(), seed=0)
    with torch.no_grad():
        pgd_robust = float(((m(xa).argmax(1) == y.cuda()) & (m(x.cuda()).argmax(1) == y.cuda())).float().mean())
    assert s["robust_accuracy"] <= pgd_robust + 1e-9
