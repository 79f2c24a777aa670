"""Attacks on a few-shot segmenter's query or support, as R-PNODE's public code runs them.

Paper: Pandey, Chasmai, Sur, Lall, "Robust Prototypical Few-Shot Organ Segmentation with
Regularized Neural-ODEs", IEEE TMI 2023 (arXiv 2208.12428); code ``rpnode-fss/RPNODE_FSS``
(``test_attacked.py``, ``attacks/fgsm_pgd.py`` from cleverhans, ``attacks/smia.py``). One image of
the episode (query or support) is attacked, the other and the support mask stay fixed; the loss is
the mean per-pixel cross-entropy of the query's logits against its ground-truth mask.

* **FGSM** (Goodfellow et al., ICLR 2015): x + ε·sign(∇L). The code passes no ``clip_min`` /
  ``clip_max``, so the result is **not clipped to the valid range** [0, 1].
* **PGD** (Madry et al., ICLR 2018, cleverhans): uniform random start in the ε-ball, 10 steps of
  0.01, projection onto the ε-ball after each step, again **no clipping to [0, 1]**.
* **SMIA** as released (the name is Qi et al., "Stabilized Medical Image Attacks", ICLR 2021, but
  the code differs from that paper): 10 iterations of x ← max(x + ε·sign(∇L), 0) with **no
  projection** onto the ε-ball (the total change can reach 10ε) and a clamp at 0 only; the
  stabilization term is off (a2 = 0); the first iteration ascends the CE to the ground truth, the
  later ones the CE to a "label" that the code builds from the *perturbed image* cast to integers
  (``gt1 = X_pert + blur(sign ∇)·ε``, then ``.to(torch.long)``). For images in [0, 1] that label
  is 0 (background) wherever the value is below 1, so from the second iteration on the code pushes
  pixels away from background. Reproduced here with the channel mean of the perturbed image as the
  1-channel CT image of the code (its 1×1 Gaussian kernel makes ``blur`` a sum of three
  dilated-column taps of the sign; here the sign's channel mean, one tap: deviation).

These three are the paper's evaluation, kept as the code runs them; they are not valid attacks
in the project's threat model (the ε-ball intersected with [0, 1]) and so are never part of the
worst case, which uses the dense attacks of :mod:`core.attacks.dense.pgd` and friends through
:class:`QueryAttack` / :class:`SupportAttack` (:mod:`core.evaluation.dense.fewshot_eval`).

Defaults: ε = ``PAPER_EPS`` = 0.035 (the code's ``attack_eps``), PGD step 0.01, 10 iterations.
"""
from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

PAPER_EPS = 0.035
PGD_STEP = 0.01
PGD_STEPS = 10
SMIA_STEPS = 10
Target = Literal["query", "support"]
PAPER_ATTACKS = ("FGSM", "PGD", "SMIA")


class EpisodeAttackModel(nn.Module):
    """A few-shot model seen as a dense model of one image: ``forward(x)`` gives the query's logits
    (N, 2, H, W) with ``x`` in place of the query (``target="query"``) or of the support image.
    The other image's features are computed once (they do not depend on ``x``)."""

    def __init__(self, model: nn.Module, support: torch.Tensor, support_mask: torch.Tensor, query: torch.Tensor,
                 target: Target = "query") -> None:
        super().__init__()
        if target not in ("query", "support"):
            raise ValueError(f"unknown attack target {target!r}")
        self.model, self.target = model, target
        self.support, self.support_mask, self.query = support, support_mask, query
        with torch.no_grad():  # the fixed image's features, once
            self.fixed = model.features(query if target == "support" else support)
        self.train(model.training)
        self.watch = None  # optional: called as watch(x, logits) after every forward (a page's live view)

    def clean_input(self) -> torch.Tensor:
        """The image this wrapper's input replaces."""
        return self.query if self.target == "query" else self.support

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        size = tuple(self.query.shape[-2:])
        if self.target == "query":
            out = self.model.decode(self.fixed, self.support_mask, self.model.features(x), size)
        else:
            out = self.model.decode(self.model.features(x), self.support_mask, self.fixed, size)
        if self.watch is not None:
            self.watch(x.detach(), out.detach())
        return out


def QueryAttack(model: nn.Module, support: torch.Tensor, support_mask: torch.Tensor,
                query: torch.Tensor) -> EpisodeAttackModel:
    """The model as a function of the query (support fixed)."""
    return EpisodeAttackModel(model, support, support_mask, query, "query")


def SupportAttack(model: nn.Module, support: torch.Tensor, support_mask: torch.Tensor,
                  query: torch.Tensor) -> EpisodeAttackModel:
    """The model as a function of the support image (mask and query fixed)."""
    return EpisodeAttackModel(model, support, support_mask, query, "support")


def _grad(f: nn.Module, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        loss = F.cross_entropy(f(x), labels)  # the code's CrossEntropyLoss: mean over pixels and batch
        (g,) = torch.autograd.grad(loss, x)
    return g


def fgsm_paper(f: nn.Module, x: torch.Tensor, labels: torch.Tensor, eps: float = PAPER_EPS) -> torch.Tensor:
    """cleverhans FGSM as the code calls it: one signed step, not clipped to [0, 1]."""
    return (x + eps * _grad(f, x, labels).sign()).detach()


def pgd_paper(f: nn.Module, x: torch.Tensor, labels: torch.Tensor, eps: float = PAPER_EPS, step: float = PGD_STEP,
              steps: int = PGD_STEPS, seed: int = 0) -> torch.Tensor:
    """cleverhans PGD as the code calls it: random start, ε-ball projection, no [0, 1] clip."""
    gen = torch.Generator(device=x.device).manual_seed(int(seed))
    delta = (torch.rand(x.shape, generator=gen, device=x.device, dtype=x.dtype) * 2 - 1) * eps
    for _ in range(int(steps)):
        g = _grad(f, x + delta, labels)
        delta = (delta + step * g.sign()).clamp(-eps, eps)
    return (x + delta).detach()


def smia_paper(f: nn.Module, x: torch.Tensor, labels: torch.Tensor, eps: float = PAPER_EPS,
               steps: int = SMIA_STEPS) -> torch.Tensor:
    """The released SMIA (module docstring): no projection, clamp at 0 only, later labels from the image."""
    x_pert = x.detach().clone()
    lab = labels
    for _ in range(int(steps)):
        sign = _grad(f, x_pert, lab).sign()
        gt1 = x_pert + eps * sign
        lab = gt1.mean(1).long().clamp(0, 1)  # the code: the perturbed image cast to integers (values >= 1 give 1)
        x_pert = (x_pert + eps * sign).clamp_min(0).detach()
    return x_pert


def paper_attack(name: str, f: nn.Module, x: torch.Tensor, labels: torch.Tensor, eps: float = PAPER_EPS,
                 seed: int = 0) -> torch.Tensor:
    """Run the paper's attack ``name`` ("FGSM", "PGD" or "SMIA") on ``f`` at ``x``."""
    if name == "FGSM":
        return fgsm_paper(f, x, labels, eps)
    if name == "PGD":
        return pgd_paper(f, x, labels, eps, seed=seed)
    if name == "SMIA":
        return smia_paper(f, x, labels, eps)
    raise ValueError(f"unknown paper attack {name!r}; choose from {', '.join(PAPER_ATTACKS)}")


__all__ = ["EpisodeAttackModel", "PAPER_ATTACKS", "PAPER_EPS", "QueryAttack", "SupportAttack", "fgsm_paper",
           "paper_attack", "pgd_paper", "smia_paper"]
