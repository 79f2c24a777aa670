"""PGD on a segmentation mask: break it (untargeted) or paint a chosen mask (targeted).

After the semantic-segmentation attacks of Mao et al., *Robust Perception through
Equivariance* (ICML 2023; ``cvlab-columbia/Equi4Rob``: ``learning/attack_new_single.py``,
``learning/targeted_attack_new_single.py``), which are PGD (Madry et al., ICLR 2018) on the mean
per-pixel loss. Summary: docs/ALGORITHMS.md.

Our models have one output class (person probability), so the per-pixel loss is binary
cross-entropy on the logit map ℓ(x) (N, 1, h, w) at the model's output resolution:

* untargeted: ascend  L(x) = mean_pixels BCE(ℓ(x), m_clean),  with m_clean = [σ(ℓ(x₀)) > 0.5]
  the clean binary mask (the reference code uses the ground-truth labels; we have none, so the
  clean prediction plays that role);
* targeted: descend  BCE(ℓ(x), m_target), i.e. ascend −BCE (the reference code's
  δ ← δ − α·sign(∇)); targets: the all-zero mask (erase the person), a shape from
  :mod:`core.attacks.dense.seg_targets`, or another image's mask.

Steps (L∞): δ₀ ~ U(−ε, ε) (random start), δ ← Π(δ + α·sign(∇_δ objective)), Π = clip to the
ε-ball and the [0, 1] box (``core.attacks.base.project``); L2 is supported the same way as
:class:`core.attacks.pgd.PGD`.

Which iterate is returned. The reference code returns the final iterate. With sign steps the
mask often swings between steps (on a portrait, "erase" went 86 % → 28 % → 77 % of target
pixels in three consecutive steps), so by default (``keep_best=True``) the attack returns, per
image, the evaluated iterate with the highest objective over all steps and restarts, the final
iterate included (one extra forward pass; as APGD and torchattacks' best-loss tracking do).
``keep_best=False`` gives the reference behaviour (final iterate; with restarts, the restart
whose final iterate scores highest). The perturbation lives at the *image's* resolution; the model stretches the image
to its own size inside (differentiably).

Defaults: paper (Cityscapes) ε = 4/255, α = 1/255, 50 steps, random start; app (CPU) the same
with 10 steps (docs/ALGORITHMS.md).

Metrics (at the model's output resolution, binary masks at 0.5): IoU with the clean mask,
pixel accuracy (share of pixels whose label did not change), and for targeted attacks the share
of pixels equal to the target. Conventions: the IoU of two empty masks is 1 (they agree).

An optional ``regularizer(x_iter) -> (N,)`` is added to the objective; the dense equivariance
defense uses it for the paper's adaptive attacker (seg loss − λ·L_equi,
:mod:`core.defenses.seg_equivariance`).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from core.runtime import limits
from core.attacks.base import ThreatModel, ascent_direction, project, random_start, to_uint8
from core.attacks.dense.seg_targets import resize_mask
from core.runtime.progress import ProgressFn, report

SegMode = Literal["untargeted", "targeted"]
Regularizer = Callable[[torch.Tensor], torch.Tensor]


# --------------------------------------------------------------------------- metrics
def binarize(prob_or_mask: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """A bool mask from a probability map (values > threshold are "in")."""
    return prob_or_mask > threshold


def mask_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Intersection over union of two boolean masks (N, …), per image; 1 when both are empty."""
    a, b = a.bool().flatten(1), b.bool().flatten(1)
    inter = (a & b).sum(1).double()
    union = (a | b).sum(1).double()
    return torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(union)).float()


def pixel_accuracy(pred: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Share of pixels where two boolean masks (N, …) agree, per image."""
    return (pred.bool() == ref.bool()).flatten(1).double().mean(1).float()


def target_reached(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Share of pixels equal to the target mask, per image (pixel accuracy against the target)."""
    return pixel_accuracy(pred, target)


def seg_logits(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The (N, 1, h, w) logit map: ``forward_logits`` when the model has one, else ``model(x)``
    (a defended model's forward returns dense logits)."""
    fn = getattr(model, "forward_logits", None)
    return fn(x) if fn is not None else model(x)


def seg_objective(logits: torch.Tensor, reference: torch.Tensor, mode: SegMode) -> torch.Tensor:
    """Per-image objective the attacker ascends: mean BCE to the clean mask (untargeted) or
    minus the mean BCE to the target mask (targeted). ``reference`` is a {0, 1} float mask of the
    logits' shape."""
    bce = F.binary_cross_entropy_with_logits(logits, reference, reduction="none").flatten(1).mean(1)
    return bce if mode == "untargeted" else -bce


# --------------------------------------------------------------------------- records
@dataclass
class SegStepRecord:
    """One step, for replay: the objective and the mask metrics of the iterate evaluated at that
    step (before its update). Like :class:`core.attacks.base.StepRecord`, for masks."""

    step: int
    loss: torch.Tensor  # (N,) objective (higher = better for the attacker)
    iou: torch.Tensor  # (N,) IoU with the clean mask
    pixel_acc: torch.Tensor  # (N,) agreement with the clean mask
    target_reached: torch.Tensor | None  # (N,) share of pixels equal to the target
    mask: torch.Tensor | None = None  # (N, 1, h, w) uint8 {0, 1}, when masks are recorded
    image: torch.Tensor | None = None  # (N, 3, H, W) uint8, when images are recorded


class SegRecorder:
    """Collects the trajectory and reports progress (cf. :class:`core.attacks.base.Recorder`)."""

    def __init__(self, total: int, progress: ProgressFn, clean_mask: torch.Tensor,
                 target: torch.Tensor | None, record_masks: bool, record_images: bool) -> None:
        self.total = total
        self.progress = progress
        self.clean_mask = clean_mask.bool()
        self.target = None if target is None else target.bool()
        self.record_masks = record_masks
        self.record_images = record_images
        self.steps: list[SegStepRecord] = []

    def log(self, logits: torch.Tensor, objective: torch.Tensor, x_iter: torch.Tensor | None = None) -> None:
        with torch.no_grad():
            pred = logits.detach() > 0
            self.steps.append(SegStepRecord(
                step=len(self.steps),
                loss=objective.detach().float().cpu(),
                iou=mask_iou(pred, self.clean_mask).cpu(),
                pixel_acc=pixel_accuracy(pred, self.clean_mask).cpu(),
                target_reached=None if self.target is None else target_reached(pred, self.target).cpu(),
                mask=pred.to(torch.uint8).cpu() if self.record_masks else None,
                image=to_uint8(x_iter) if (self.record_images and x_iter is not None) else None,
            ))
        report(self.progress, len(self.steps), self.total, f"step {len(self.steps)}/{self.total}")


@dataclass
class SegAttackResult:
    """Everything a segmentation attack produced, on the CPU. Masks are at the model's output
    resolution; probabilities are σ(logits)."""

    attack: str
    threat: ThreatModel
    mode: SegMode
    x_clean: torch.Tensor
    x_adv: torch.Tensor
    clean_prob: torch.Tensor  # (N, 1, h, w)
    adv_prob: torch.Tensor  # (N, 1, h, w)
    target: torch.Tensor | None  # (N, 1, h, w) {0, 1}
    trajectory: list[SegStepRecord]
    elapsed_s: float
    params: dict = field(default_factory=dict)

    @property
    def clean_mask(self) -> torch.Tensor:
        return binarize(self.clean_prob)

    @property
    def adv_mask(self) -> torch.Tensor:
        return binarize(self.adv_prob)

    @property
    def flipped(self) -> torch.Tensor:
        """(N, 1, h, w) int8: +1 background -> person, −1 person -> background, 0 unchanged."""
        return self.adv_mask.to(torch.int8) - self.clean_mask.to(torch.int8)

    @property
    def iou(self) -> torch.Tensor:
        return mask_iou(self.adv_mask, self.clean_mask)

    @property
    def pixel_accuracy(self) -> torch.Tensor:
        return pixel_accuracy(self.adv_mask, self.clean_mask)

    @property
    def target_reached(self) -> torch.Tensor | None:
        return None if self.target is None else target_reached(self.adv_mask, self.target.bool())

    @property
    def delta(self) -> torch.Tensor:
        return self.x_adv - self.x_clean

    @property
    def linf(self) -> torch.Tensor:
        return self.delta.flatten(1).abs().amax(1)

    @property
    def l2(self) -> torch.Tensor:
        return self.delta.flatten(1).norm(dim=1)

    def metrics(self) -> dict[str, float]:
        """Metrics of the first image, for display."""
        out = {"IoU with clean mask": float(self.iou[0]), "pixel accuracy": float(self.pixel_accuracy[0]),
               "person share (clean)": float(self.clean_mask[0].float().mean()),
               "person share (attacked)": float(self.adv_mask[0].float().mean()),
               "L∞ of δ (×255)": float(self.linf[0] * 255)}
        if self.target is not None:
            out["target pixels reached"] = float(self.target_reached[0])
        return out


# --------------------------------------------------------------------------- attack
def _check(model: nn.Module, x: torch.Tensor, threat: ThreatModel) -> None:
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


class SegmentationPGD:
    """PGD on the mask of a one-class segmentation model (see the module docstring)."""

    name = "Segmentation PGD"
    paper = "Madry et al., ICLR 2018; segmentation variant as in Mao et al., ICML 2023"

    def __init__(self, threat: ThreatModel | None = None, *, keep_best: bool = True,
                 regularizer: Regularizer | None = None, regularizer_name: str = "") -> None:
        self.threat = threat or ThreatModel(norm="linf", eps=4 / 255, step=1 / 255, steps=10, random_start=True)
        self.keep_best = bool(keep_best)
        self.regularizer = regularizer
        self.regularizer_name = regularizer_name

    def total_steps(self) -> int:
        return self.threat.steps * self.threat.restarts

    def params(self) -> dict:
        out = {"keep_best": self.keep_best}
        if self.regularizer is not None:
            out["regularizer"] = self.regularizer_name
        return out

    def _objective(self, model: nn.Module, x_it: torch.Tensor, ref: torch.Tensor, mode: SegMode
                   ) -> tuple[torch.Tensor, torch.Tensor]:
        logits = seg_logits(model, x_it)
        obj = seg_objective(logits, ref, mode)
        if self.regularizer is not None:
            obj = obj + self.regularizer(x_it)
        return logits, obj

    def perturb(self, model: nn.Module, x: torch.Tensor, clean_mask: torch.Tensor,
                target: torch.Tensor | None = None, *, seed: int = 0, progress: ProgressFn = None,
                record_masks: bool = False, record_images: bool = False
                ) -> tuple[torch.Tensor, list[SegStepRecord]]:
        """Adversarial images (on the model's device) and the trajectory.

        ``clean_mask`` (N, 1, h, w) {0, 1} at the model's output resolution; ``target`` the same
        shape for a targeted attack (None = untargeted).
        """
        tm = self.threat
        _check(model, x, tm)
        dev = next((p.device for p in model.parameters()), x.device)
        x = x.detach().to(dev)
        mode: SegMode = "untargeted" if target is None else "targeted"
        ref = (clean_mask if target is None else target).float().to(dev)
        gen = torch.Generator(device=dev).manual_seed(int(seed))
        rec = SegRecorder(self.total_steps(), progress, clean_mask.to(dev), None if target is None else target.to(dev),
                          record_masks, record_images)
        best = x.clone()
        best_obj = torch.full((x.shape[0],), -float("inf"), device=dev)

        def keep(x_it: torch.Tensor, obj: torch.Tensor) -> None:
            nonlocal best_obj
            better = obj.detach() > best_obj
            best[better] = x_it.detach()[better]
            best_obj = torch.where(better, obj.detach(), best_obj)

        with torch.enable_grad():
            for _ in range(tm.restarts):
                delta = random_start(x, tm.norm, tm.eps, gen) if tm.random_start else torch.zeros_like(x)
                for _ in range(tm.steps):
                    delta.requires_grad_(True)
                    x_it = x + delta
                    logits, obj = self._objective(model, x_it, ref, mode)
                    (grad,) = torch.autograd.grad(obj.sum(), delta)
                    rec.log(logits, obj, x_it)
                    if self.keep_best:
                        keep(x_it, obj)
                    delta = project(delta.detach() + tm.step * ascent_direction(grad, tm.norm), x, tm.norm, tm.eps)
                if tm.restarts == 1 and not self.keep_best:
                    return (x + delta).detach(), rec.steps
                with torch.no_grad():
                    _, obj = self._objective(model, x + delta, ref, mode)
                keep(x + delta, obj)
        return best.detach(), rec.steps

    def run(self, model: nn.Module, x: torch.Tensor, target: torch.Tensor | None = None, *,
            seed: int = 0, progress: ProgressFn = None, record_masks: bool = False,
            record_images: bool = False, clean_prob: torch.Tensor | None = None) -> SegAttackResult:
        """Attack a batch (N, 3, H, W) in [0, 1] and evaluate the masks.

        ``target``: None (untargeted) or a {0, 1} mask (N or 1, [1,] h', w') at any resolution;
        it is resized to the model's output resolution. ``clean_prob`` may be passed to reuse a
        clean forward pass (e.g. the undefended model's mask when attacking a defended one).
        """
        t0 = time.perf_counter()
        _check(model, x, self.threat)
        dev = next((p.device for p in model.parameters()), x.device)
        xd = x.detach().to(dev)
        with torch.no_grad():
            if clean_prob is None:
                clean_prob = torch.sigmoid(seg_logits(model, xd))
        clean_prob = clean_prob.to(dev)
        clean_mask = binarize(clean_prob).float()
        tgt = None
        if target is not None:
            t = target.float()
            if t.dim() == 2:
                t = t[None, None]
            elif t.dim() == 3:
                t = t[:, None]
            t = resize_mask(t, tuple(clean_prob.shape[-2:])).to(dev)
            tgt = t.expand_as(clean_mask).contiguous()
        x_adv, traj = self.perturb(model, xd, clean_mask, tgt, seed=seed, progress=progress,
                                   record_masks=record_masks, record_images=record_images)
        with torch.no_grad():
            adv_prob = torch.sigmoid(seg_logits(model, x_adv))
        return SegAttackResult(
            attack=self.name, threat=self.threat, mode="untargeted" if tgt is None else "targeted",
            x_clean=xd.cpu(), x_adv=x_adv.cpu(), clean_prob=clean_prob.float().cpu(),
            adv_prob=adv_prob.float().cpu(), target=None if tgt is None else tgt.cpu(),
            trajectory=traj, elapsed_s=time.perf_counter() - t0, params=self.params(),
        )
