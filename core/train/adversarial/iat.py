"""Interpolated adversarial training, IAT (Lamb, Verma, Kannala, Bengio, "Interpolated Adversarial
Training: Achieving Robust Neural Networks without Sacrificing Too Much Accuracy", AISec 2019,
arXiv 1906.06784).

Algorithm 1 of the paper, with input mixup (Zhang et al., "mixup", ICLR 2018) as the interpolation:

    x_adv = PGD(x, y)
    (x̃, y_a, y_b, λ)     = mixup(x, y)        λ ~ Beta(α, α), x̃ = λ·x + (1 − λ)·x[π]
    (x̃_adv, y'_a, y'_b, λ') = mixup(x_adv, y)  (an independent λ' and permutation π')
    L = ½ [ λ·CE(f(x̃), y_a) + (1 − λ)·CE(f(x̃), y_b) ] + ½ [ λ'·CE(f(x̃_adv), y'_a) + (1 − λ')·CE(f(x̃_adv), y'_b) ]

"Half clean, half adversarial": the loss gives the mixed clean batch and the mixed adversarial
batch equal weight, as the paper's ½(L_clean + L_adv); both are the whole batch (the paper's
algorithm), not two halves of it. The adversarial examples are made on the *unmixed* images
and then mixed, as in the algorithm.

Paper defaults: CIFAR-10 / SVHN, PreAct-ResNet18, PGD-7 at ε = 8/255 (step 2/255), 200 epochs;
input mixup with α = 1.0 (mixup's own CIFAR-10 value; the paper's manifold-mixup variant uses
α = 2.0). One λ per batch (mixup's reference code). Published: CIFAR-10 clean error 12.32 % with
PGD adversarial training against 6.45 % with IAT (input mixup), with similar PGD robustness.

Zoo defaults and deviations: the shared budget (:class:`core.train.common.TrainConfig`), ε = 0.1,
PGD-**5** of 2.5·ε/5 = 0.05 with a random start (the zoo's PGD-AT, :mod:`core.train.adversarial.pgd_at`),
α = 1.0; only input mixup (no manifold mixup). λ ~ Beta(1, 1) is drawn as a uniform number from
the training generator (Beta(α, α) for other α through numpy seeded from that generator), so
training stays deterministic. Cost: 5 attack passes + 2 training passes = 7 per step.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from core.models.zoo.net import ZooClassifier
from core.train.common import EPS, Recipe
from core.train.adversarial.pgd_at import pgd_examples


def mixup_lambda(alpha: float, gen: torch.Generator) -> float:
    """λ ~ Beta(α, α) from ``gen`` (α = 1: uniform on [0, 1]); α = 0 gives λ = 1 (no mixing)."""
    if alpha <= 0:
        return 1.0
    if alpha == 1.0:
        return float(torch.rand((), generator=gen))
    seed = int(torch.randint(0, 2**31 - 1, (1,), generator=gen))
    return float(np.random.default_rng(seed).beta(alpha, alpha))


def mixup(x: torch.Tensor, y: torch.Tensor, lam: float, perm: torch.Tensor
          ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(λ·x + (1 − λ)·x[perm], y, y[perm])."""
    return lam * x + (1.0 - lam) * x[perm], y, y[perm]


def mixup_loss(logits: torch.Tensor, y_a: torch.Tensor, y_b: torch.Tensor, lam: float) -> torch.Tensor:
    """λ·CE(logits, y_a) + (1 − λ)·CE(logits, y_b) (batch means): cross-entropy against the mixed label."""
    return lam * F.cross_entropy(logits, y_a) + (1.0 - lam) * F.cross_entropy(logits, y_b)


class IAT(Recipe):
    key = "iat"

    def __init__(self, eps: float = EPS, steps: int = 5, step: float | None = None, alpha: float = 1.0) -> None:
        self.eps, self.steps, self.alpha = float(eps), int(steps), float(alpha)
        self.step = float(step) if step is not None else 2.5 * self.eps / self.steps

    def params(self) -> dict:
        return {"eps": self.eps, "steps": self.steps, "step": self.step, "random_start": True,
                "mixup_alpha": self.alpha, "mixup": "input mixup, one λ per batch, independent draws for the "
                                                  "clean and the adversarial batch",
                "loss": "½·mixup-CE(clean) + ½·mixup-CE(PGD)"}

    def passes_per_step(self) -> float:
        return self.steps + 2.0

    def draw(self, n: int, gen: torch.Generator) -> tuple[float, torch.Tensor]:
        """One mixup draw: (λ, permutation of the batch)."""
        lam = mixup_lambda(self.alpha, gen)
        return lam, torch.randperm(n, generator=gen)

    def loss(self, model: ZooClassifier, x: torch.Tensor, y: torch.Tensor, idx: torch.Tensor,
             gen: torch.Generator) -> tuple[torch.Tensor, dict[str, float]]:
        x_adv = pgd_examples(model, x, y, gen, self.eps, self.steps, self.step)
        lam, perm = self.draw(len(y), gen)
        lam_a, perm_a = self.draw(len(y), gen)
        perm, perm_a = perm.to(x.device), perm_a.to(x.device)
        xm, ya, yb = mixup(x, y, lam, perm)
        xam, yaa, yab = mixup(x_adv, y, lam_a, perm_a)
        logits, logits_adv = model(xm), model(xam)
        clean_l, adv_l = mixup_loss(logits, ya, yb, lam), mixup_loss(logits_adv, yaa, yab, lam_a)
        correct = lam_a * (logits_adv.argmax(1) == yaa).sum() + (1 - lam_a) * (logits_adv.argmax(1) == yab).sum()
        return 0.5 * (clean_l + adv_l), {"correct": float(correct), "clean_mix": float(clean_l.detach()),
                                         "adv_mix": float(adv_l.detach()), "lambda": lam}
