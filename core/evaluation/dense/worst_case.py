"""The dense worst case: per image, the lowest mIoU any attack of an ensemble reached.

AutoAttack (Croce & Hein, ICML 2020) reports, per image, whether *any* of its attacks succeeded;
for dense prediction there is no single "fooled" bit, so the worst case here is the lowest
per-image mIoU (against the reference: ground truth on the scene test set) that any attack of
the ensemble reached on that image, the attack that reached it, and the data-set mIoU of the
worst-case predictions (each image's worst adversarial example, confusion matrices summed).

Ensemble (defaults, all L∞ with the same ε, every attack on every image, each keeping its own
lowest-mIoU iterate):

1. Dense PGD on the mean per-pixel CE (:mod:`core.attacks.dense.pgd`), α = ε/4, random start;
2. Dense APGD, APGD's step control on the same loss (:mod:`core.attacks.dense.apgd`);
3. SegPGD, the loss reweighted between correct and wrong pixels (:mod:`core.attacks.dense.segpgd`);
4. Dense Square on the mIoU itself, gradient-free (:mod:`core.attacks.dense.square`), so a masked
   gradient cannot hide a weakness.

Because every attack's per-image mIoU is evaluated on the same images and reference, the worst
case is ≤ each attack's per-image mIoU by construction (checked by the tests and by
:meth:`DenseWorstCase.check`). Deviation from AutoAttack: no targeted member (there is no single
target class for a dense map) and every attack runs on every image (no "still robust" subset).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch
from torch import nn

from core.attacks.base import ThreatModel
from core.attacks.dense.apgd import DenseAPGD
from core.attacks.dense.common import DenseAttackResult
from core.attacks.dense.pgd import DensePGD
from core.attacks.dense.square import DenseSquare
from core.attacks.dense.segpgd import SegPGD
from core.attacks.dense.metrics import dataset_miou, per_image_miou, per_image_pixel_accuracy
from core.runtime.progress import ProgressFn, stage

BATCH = 25  # images per attack call
ATTACKS = ("Dense PGD", "Dense APGD", "SegPGD", "Dense Square (mIoU)")


@dataclass(frozen=True)
class DenseWorstCaseConfig:
    eps: float = 4 / 255
    steps: int = 10
    square_queries: int = 300
    attacks: tuple[str, ...] = ATTACKS
    seed: int = 0

    def build(self) -> list:
        tm = ThreatModel(norm="linf", eps=self.eps, step=self.eps / 4, steps=self.steps, random_start=True)
        made = {"Dense PGD": lambda: DensePGD(tm), "Dense APGD": lambda: DenseAPGD(tm), "SegPGD": lambda: SegPGD(tm),
                "Dense Square (mIoU)": lambda: DenseSquare(tm, n_queries=self.square_queries)}
        unknown = [a for a in self.attacks if a not in made]
        if unknown or not self.attacks:
            raise ValueError(f"unknown dense attacks {unknown}; choose from {', '.join(ATTACKS)}")
        return [made[a]() for a in self.attacks]


@dataclass
class DenseWorstCase:
    """Per image and per attack: mIoU; the worst case and who reached it."""

    attacks: list[str]
    per_attack_miou: dict[str, torch.Tensor]  # name -> (N,)
    worst_miou: torch.Tensor  # (N,)
    found_by: list[str]  # per image: the attack that reached the worst mIoU (first on ties)
    clean_miou: torch.Tensor  # (N,)
    x_worst: torch.Tensor  # (N, 3, H, W) each image's worst adversarial example
    worst_pred: torch.Tensor  # (N, h, w)
    clean_pred: torch.Tensor
    ref: torch.Tensor
    num_classes: int
    seconds: dict[str, float] = field(default_factory=dict)
    preds: dict[str, torch.Tensor] = field(default_factory=dict)  # name -> (N, h, w)

    def check(self) -> None:
        """Raise if the worst case is above any attack's per-image mIoU (it never should be)."""
        for name, m in self.per_attack_miou.items():
            if bool((self.worst_miou > m + 1e-6).any()):
                raise AssertionError(f"worst case above {name} on some image")

    def summary(self) -> dict:
        """Data-set numbers: mIoU of clean, each attack's and the worst-case predictions; the
        mean per-image mIoU; how often each attack was the worst."""
        c = self.num_classes
        out = {"clean_miou": dataset_miou(self.ref, self.clean_pred, c)[0],
               "worst_case_miou": dataset_miou(self.ref, self.worst_pred, c)[0],
               "worst_case_mean_per_image_miou": float(self.worst_miou.mean()),
               "clean_mean_per_image_miou": float(self.clean_miou.mean()),
               "worst_case_pixel_accuracy": float(per_image_pixel_accuracy(self.ref, self.worst_pred).mean()),
               "per_attack": {}, "images": int(len(self.worst_miou))}
        for name in self.attacks:
            out["per_attack"][name] = {
                "miou": dataset_miou(self.ref, self.preds[name], c)[0],
                "mean_per_image_miou": float(self.per_attack_miou[name].mean()),
                "worst_for_images": sum(1 for f in self.found_by if f == name),
                "seconds": round(self.seconds.get(name, 0.0), 1)}
        return out


def dense_worst_case(model: nn.Module, x: torch.Tensor, ref: torch.Tensor | None = None,
                     cfg: DenseWorstCaseConfig = DenseWorstCaseConfig(), *, num_classes: int | None = None,
                     progress: ProgressFn = None) -> DenseWorstCase:
    """Run every attack of ``cfg`` on ``x`` (N, 3, H, W) and take the per-image minimum."""
    attacks = cfg.build()
    results, seconds = {}, {}
    chunks = list(range(0, len(x), BATCH))  # the attacks take at most core.runtime.limits.MAX_BATCH images at once
    for i, atk in enumerate(attacks):
        t0 = time.perf_counter()
        parts = [atk.run(model, x[s:s + BATCH], None if ref is None else ref[s:s + BATCH], num_classes=num_classes,
                         seed=cfg.seed, progress=stage(progress, i * len(chunks) + j, len(attacks) * len(chunks),
                                                       atk.name)) for j, s in enumerate(chunks)]
        first = parts[0]
        results[atk.name] = DenseAttackResult(
            attack=first.attack, threat=first.threat, x_clean=torch.cat([r.x_clean for r in parts]),
            x_adv=torch.cat([r.x_adv for r in parts]), ref=torch.cat([r.ref for r in parts]),
            clean_pred=torch.cat([r.clean_pred for r in parts]), adv_pred=torch.cat([r.adv_pred for r in parts]),
            num_classes=first.num_classes)
        seconds[atk.name] = time.perf_counter() - t0
    first = next(iter(results.values()))
    c, r = first.num_classes, first.ref
    names = [a.name for a in attacks]
    mious = {n: per_image_miou(r, results[n].adv_pred, c) for n in names}
    stack = torch.stack([mious[n] for n in names])  # (A, N)
    worst, who = stack.min(0)
    x_worst = torch.stack([results[names[int(k)]].x_adv[i] for i, k in enumerate(who)])
    pred = torch.stack([results[names[int(k)]].adv_pred[i] for i, k in enumerate(who)])
    return DenseWorstCase(attacks=names, per_attack_miou=mious, worst_miou=worst,
                          found_by=[names[int(k)] for k in who], clean_miou=first.clean_miou, x_worst=x_worst,
                          worst_pred=pred, clean_pred=first.clean_pred, ref=r, num_classes=c, seconds=seconds,
                          preds={n: results[n].adv_pred for n in names})
