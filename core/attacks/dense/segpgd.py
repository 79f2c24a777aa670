"""SegPGD: PGD whose per-pixel loss shifts from correctly to wrongly classified pixels.

Paper: Gu, Zhao, Tresp, Torr, *SegPGD: An Effective and Efficient Adversarial Attack for
Evaluating and Boosting Segmentation Robustness*, ECCV 2022 (arXiv 2207.12391). At iteration t
of T the loss is

    L_t = (1 − λ_t) · (1/HW) Σ_{j ∈ P_T} CE_j + λ_t · (1/HW) Σ_{k ∈ P_F} CE_k,   λ_t = (t − 1) / (2T),

with P_T the pixels the current iterate classifies correctly (as the reference) and P_F the
wrongly classified ones: early steps push the still-correct pixels over the boundary instead of
making wrong pixels more wrong; λ grows to about ½ at the end. Update, projection and random
start are PGD's (:class:`core.attacks.dense.pgd.DensePGD`, L∞ sign steps in the paper).

Deviations: t counts from 0 here, so λ_t = t / (2T) (the paper's t = 1 … T gives the same
values); the best iterate per image (lowest mIoU) is returned instead of the final one;
targeted use gives the weight 1 − λ_t to the pixels not yet equal to the target and λ_t
to those that are (the paper is untargeted).
"""
from __future__ import annotations

import torch

from core.attacks.dense.pgd import DensePGD


def segpgd_lambda(t: int, steps: int) -> float:
    """λ_t = t / (2T) for t = 0 … T − 1."""
    return t / (2 * max(int(steps), 1))


class SegPGD(DensePGD):
    """SegPGD (see the module docstring)."""

    name = "SegPGD"
    paper = "Gu, Zhao, Tresp, Torr: SegPGD, ECCV 2022"

    def pixel_weights(self, logits: torch.Tensor, labels: torch.Tensor, t: int,
                      targeted: bool = False) -> torch.Tensor:
        lam = segpgd_lambda(t, self.threat.steps)
        # untargeted: "still correct" = equal to the reference; targeted: "not yet at the target"
        still = (logits.detach().argmax(1) == labels).float()
        if targeted:
            still = 1 - still
        return (1 - lam) * still + lam * (1 - still)
