"""TRADES-KL attack: the inner maximisation of TRADES used as an attack (Zhang, Yu, Jiao, Xing,
El Ghaoui, Jordan, "Theoretically Principled Trade-off between Robustness and Accuracy", ICML
2019; ``yaodongyu/TRADES: trades.py``).

x'₀ = x + 0.001·N(0, I);  x' ← Π_{B(x, ε) ∩ [0,1]}(x' + α·sign(∇_{x'} KL(p(x) ‖ p(x')))).

The clean distribution p(x) is computed once, without gradient. The attack is **label-free**: it
pushes the prediction away from the model's own clean distribution, whatever the label. The
logged objective is the per-example KL(p(x) ‖ p(x')) (nats).

Paper defaults (CIFAR-10): ε = 0.031, α = 0.007, 10 steps, start noise 0.001. App defaults (CPU):
ε = 8/255, α = 2/255, 10 steps, start noise 0.001.

Deviations and extensions:

* The noisy start is projected onto the ε-ball and the [0, 1] box (the paper's code evaluates the
  unclipped start once). The noise is always used, whatever ``threat.random_start`` says: at
  x' = x the gradient of the KL is exactly zero, so the attack could not move.
* Targeted goals (a chosen or the least likely class) have no KL form; for them the attack
  ascends the standard targeted objective −CE(f(x'), t) instead, with the same start and steps.
* L2 (not in the paper's text, but in its code as ``distance='l_2'``): steps
  α·∇/‖∇‖₂ and projection onto the L2 ball, as in :mod:`core.attacks.pgd`.
* ``threat.restarts`` > 1 repeats the attack from fresh noise and keeps, per example, the
  restart whose final iterate has the highest objective (one extra forward pass per restart).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from core.attacks.base import (Attack, Recorder, ThreatModel, ascent_direction, attack_objective,
                               project)


def kl_to_clean(clean_log_probs: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """Per-example KL(p_clean ‖ softmax(logits)) in nats, shape (N,)."""
    log_q = F.log_softmax(logits, dim=1)
    return (clean_log_probs.exp() * (clean_log_probs - log_q)).sum(1)


class TradesKL(Attack):
    name = "TRADES-KL"
    paper = "Zhang et al., ICML 2019"
    summary = ("Ignores the label and pushes the model's whole probability distribution away "
                 "from its prediction on the clean image (maximising the KL divergence), in PGD steps.")

    def __init__(self, threat: ThreatModel | None = None, *, init_std: float = 0.001) -> None:
        super().__init__(threat)
        if not (math.isfinite(init_std) and init_std > 0):
            raise ValueError(f"init_std must be a finite number > 0, not {init_std!r}")
        self.init_std = float(init_std)

    def params(self) -> dict:
        return {"init_std": self.init_std}

    def _objective(self, logits: torch.Tensor, clean_lp: torch.Tensor, y: torch.Tensor,
                   targets: torch.Tensor | None) -> torch.Tensor:
        if targets is None:
            return kl_to_clean(clean_lp, logits)
        return attack_objective(logits, y, targets)

    def _perturb(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, targets: torch.Tensor | None,
                 gen: torch.Generator, rec: Recorder) -> torch.Tensor:
        tm = self.threat
        with torch.no_grad():
            clean_lp = F.log_softmax(model(x), dim=1)
        best = x.clone()
        best_obj = torch.full((x.shape[0],), -float("inf"), device=x.device)
        for _ in range(tm.restarts):
            noise = torch.randn(x.shape, generator=gen, device=x.device, dtype=x.dtype) * self.init_std
            delta = project(noise, x, tm.norm, tm.eps)
            for _ in range(tm.steps):
                delta.requires_grad_(True)
                x_it = x + delta
                logits = model(x_it)
                obj = self._objective(logits, clean_lp, y, targets)
                (grad,) = torch.autograd.grad(obj.sum(), delta)
                rec.log(logits, obj, x_it)
                delta = project(delta.detach() + tm.step * ascent_direction(grad, tm.norm), x, tm.norm, tm.eps)
            if tm.restarts == 1:
                return x + delta
            with torch.no_grad():
                obj = self._objective(model(x + delta), clean_lp, y, targets)
            better = obj > best_obj
            best[better] = (x + delta)[better]
            best_obj = torch.where(better, obj, best_obj)
        return best
