"""Dense APGD: Auto-PGD's step-size control on the mean per-pixel cross-entropy.

Croce & Hein, *Reliable evaluation of adversarial robustness with an ensemble of diverse
parameter-free attacks*, ICML 2020 (the classifier version is :mod:`core.attacks.apgd`, whose
checkpoints ``apgd_checkpoints`` and halving rule ``apgd_should_halve`` are reused here). The
objective is the dense one of :mod:`core.attacks.dense.pgd` (mean per-pixel CE to the reference,
or −CE to a target map), per image; from η⁽⁰⁾ = 2ε:

    z = Π(x⁽ᵏ⁾ + η·sign(∇)),  x⁽ᵏ⁺¹⁾ = Π(x⁽ᵏ⁾ + α(z − x⁽ᵏ⁾) + (1 − α)(x⁽ᵏ⁾ − x⁽ᵏ⁻¹⁾)),  α = 0.75,

and at each checkpoint an image's η is halved and its iterate restarts from its best-objective
point when the objective rose in fewer than ρ = 0.75 of the steps since the last checkpoint, or
the best objective did not improve and η was not halved there. Deviations: which iterate is
*returned* is the one with the lowest per-image mIoU (targeted: most target pixels) over all
iterates (:class:`core.attacks.dense.common.BestTracker`), while the restarts use the best
objective, as in the paper; ``threat.step`` is ignored. Defaults (CPU): N = ``threat.steps`` = 10.
"""
from __future__ import annotations

import torch
from torch import nn

from core.attacks.apgd import apgd_checkpoints, apgd_should_halve
from core.attacks.base import ThreatModel, ascent_direction, project, random_start
from core.attacks.dense.common import BestTracker, DenseAttackResult, Regularizer
from core.attacks.dense.pgd import DEFAULT_THREAT, DensePGD, run_dense
from core.runtime.progress import ProgressFn


def _b(mask: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return mask.view(-1, *([1] * (like.dim() - 1)))


class DenseAPGD(DensePGD):
    """APGD step control on the dense objective (see the module docstring)."""

    name = "Dense APGD"
    paper = "Croce & Hein, ICML 2020 (dense objective)"

    def __init__(self, threat: ThreatModel | None = None, *, rho: float = 0.75, momentum: float = 0.75,
                 regularizer: Regularizer | None = None, regularizer_name: str = "") -> None:
        super().__init__(threat or DEFAULT_THREAT, regularizer=regularizer, regularizer_name=regularizer_name)
        self.rho, self.momentum = float(rho), float(momentum)

    def params(self) -> dict:
        return {**super().params(), "rho": self.rho, "momentum": self.momentum}

    def perturb(self, model: nn.Module, x: torch.Tensor, ref: torch.Tensor, target: torch.Tensor | None,
                num_classes: int, *, seed: int = 0, progress: ProgressFn = None) -> tuple[torch.Tensor, list]:
        tm = self.threat
        n_iter = tm.steps
        checkpoints = set(apgd_checkpoints(n_iter)[1:])
        gen = torch.Generator(device=x.device).manual_seed(int(seed))
        tr = BestTracker(x, ref, target, num_classes, n_iter * tm.restarts, progress)

        def proj(v: torch.Tensor) -> torch.Tensor:
            return x + project(v - x, x, tm.norm, tm.eps)

        for _ in range(tm.restarts):
            x_k = x + (random_start(x, tm.norm, tm.eps, gen) if tm.random_start else torch.zeros_like(x))
            x_prev = x_k
            eta = torch.full((x.shape[0],), 2 * tm.eps, device=x.device)
            best_obj = torch.full((x.shape[0],), -float("inf"), device=x.device)
            x_bobj, g_bobj = x_k.clone(), torch.zeros_like(x)
            losses: list[torch.Tensor] = []
            last_ck, best_at_ck = 0, best_obj
            halved_at_ck = torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
            for i in range(n_iter):
                x_k = x_k.detach().requires_grad_(True)
                with torch.enable_grad():
                    logits, obj = self._full_objective(model, x_k, ref, target, i)
                    (g,) = torch.autograd.grad(obj.sum(), x_k)
                tr.update(x_k, logits, obj, step_size=float(eta[0]))
                x_k, obj = x_k.detach(), obj.detach().float()
                losses.append(obj)
                up = obj > best_obj
                x_bobj = torch.where(_b(up, x), x_k, x_bobj)
                g_bobj = torch.where(_b(up, x), g, g_bobj)
                best_obj = torch.where(up, obj, best_obj)
                if i == 0:
                    best_at_ck = best_obj.clone()
                if i in checkpoints:
                    halve = apgd_should_halve(torch.stack(losses[last_ck:i + 1]), self.rho, best_obj, best_at_ck,
                                              halved_at_ck)
                    eta = torch.where(halve, eta / 2, eta)
                    x_k = torch.where(_b(halve, x), x_bobj, x_k)
                    g = torch.where(_b(halve, x), g_bobj, g)
                    halved_at_ck, best_at_ck, last_ck = halve, best_obj.clone(), i
                a = 1.0 if i == 0 else self.momentum
                with torch.no_grad():
                    z = proj(x_k + _b(eta, x) * ascent_direction(g, tm.norm))
                    x_next = proj(x_k + a * (z - x_k) + (1 - a) * (x_k - x_prev))
                x_prev, x_k = x_k, x_next
            with torch.no_grad():
                tr.update(x_k, self._full_objective(model, x_k, ref, target, n_iter)[0],
                          torch.zeros(x.shape[0]), log=False)
        return tr.best, tr.steps

    def run(self, model: nn.Module, x: torch.Tensor, ref: torch.Tensor | None = None,
            target: torch.Tensor | None = None, *, num_classes: int | None = None, seed: int = 0,
            progress: ProgressFn = None) -> DenseAttackResult:
        return run_dense(self, model, x, ref, target, num_classes=num_classes, seed=seed, progress=progress)
