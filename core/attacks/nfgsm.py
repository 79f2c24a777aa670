"""N-FGSM, "noisy FGSM" (de Jorge, Bibi, Volpi, Sanyal, Torr, Rogez, Dokania, "Make Some Noise:
Reliable and Efficient Single-Step Adversarial Training", NeurIPS 2022; ``pdejorge/N-FGSM:
train.py``).

η ~ U(−kε, kε)^d, x_η = clip_[0,1](x + η);  x' = clip_[0,1](x_η + α·sign(∇ₓ L(f(x_η), y))).

Paper defaults (its purpose is adversarial *training*, CIFAR-10): ε = 8/255, k = 2, α = ε, no
projection back to the ε-ball (``--clip -1``). App defaults (CPU): the same, ε = 8/255, k = 2,
α = ε; one gradient, so ``total_steps() == 1``.

**This is a training perturbation, not an ε-bounded attack.** By default only the [0, 1] box is
enforced, so ‖x' − x‖∞ can reach (k + 1)·ε = 3ε, and a comparison with ε-bounded attacks is not
fair. ``clip_to_eps=True`` projects the result onto the L∞ ε-ball (then the box), which makes the
comparison fair (the paper's code has a ``--clip`` option for this, off by default).

L∞ only. ``threat.step``, ``steps``, ``restarts`` and ``random_start`` are ignored: the noise is
part of the method and the step is ``alpha`` (ε when not given). Targeted goals descend the
cross-entropy of the target class, as in :func:`core.attacks.base.attack_objective`. The logged
step is the noisy point x_η where the gradient is taken.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from core.attacks.base import Attack, Recorder, ThreatModel, attack_objective, project


class NFGSM(Attack):
    name = "N-FGSM"
    paper = "de Jorge et al., NeurIPS 2022"
    summary = ("A training perturbation: add strong random noise (±2ε), then one FGSM step of ε. "
                 "It may move pixels by up to 3ε unless 'clip to ε' is on, so it is not a fair "
                 "ε-bounded attack by default.")
    norms = ("linf",)

    def __init__(self, threat: ThreatModel | None = None, *, k: float = 2.0, alpha: float | None = None,
                 clip_to_eps: bool = False) -> None:
        super().__init__(threat)
        if not (math.isfinite(k) and k >= 0):
            raise ValueError(f"noise multiplier k must be a finite number >= 0, not {k!r}")
        if alpha is not None and not (math.isfinite(alpha) and alpha >= 0):
            raise ValueError(f"alpha must be a finite number >= 0, not {alpha!r}")
        self.k = float(k)
        self.alpha = None if alpha is None else float(alpha)
        self.clip_to_eps = bool(clip_to_eps)

    def total_steps(self) -> int:
        return 1

    @property
    def step_size(self) -> float:
        return self.threat.eps if self.alpha is None else self.alpha

    def max_linf(self) -> float:
        """The largest ‖x' − x‖∞ this configuration can produce."""
        return self.threat.eps if self.clip_to_eps else self.k * self.threat.eps + self.step_size

    def params(self) -> dict:
        return {"k": self.k, "alpha": self.step_size, "clip_to_eps": self.clip_to_eps}

    def _perturb(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, targets: torch.Tensor | None,
                 gen: torch.Generator, rec: Recorder) -> torch.Tensor:
        eps = self.threat.eps
        u = torch.rand(x.shape, generator=gen, device=x.device, dtype=x.dtype)
        x_noisy = (x + (2 * u - 1) * (self.k * eps)).clamp(0, 1)
        x_it = x_noisy.clone().requires_grad_(True)
        logits = model(x_it)
        obj = attack_objective(logits, y, targets)
        (grad,) = torch.autograd.grad(obj.sum(), x_it)
        rec.log(logits, obj, x_noisy)
        x_adv = x_noisy + self.step_size * grad.sign()
        if self.clip_to_eps:
            return x + project(x_adv - x, x, "linf", eps)
        return x_adv.clamp(0, 1)
