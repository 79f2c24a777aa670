"""TRADES (Zhang, Yu, Jiao, Xing, El Ghaoui, Jordan, "Theoretically Principled Trade-off between
Robustness and Accuracy", ICML 2019; ``yaodongyu/TRADES: trades.py``).

L = CE(f(x), y) + β·KL(p(x) ‖ p(x')),  x' = argmax_{‖x'−x‖∞ ≤ ε} KL(p(x) ‖ p(x')),

the inner maximisation being the label-free KL attack of :class:`core.attacks.trades.TradesKL`
(start x + 0.001·N(0, I), signed steps, projection), run with the model in eval mode (as the
TRADES code does); the KL of the outer loss is averaged over the batch ("batchmean").

Paper defaults: β = 6; CIFAR-10 ε = 0.031, 10 steps of 0.007; MNIST ε = 0.3, 40 steps of 0.01.
Zoo defaults: **β = 6**, ε = 0.1, **5 steps** of 2.5·ε/5 = 0.05 (fewer steps for the CPU
budget). Cost: about 7 passes per step (5 attack passes + clean and adversarial passes).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from core.attacks.base import ThreatModel
from core.attacks.trades import TradesKL
from core.models.zoo.net import ZooClassifier
from core.train.common import EPS, Recipe, eval_mode


class TRADES(Recipe):
    key = "trades"

    def __init__(self, eps: float = EPS, steps: int = 5, beta: float = 6.0, step: float | None = None) -> None:
        self.eps, self.steps, self.beta = float(eps), int(steps), float(beta)
        self.step = float(step) if step is not None else 2.5 * self.eps / self.steps

    def params(self) -> dict:
        return {"eps": self.eps, "steps": self.steps, "step": self.step, "beta": self.beta, "init_std": 0.001}

    def passes_per_step(self) -> float:
        return self.steps + 2.0

    def loss(self, model: ZooClassifier, x: torch.Tensor, y: torch.Tensor, idx: torch.Tensor,
             gen: torch.Generator) -> tuple[torch.Tensor, dict[str, float]]:
        threat = ThreatModel(norm="linf", eps=self.eps, step=self.step, steps=self.steps)
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=gen))
        with eval_mode(model):
            x_adv, _ = TradesKL(threat).perturb(model, x, y, seed=seed)
        logits = model(x)
        logits_adv = model(x_adv.detach())
        ce = F.cross_entropy(logits, y)
        kl = F.kl_div(F.log_softmax(logits_adv, 1), F.log_softmax(logits, 1), reduction="batchmean", log_target=True)
        return ce + self.beta * kl, {"correct": float((logits.argmax(1) == y).sum()), "kl": float(kl.detach())}
