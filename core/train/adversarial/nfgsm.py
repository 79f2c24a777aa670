"""N-FGSM adversarial training (de Jorge, Bibi, Volpi, Sanyal, Torr, Rogez, Dokania, "Make Some
Noise: Reliable and Efficient Single-Step Adversarial Training", NeurIPS 2022;
``pdejorge/N-FGSM: train.py``).

x_η = clip(x + η), η ~ U(−kε, kε);  x' = clip(x_η + α·sign(∇ CE(f(x_η), y)));  train on CE(f(x'), y).
No projection back to the ε-ball (the perturbation may reach (k + 1)·ε); the perturbation is
:class:`core.attacks.nfgsm.NFGSM` (model in eval mode while it is generated).

Paper defaults: k = 2, α = ε, no clipping, 30 epochs with a cyclic learning rate (max 0.2),
weight decay 5e-4. Zoo defaults: k = 2, α = ε = 0.1, no clipping; the zoo's shared budget
(3 epochs, one-cycle learning rate with peak 0.1). Cost: 2 passes per step.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from core.attacks.base import ThreatModel
from core.attacks.nfgsm import NFGSM as NFGSMAttack
from core.models.zoo.net import ZooClassifier
from core.train.common import EPS, Recipe, eval_mode


class NFGSM(Recipe):
    key = "nfgsm"

    def __init__(self, eps: float = EPS, k: float = 2.0, alpha: float | None = None) -> None:
        self.eps, self.k = float(eps), float(k)
        self.alpha = float(alpha) if alpha is not None else self.eps

    def params(self) -> dict:
        return {"eps": self.eps, "k": self.k, "alpha": self.alpha, "clip_to_eps": False}

    def passes_per_step(self) -> float:
        return 2.0

    def loss(self, model: ZooClassifier, x: torch.Tensor, y: torch.Tensor, idx: torch.Tensor,
             gen: torch.Generator) -> tuple[torch.Tensor, dict[str, float]]:
        attack = NFGSMAttack(ThreatModel(norm="linf", eps=self.eps, step=self.alpha, steps=1), k=self.k, alpha=self.alpha)
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=gen))
        with eval_mode(model):
            x_adv, _ = attack.perturb(model, x, y, seed=seed)
        logits = model(x_adv.detach())
        return F.cross_entropy(logits, y), {"correct": float((logits.argmax(1) == y).sum())}
