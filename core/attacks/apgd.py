"""Auto-PGD with the cross-entropy or the DLR loss (Croce & Hein, "Reliable evaluation of
adversarial robustness with an ensemble of diverse parameter-free attacks", ICML 2020;
``fra31/auto-attack: autoattack/autopgd_base.py``).

PGD without a step-size parameter. From x⁽⁰⁾, with η⁽⁰⁾ = 2ε (L∞ and L2):

    z⁽ᵏ⁺¹⁾ = Π(x⁽ᵏ⁾ + η·s(∇f(x⁽ᵏ⁾)))                         s = sign (L∞) or ∇/‖∇‖₂ (L2)
    x⁽ᵏ⁺¹⁾ = Π(x⁽ᵏ⁾ + α(z⁽ᵏ⁺¹⁾ − x⁽ᵏ⁾) + (1 − α)(x⁽ᵏ⁾ − x⁽ᵏ⁻¹⁾))   α = 0.75 (1 at the first step)

Π projects onto the ε-ball, then onto the [0, 1] box. At the checkpoints w_j = ⌈p_j·N⌉, with
p₀ = 0, p₁ = 0.22, p_{j+1} = p_j + max(p_j − p_{j−1} − 0.03, 0.06) (see :func:`apgd_checkpoints`),
the step size of an example is halved, and its iterate restarts from its best point, if

    (i)  the objective increased in fewer than ρ·(w_j − w_{j−1}) of the steps since w_{j−1}, or
    (ii) η was not halved at w_{j−1} and the best objective has not improved since w_{j−1}.

The best (highest-objective) point of each example is tracked over all iterates, the final one
included, and returned.

Losses (``loss=``): ``"ce"``: untargeted CE(f(x), y); targeted −CE(f(x), t).
``"dlr"``: untargeted −(z_y − max_{i≠y} z_i)/(z_π1 − z_π3 + 1e-12); targeted
−(z_y − z_t)/(z_π1 − (z_π3 + z_π4)/2 + 1e-12), z sorted in descending order as π (the paper's
targeted DLR). DLR needs at least 3 classes (4 when targeted). Every loss is ascended.

Random start (``threat.random_start``): x⁽⁰⁾ = clip_[0,1](x + ε·t/‖t‖), t uniform in [−1, 1]^d
(‖·‖∞) for L∞, Gaussian (‖·‖₂) for L2. Without it, x⁽⁰⁾ = x.

Paper defaults: N = 100 iterations, ρ = 0.75, α = 0.75, η⁽⁰⁾ = 2ε, 1 restart (5 in the paper's
APGD experiments). App defaults (CPU): N = ``threat.steps`` = 20, otherwise the same.

Deviations and choices:

* ``threat.step`` is ignored (the step size is adaptive, starting at 2ε); ``threat.steps`` is N.
* N counts gradient evaluations (x⁽⁰⁾ … x⁽ᴺ⁻¹⁾, one logged step each); the final iterate x⁽ᴺ⁾
  gets one extra forward pass so that it can be the best point. A checkpoint at w_j ≥ N would have
  no effect and is dropped; duplicate checkpoints of a small N are merged.
* Checkpoints follow the paper's ⌈p_j·N⌉. The authors' code uses integer interval lengths
  (⌊0.22N⌋, shrinking by ⌊0.03N⌋ down to ⌊0.06N⌋), which agrees for N = 100 but not for small N.
* Condition (i) uses the paper's strict "fewer than ρ·h" (the code reduces at "≤ ρ·h"), and
  condition (ii) applies at the first checkpoint too, taking w₀ = 0 as "not halved".
* When an example restarts from its best point, it reuses the gradient stored with that point.
* Targeted DLR is the paper's: it lifts z_t above z_y (the true class), which does not always
  make t the top class (AutoAttack's APGD-T uses it to find *any* misclassification). To reach a
  chosen class, APGD-CE (−CE of the target) is the better tool.
* ``last_step_sizes`` keeps the per-step η of the last call, for display.
* ``threat.restarts`` > 1 repeats the attack from fresh random starts and keeps, per example,
  the point with the highest objective.
* Per-example ε (``eps_per_example``, for robustness curves): row i runs with ε_i and
  η⁽⁰⁾ = 2ε_i; with ``shared_start`` every row starts from the same unit noise t (scaled by ε_i).
"""
from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from core.attacks.base import (Attack, Recorder, ThreatModel, ascent_direction, attack_objective,
                               project)

ApgdLoss = Literal["ce", "dlr"]


def apgd_checkpoints(n_iter: int) -> list[int]:
    """The APGD checkpoints w_j = ⌈p_j·N⌉ below ``n_iter`` (0 first), from the paper's
    p₀ = 0, p₁ = 0.22, p_{j+1} = p_j + max(p_j − p_{j−1} − 0.03, 0.06).

    Computed in exact integer hundredths, so that e.g. 0.41·100 is 41 and not 42.
    For N = 100: [0, 22, 41, 57, 70, 80, 87, 93, 99].
    """
    if not (isinstance(n_iter, int) and n_iter >= 1):
        raise ValueError(f"n_iter must be a positive integer, not {n_iter!r}")
    ps = [0]
    prev, p = 0, 22
    while p <= 100:
        ps.append(p)
        prev, p = p, p + max(p - prev - 3, 6)
    out: list[int] = []
    for q in ps:
        w = -(-q * n_iter // 100)  # ceil(q * n_iter / 100)
        if w < n_iter and (not out or w > out[-1]):
            out.append(w)
    return out


def dlr_loss(logits: torch.Tensor, labels: torch.Tensor, targets: torch.Tensor | None = None) -> torch.Tensor:
    """Per-example Difference-of-Logits-Ratio loss (Croce & Hein 2020), to be ascended.

    Untargeted: −(z_y − max_{i≠y} z_i)/(z_π1 − z_π3 + 1e-12).
    Targeted:   −(z_y − z_t)/(z_π1 − (z_π3 + z_π4)/2 + 1e-12).
    """
    c = logits.shape[1]
    if c < (4 if targets is not None else 3):
        raise ValueError(f"the DLR loss needs at least {4 if targets is not None else 3} classes, got {c}")
    z_sorted = logits.sort(dim=1, descending=True).values
    z_y = logits.gather(1, labels[:, None])[:, 0]
    if targets is None:
        mask = F.one_hot(labels, c).bool()
        z_other = logits.masked_fill(mask, float("-inf")).amax(1)
        return -(z_y - z_other) / (z_sorted[:, 0] - z_sorted[:, 2] + 1e-12)
    z_t = logits.gather(1, targets[:, None])[:, 0]
    return -(z_y - z_t) / (z_sorted[:, 0] - 0.5 * (z_sorted[:, 2] + z_sorted[:, 3]) + 1e-12)


def apgd_should_halve(window: torch.Tensor, rho: float, best: torch.Tensor, best_at_last_check: torch.Tensor,
                      halved_at_last_check: torch.Tensor) -> torch.Tensor:
    """APGD's decision at a checkpoint w_j, per example (bool, shape (N,)).

    ``window`` holds the objective values f(x⁽ʷʲ⁻¹⁾), …, f(x⁽ʷʲ⁾), shape (h + 1, N) with
    h = w_j − w_{j−1}. Halve if (i) the objective increased in fewer than ρ·h of those h steps, or
    (ii) the step was not halved at w_{j−1} and the best objective has not improved since then.
    """
    h = window.shape[0] - 1
    increases = (window[1:] > window[:-1]).sum(0)
    cond1 = increases < rho * h
    cond2 = ~halved_at_last_check & (best <= best_at_last_check)
    return cond1 | cond2


def _bcast(mask: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return mask.view(-1, *([1] * (like.dim() - 1)))


class APGD(Attack):
    name = "APGD"
    paper = "Croce & Hein, ICML 2020"
    per_example_eps = True

    def __init__(self, threat: ThreatModel | None = None, *, loss: ApgdLoss = "ce", rho: float = 0.75,
                 momentum: float = 0.75) -> None:
        super().__init__(threat)
        if loss not in ("ce", "dlr"):
            raise ValueError(f"loss must be 'ce' or 'dlr', not {loss!r}")
        if not (math.isfinite(rho) and 0 < rho <= 1):
            raise ValueError(f"rho must be in (0, 1], not {rho!r}")
        if not (math.isfinite(momentum) and 0 <= momentum <= 1):
            raise ValueError(f"momentum must be in [0, 1], not {momentum!r}")
        self.loss = loss
        self.rho = float(rho)
        self.momentum = float(momentum)
        # Diagnostic of the last call: the step size η of every example at every step (one (N,)
        # CPU tensor per logged step, restarts included), e.g. to plot the schedule.
        self.last_step_sizes: list[torch.Tensor] = []

    def params(self) -> dict:
        return {"loss": self.loss, "rho": self.rho, "momentum": self.momentum, "eta0": 2 * self.threat.eps,
                "checkpoints": apgd_checkpoints(self.threat.steps)}

    def objective(self, logits: torch.Tensor, y: torch.Tensor, targets: torch.Tensor | None) -> torch.Tensor:
        """The per-example loss this APGD ascends."""
        if self.loss == "dlr":
            return dlr_loss(logits, y, targets)
        return attack_objective(logits, y, targets)

    def _start(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        tm = self.threat
        if not tm.random_start:
            return x.clone()
        eps = self.eps
        shape = (1, *x.shape[1:]) if self._shared_start else x.shape
        if tm.norm == "linf":
            t = torch.rand(shape, generator=gen, device=x.device, dtype=x.dtype) * 2 - 1
            n = t.flatten(1).abs().amax(1)
        else:
            t = torch.randn(shape, generator=gen, device=x.device, dtype=x.dtype)
            n = t.flatten(1).norm(dim=1)
        t = t / _bcast(n.clamp_min(1e-12), t)
        return x + project(eps * t, x, tm.norm, eps)

    def _single_run(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, targets: torch.Tensor | None,
                    gen: torch.Generator, rec: Recorder) -> tuple[torch.Tensor, torch.Tensor]:
        """One APGD run: the best point per example and its objective."""
        tm = self.threat
        n_iter = tm.steps
        checkpoints = set(apgd_checkpoints(n_iter)[1:])
        eps = self.eps  # threat.eps, or the per-example (N, 1, 1, 1) budgets

        def proj(v: torch.Tensor) -> torch.Tensor:
            return x + project(v - x, x, tm.norm, eps)

        x_k = self._start(x, gen)
        x_prev = x_k
        if torch.is_tensor(eps):
            eta = 2 * eps.reshape(-1)
        else:
            eta = torch.full((x.shape[0],), 2 * tm.eps, device=x.device, dtype=x.dtype)
        best_loss = torch.full((x.shape[0],), -float("inf"), device=x.device)
        x_best = x_k.clone()
        grad_best = torch.zeros_like(x)
        losses: list[torch.Tensor] = []
        step_sizes = self.last_step_sizes
        last_ck = 0
        best_at_last_ck = best_loss
        halved_at_last_ck = torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)

        for i in range(n_iter):
            x_k = x_k.detach().requires_grad_(True)
            logits = model(x_k)
            loss = self.objective(logits, y, targets)
            (grad,) = torch.autograd.grad(loss.sum(), x_k)
            rec.log(logits, loss, x_k)
            x_k, loss = x_k.detach(), loss.detach().float()
            losses.append(loss)

            improved = loss > best_loss
            x_best = torch.where(_bcast(improved, x), x_k, x_best)
            grad_best = torch.where(_bcast(improved, x), grad, grad_best)
            best_loss = torch.where(improved, loss, best_loss)
            if i == 0:
                best_at_last_ck = best_loss.clone()

            if i in checkpoints:
                halve = apgd_should_halve(torch.stack(losses[last_ck:i + 1]), self.rho, best_loss,
                                          best_at_last_ck, halved_at_last_ck)
                eta = torch.where(halve, eta / 2, eta)
                x_k = torch.where(_bcast(halve, x), x_best, x_k)
                grad = torch.where(_bcast(halve, x), grad_best, grad)
                halved_at_last_ck = halve
                best_at_last_ck = best_loss.clone()
                last_ck = i

            step_sizes.append(eta.detach().cpu())
            a = 1.0 if i == 0 else self.momentum
            with torch.no_grad():
                z = proj(x_k + _bcast(eta, x) * ascent_direction(grad, tm.norm))
                x_next = proj(x_k + a * (z - x_k) + (1 - a) * (x_k - x_prev))
            x_prev, x_k = x_k, x_next

        with torch.no_grad():
            loss = self.objective(model(x_k), y, targets).float()
        improved = loss > best_loss
        x_best = torch.where(_bcast(improved, x), x_k, x_best)
        best_loss = torch.where(improved, loss, best_loss)
        return x_best, best_loss

    def _perturb(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, targets: torch.Tensor | None,
                 gen: torch.Generator, rec: Recorder) -> torch.Tensor:
        self.last_step_sizes = []
        best, best_loss = self._single_run(model, x, y, targets, gen, rec)
        for _ in range(self.threat.restarts - 1):
            xb, lb = self._single_run(model, x, y, targets, gen, rec)
            better = lb > best_loss
            best = torch.where(_bcast(better, x), xb, best)
            best_loss = torch.where(better, lb, best_loss)
        return best


class APGDCE(APGD):
    """APGD with the cross-entropy loss (AutoAttack's first attack)."""

    name = "APGD-CE"
    summary = ("PGD that tunes its own step size: it starts large, halves it when progress stalls and "
               "restarts from the best point found, with momentum. No step size to choose.")

    def __init__(self, threat: ThreatModel | None = None, **kwargs) -> None:
        if "loss" in kwargs:
            raise TypeError("APGD-CE fixes loss='ce'; use APGD(loss=...) to choose")
        super().__init__(threat, loss="ce", **kwargs)


class APGDDLR(APGD):
    """APGD with the DLR loss (invariant to shifting and rescaling the logits)."""

    name = "APGD-DLR"
    summary = ("Auto-PGD on the DLR loss, a margin between the true class and the runner-up that does "
               "not care how the logits are scaled, so it still works when cross-entropy saturates. "
               "With a target it lifts the target above the true class, which does not always make "
               "the target the top class.")

    def __init__(self, threat: ThreatModel | None = None, **kwargs) -> None:
        if "loss" in kwargs:
            raise TypeError("APGD-DLR fixes loss='dlr'; use APGD(loss=...) to choose")
        super().__init__(threat, loss="dlr", **kwargs)
