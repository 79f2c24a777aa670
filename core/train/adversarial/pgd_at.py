"""PGD adversarial training (Madry, Makelov, Schmidt, Tsipras, Vladu, "Towards Deep Learning
Models Resistant to Adversarial Attacks", ICLR 2018; ``MadryLab/mnist_challenge``,
``cifar10_challenge``).

min_θ E[ max_{‖δ‖∞ ≤ ε} CE(f(x + δ), y) ]: every batch is replaced by its PGD adversarial
examples (:class:`core.attacks.pgd.PGD`, random start, untargeted CE) and the model is trained
on them only.

Paper defaults: MNIST ε = 0.3, 40 steps of 0.01; CIFAR-10 ε = 8/255, 7 steps of 2/255.
Zoo defaults (deviations for the CPU budget): ε = 0.1 (Fashion-MNIST), **5 steps** of
α = 2.5·ε/5 = 0.05 (the paper's rule of thumb α = 2.5ε/steps), random start; the attack runs
with the model in eval mode (batch norm on running statistics). Cost: 6 passes per step.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from core.attacks.base import ThreatModel
from core.attacks.pgd import PGD
from core.models.zoo.net import ZooClassifier
from core.train.common import EPS, Recipe, eval_mode


def pgd_examples(model: ZooClassifier, x: torch.Tensor, y: torch.Tensor, gen: torch.Generator,
                 eps: float, steps: int, step: float | None = None) -> torch.Tensor:
    """PGD-``steps`` L∞ adversarial examples of a training batch (model switched to eval)."""
    threat = ThreatModel(norm="linf", eps=eps, step=step if step is not None else 2.5 * eps / steps,
                         steps=steps, random_start=True)
    seed = int(torch.randint(0, 2**31 - 1, (1,), generator=gen))
    with eval_mode(model):
        x_adv, _ = PGD(threat).perturb(model, x, y, seed=seed)
    return x_adv.detach()


class PGDAT(Recipe):
    key = "pgd_at"

    def __init__(self, eps: float = EPS, steps: int = 5, step: float | None = None) -> None:
        self.eps, self.steps = float(eps), int(steps)
        self.step = float(step) if step is not None else 2.5 * self.eps / self.steps

    def params(self) -> dict:
        return {"eps": self.eps, "steps": self.steps, "step": self.step, "random_start": True}

    def passes_per_step(self) -> float:
        return self.steps + 1.0

    def loss(self, model: ZooClassifier, x: torch.Tensor, y: torch.Tensor, idx: torch.Tensor,
             gen: torch.Generator) -> tuple[torch.Tensor, dict[str, float]]:
        x_adv = pgd_examples(model, x, y, gen, self.eps, self.steps, self.step)
        logits = model(x_adv)
        return F.cross_entropy(logits, y), {"correct": float((logits.argmax(1) == y).sum())}
