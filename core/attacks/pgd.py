"""Projected Gradient Descent (Madry, Makelov, Schmidt, Tsipras, Vladu, "Towards Deep Learning
Models Resistant to Adversarial Attacks", ICLR 2018).

L∞: δ₀ ~ U(−ε, ε); δ ← Π(δ + α·sign(∇)).  L2: random direction with radius r·ε, r ~ U(0, 1);
δ ← Π(δ + α·∇/‖∇‖₂).  Π projects onto the ε-ball and then onto the [0, 1] box.
Paper defaults (CIFAR, ``MadryLab/cifar10_challenge``): ε = 8/255, α = 2/255, 10 steps, random
start. App defaults (ImageNet size, CPU): ε = 4/255, α = 1/255, 10 steps, 1 restart.
Restarts keep, per image, the restart whose final iterate has the highest objective (one extra
forward pass per restart when ``restarts > 1``).
Per-example ε and α (``eps_per_example``/``step_per_example``, for robustness curves) are
supported; with ``shared_start`` every row starts from the same unit noise scaled by its ε.
"""
from __future__ import annotations

import torch
from torch import nn

from core.attacks.base import (Attack, Recorder, ascent_direction, attack_objective, project,
                               random_start)


class PGD(Attack):
    name = "PGD"
    paper = "Madry et al., ICLR 2018"
    summary = ("FGSM repeated in small steps, pulled back into the allowed ε-ball after each step, "
                 "from a random start. The standard strong first-order attack.")
    per_example_eps = True

    def _perturb(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, targets: torch.Tensor | None,
                 gen: torch.Generator, rec: Recorder) -> torch.Tensor:
        tm = self.threat
        eps, step = self.eps, self.step  # numbers, or per-example (N, 1, 1, 1) tensors
        best = x.clone()
        best_obj = torch.full((x.shape[0],), -float("inf"), device=x.device)
        for _ in range(tm.restarts):
            delta = random_start(x, tm.norm, eps, gen, shared=self._shared_start) if tm.random_start \
                else torch.zeros_like(x)
            for _ in range(tm.steps):
                delta.requires_grad_(True)
                x_it = x + delta
                logits = model(x_it)
                obj = attack_objective(logits, y, targets)
                (grad,) = torch.autograd.grad(obj.sum(), delta)
                rec.log(logits, obj, x_it)
                delta = project(delta.detach() + step * ascent_direction(grad, tm.norm), x, tm.norm, eps)
            if tm.restarts == 1:
                return x + delta
            with torch.no_grad():
                obj = attack_objective(model(x + delta), y, targets)
            better = obj > best_obj
            best[better] = (x + delta)[better]
            best_obj = torch.where(better, obj, best_obj)
        return best
