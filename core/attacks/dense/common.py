"""What the multi-class dense attacks share: the per-pixel objective, the metric each attack
keeps its best iterate by, the per-step record and the result.

A dense model maps images (N, 3, H, W) in [0, 1] to class logits (N, C, h, w)
(``forward_logits`` when the model has one, else ``forward``; a defended or user model's
forward returns the logits). The reference ``ref`` (N, h, w) is the ground truth where there is
one (the garment scenes), otherwise the model's clean prediction.

* untargeted objective: the mean per-pixel cross-entropy CE(logits, ref) over all h·w pixels
  (ascended); the best iterate is the one with the lowest per-image mIoU against ``ref``
  (:func:`core.attacks.dense.metrics.per_image_miou`), so every attack reports the worst point it saw;
* targeted objective: −CE(logits, target), the best iterate the one with the most pixels equal to
  the target map (``target`` (N, h, w); see :func:`paint_target`).

An optional ``regularizer(x_iter) -> (N,)`` is added to the objective (the equivariance-aware
adaptive attacker: −λ·L_equi, :mod:`core.evaluation.dense.equivariance_eval`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from core.runtime import limits
from core.attacks.base import ThreatModel
from core.attacks.dense.metrics import per_image_miou, per_image_pixel_accuracy
from core.runtime.progress import ProgressFn, report

Regularizer = Callable[[torch.Tensor], torch.Tensor]


def dense_logits(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """(N, C, h, w) class logits of ``model`` on ``x``."""
    fn = getattr(model, "forward_logits", None)
    return fn(x) if fn is not None else model(x)


def pixel_ce(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-pixel cross-entropy (N, h, w)."""
    return F.cross_entropy(logits, labels, reduction="none")


def paint_target(ref: torch.Tensor, region: torch.Tensor, cls: int) -> torch.Tensor:
    """The target map of a targeted attack: ``ref`` (N, h, w) with class ``cls`` painted where
    ``region`` ((h, w) or (N, h, w) bool/{0, 1}) is set — "paint this class over that region"."""
    r = region.bool()
    if r.dim() == 2:
        r = r[None].expand_as(ref)
    return torch.where(r.to(ref.device), torch.full_like(ref, int(cls)), ref)


def check_dense(model: nn.Module, x: torch.Tensor, threat: ThreatModel) -> None:
    """The checks every dense attack makes before it runs."""
    if model.training:
        raise RuntimeError("attacks need a model in eval mode (shared models are never switched)")
    if x.dim() != 4 or x.shape[1] != 3:
        raise ValueError(f"images must have shape (N, 3, H, W), got {tuple(x.shape)}")
    if x.shape[0] > limits.MAX_BATCH:
        raise ValueError(f"at most {limits.MAX_BATCH} images per batch")
    if not torch.isfinite(x).all() or x.min() < 0 or x.max() > 1:
        raise ValueError("images must be finite and in [0, 1]")
    if threat.steps > limits.MAX_ATTACK_STEPS or threat.restarts > limits.MAX_RESTARTS:
        raise ValueError(f"at most {limits.MAX_ATTACK_STEPS} steps and {limits.MAX_RESTARTS} restarts")


@dataclass
class DenseStep:
    """One evaluated iterate: objective and the per-image metrics (before its update)."""

    step: int
    loss: torch.Tensor  # (N,)
    miou: torch.Tensor  # (N,) against the reference
    pixel_acc: torch.Tensor  # (N,)
    target_reached: torch.Tensor | None = None  # (N,)
    step_size: float | None = None  # APGD's η of the first image


class BestTracker:
    """Keeps, per image, the iterate with the best metric (lowest mIoU, or most target pixels),
    and records the trajectory with progress."""

    def __init__(self, x: torch.Tensor, ref: torch.Tensor, target: torch.Tensor | None, num_classes: int,
                 total: int, progress: ProgressFn) -> None:
        self.ref, self.target, self.c = ref, target, num_classes
        self.best = x.detach().clone()
        self.score = torch.full((x.shape[0],), float("inf"), device=x.device)  # lower is better
        self.steps: list[DenseStep] = []
        self.total, self.progress = total, progress

    def metrics(self, logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        pred = logits.detach().argmax(1)
        miou = per_image_miou(self.ref, pred, self.c)
        acc = per_image_pixel_accuracy(self.ref, pred)
        reached = None if self.target is None else per_image_pixel_accuracy(self.target, pred)
        return miou, acc, reached

    def update(self, x_it: torch.Tensor, logits: torch.Tensor, obj: torch.Tensor, *, log: bool = True,
               step_size: float | None = None) -> None:
        miou, acc, reached = self.metrics(logits)
        score = miou if reached is None else -reached
        better = score.to(self.score.device) < self.score
        self.best[better] = x_it.detach()[better]
        self.score = torch.where(better, score.to(self.score.device), self.score)
        if log:
            self.steps.append(DenseStep(len(self.steps), obj.detach().float().cpu(), miou.cpu(), acc.cpu(),
                                        None if reached is None else reached.cpu(), step_size))
            report(self.progress, len(self.steps), self.total, f"step {len(self.steps)}/{self.total}")


@dataclass
class DenseAttackResult:
    """A dense attack's outcome, on the CPU (label maps at the model's output resolution)."""

    attack: str
    threat: ThreatModel
    x_clean: torch.Tensor
    x_adv: torch.Tensor
    ref: torch.Tensor  # (N, h, w)
    clean_pred: torch.Tensor  # (N, h, w)
    adv_pred: torch.Tensor  # (N, h, w)
    num_classes: int
    target: torch.Tensor | None = None
    trajectory: list[DenseStep] = field(default_factory=list)
    elapsed_s: float = 0.0
    params: dict = field(default_factory=dict)

    @property
    def miou(self) -> torch.Tensor:
        """Per-image mIoU of the attacked prediction against the reference."""
        return per_image_miou(self.ref, self.adv_pred, self.num_classes)

    @property
    def clean_miou(self) -> torch.Tensor:
        return per_image_miou(self.ref, self.clean_pred, self.num_classes)

    @property
    def target_reached(self) -> torch.Tensor | None:
        return None if self.target is None else per_image_pixel_accuracy(self.target, self.adv_pred)

    @property
    def delta(self) -> torch.Tensor:
        return self.x_adv - self.x_clean

    @property
    def linf(self) -> torch.Tensor:
        return self.delta.flatten(1).abs().amax(1)
