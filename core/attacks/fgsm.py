"""Fast Gradient Sign Method (Goodfellow, Shlens, Szegedy, "Explaining and Harnessing
Adversarial Examples", ICLR 2015).

x' = clip(x + ε·sign(∇ₓ L)) for L∞; the L2 variant steps ε along ∇/‖∇‖₂. One gradient, no
random start (``threat.steps``, ``step`` and ``random_start`` are ignored). Targeted goals
descend the loss of the target class. Accepts a per-example ε (``eps_per_example``, for
robustness curves): row i moves by ε_i along its own gradient direction.
"""
from __future__ import annotations

import torch
from torch import nn

from core.attacks.base import Attack, Recorder, ascent_direction, attack_objective, project


class FGSM(Attack):
    name = "FGSM"
    paper = "Goodfellow et al., ICLR 2015"
    summary = ("One step: nudge every pixel by ε in the direction that raises the model's loss the "
                 "fastest. Cheap and often enough to fool an undefended model.")
    per_example_eps = True

    def total_steps(self) -> int:
        return 1

    def _perturb(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, targets: torch.Tensor | None,
                 gen: torch.Generator, rec: Recorder) -> torch.Tensor:
        x_it = x.clone().requires_grad_(True)
        logits = model(x_it)
        obj = attack_objective(logits, y, targets)
        (grad,) = torch.autograd.grad(obj.sum(), x_it)
        rec.log(logits, obj, x)
        eps = self.eps  # threat.eps, or the per-example (N, 1, 1, 1) budgets
        delta = eps * ascent_direction(grad, self.threat.norm)
        return x + project(delta, x, self.threat.norm, eps)
