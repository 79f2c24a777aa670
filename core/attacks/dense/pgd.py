"""Dense PGD: projected gradient ascent on the mean per-pixel cross-entropy of a multi-class
segmentation model (untargeted, or targeted: paint one class over a region).

PGD (Madry et al., ICLR 2018) applied to dense prediction as in the semantic-segmentation
attacks of Mao et al., *Robust Perception through Equivariance* (ICML 2023) and of Arnab,
Miksik, Torr, *On the Robustness of Semantic Segmentation Models to Adversarial Attacks*
(CVPR 2018): the loss is the mean over all pixels of the per-pixel CE to the reference labels
(untargeted, ascended) or minus the CE to a target map (targeted).

Steps: δ₀ ~ U(−ε, ε) (random start) or 0; δ ← Π(δ + α·s(∇_δ L)), s = sign (L∞) or the
normalised gradient (L2); Π clips to the ε-ball and the [0, 1] box (:mod:`core.attacks.base`).
Returned: per image, the evaluated iterate (the final one included) with the lowest mIoU against
the reference (targeted: the most target pixels) — :class:`core.attacks.dense.common.BestTracker`;
the reference papers return the final iterate (deviation, as for the person-mask PGD).

Defaults: app (CPU) ε = 4/255, α = 1/255, 10 steps, random start; paper (Cityscapes) 50 steps.
"""
from __future__ import annotations

import time

import torch
from torch import nn

from core.attacks.base import ThreatModel, ascent_direction, project, random_start
from core.attacks.dense.common import (BestTracker, DenseAttackResult, Regularizer, check_dense, dense_logits,
                                       pixel_ce)
from core.runtime.progress import ProgressFn

DEFAULT_THREAT = ThreatModel(norm="linf", eps=4 / 255, step=1 / 255, steps=10, random_start=True)


class DensePGD:
    """PGD on the mean per-pixel cross-entropy (see the module docstring)."""

    name = "Dense PGD"
    paper = "Madry et al., ICLR 2018 (per-pixel CE as in Arnab et al., CVPR 2018)"

    def __init__(self, threat: ThreatModel | None = None, *, regularizer: Regularizer | None = None,
                 regularizer_name: str = "") -> None:
        self.threat = threat or DEFAULT_THREAT
        self.regularizer = regularizer
        self.regularizer_name = regularizer_name

    def params(self) -> dict:
        return {"regularizer": self.regularizer_name} if self.regularizer is not None else {}

    def pixel_weights(self, logits: torch.Tensor, labels: torch.Tensor, t: int,
                      targeted: bool = False) -> torch.Tensor | None:
        """Per-pixel weights of the loss at step ``t`` (None = the plain mean). SegPGD overrides it."""
        return None

    def objective(self, logits: torch.Tensor, ref: torch.Tensor, target: torch.Tensor | None, t: int) -> torch.Tensor:
        """Per-image objective (N,) to ascend at step ``t``."""
        labels = ref if target is None else target
        ce = pixel_ce(logits, labels)
        w = self.pixel_weights(logits, labels, t, target is not None)
        loss = (ce if w is None else ce * w).flatten(1).mean(1)
        return loss if target is None else -loss

    def _full_objective(self, model: nn.Module, x_it: torch.Tensor, ref: torch.Tensor,
                        target: torch.Tensor | None, t: int) -> tuple[torch.Tensor, torch.Tensor]:
        logits = dense_logits(model, x_it)
        obj = self.objective(logits, ref, target, t)
        if self.regularizer is not None:
            obj = obj + self.regularizer(x_it)
        return logits, obj

    def perturb(self, model: nn.Module, x: torch.Tensor, ref: torch.Tensor, target: torch.Tensor | None,
                num_classes: int, *, seed: int = 0, progress: ProgressFn = None) -> tuple[torch.Tensor, list]:
        tm = self.threat
        gen = torch.Generator(device=x.device).manual_seed(int(seed))
        tr = BestTracker(x, ref, target, num_classes, tm.steps * tm.restarts, progress)
        with torch.enable_grad():
            for _ in range(tm.restarts):
                delta = random_start(x, tm.norm, tm.eps, gen) if tm.random_start else torch.zeros_like(x)
                for t in range(tm.steps):
                    delta.requires_grad_(True)
                    logits, obj = self._full_objective(model, x + delta, ref, target, t)
                    (g,) = torch.autograd.grad(obj.sum(), delta)
                    tr.update(x + delta, logits, obj)
                    delta = project(delta.detach() + tm.step * ascent_direction(g, tm.norm), x, tm.norm, tm.eps)
                with torch.no_grad():
                    tr.update(x + delta, dense_logits(model, x + delta), torch.zeros(x.shape[0]), log=False)
        return tr.best, tr.steps

    def run(self, model: nn.Module, x: torch.Tensor, ref: torch.Tensor | None = None,
            target: torch.Tensor | None = None, *, num_classes: int | None = None, seed: int = 0,
            progress: ProgressFn = None) -> DenseAttackResult:
        """Attack a batch; ``ref`` (N, h, w) defaults to the clean prediction."""
        return run_dense(self, model, x, ref, target, num_classes=num_classes, seed=seed, progress=progress)


def run_dense(attack, model: nn.Module, x: torch.Tensor, ref: torch.Tensor | None, target: torch.Tensor | None,
              *, num_classes: int | None, seed: int, progress: ProgressFn) -> DenseAttackResult:
    """The shared ``run`` of the dense attacks: checks, clean pass, ``attack.perturb``, result."""
    t0 = time.perf_counter()
    check_dense(model, x, attack.threat)
    dev = next((p.device for p in model.parameters()), x.device)
    x = x.detach().to(dev)
    with torch.no_grad():
        clean_logits = dense_logits(model, x)
    c = int(num_classes or clean_logits.shape[1])
    clean_pred = clean_logits.argmax(1)
    ref = clean_pred if ref is None else ref.to(dev).long()
    if tuple(ref.shape) != tuple(clean_pred.shape):
        raise ValueError(f"reference labels {tuple(ref.shape)} do not match the model's output {tuple(clean_pred.shape)}")
    tgt = None if target is None else target.to(dev).long()
    x_adv, traj = attack.perturb(model, x, ref, tgt, c, seed=seed, progress=progress)
    with torch.no_grad():
        adv_pred = dense_logits(model, x_adv).argmax(1)
    return DenseAttackResult(attack=attack.name, threat=attack.threat, x_clean=x.cpu(), x_adv=x_adv.detach().cpu(),
                             ref=ref.cpu(), clean_pred=clean_pred.cpu(), adv_pred=adv_pred.cpu(), num_classes=c,
                             target=None if tgt is None else tgt.cpu(), trajectory=traj,
                             elapsed_s=time.perf_counter() - t0, params=attack.params())
