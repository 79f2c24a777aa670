"""Adversarially trained prototype CNN (the AT-PANet baseline of R-PNODE).

Papers: the architecture is PANet's (Wang et al., ICCV 2019, arXiv 1908.06391;
:mod:`core.models.fewshot.proto`); the training is PGD adversarial training (Madry, Makelov,
Schmidt, Tsipras, Vladu, "Towards Deep Learning Models Resistant to Adversarial Attacks", ICLR
2018, arXiv 1706.06083), which R-PNODE (Pandey et al., IEEE TMI 2023, arXiv 2208.12428) compares
against as "AT-PANet" without giving its recipe.

Recipe here: each training step replaces the *query* of every episode by a PGD example that
maximises the query's cross-entropy (support fixed): L∞ ε = ``AT_EPS`` = 0.035 (the attack budget
of the evaluation), ``AT_STEPS`` = 3 steps of 2.5ε/3 from a uniform random start, projected to the
ε-ball and to [0, 1]; the loss is the CE on the adversarial query only (Madry's min-max).
Deviations: the support is not attacked during training (the evaluation attacks both); 3 PGD steps
instead of the usual 7–10, for CPU time.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from core.models.fewshot.proto import PrototypeSeg

AT_EPS = 0.035
AT_STEPS = 3


def pgd_query(model: PrototypeSeg, support: torch.Tensor, support_mask: torch.Tensor, query: torch.Tensor,
              query_mask: torch.Tensor, eps: float = AT_EPS, steps: int = AT_STEPS,
              generator: torch.Generator | None = None) -> torch.Tensor:
    """A PGD query (N, 3, H, W) within ε of ``query`` and in [0, 1] (the recipe above)."""
    step = 2.5 * eps / steps
    fs = model.features(support).detach()  # the support is fixed: its features once
    delta = (torch.rand(query.shape, generator=generator, device=query.device, dtype=query.dtype) * 2 - 1) * eps
    delta = (query + delta).clamp(0, 1) - query
    for _ in range(int(steps)):
        delta.requires_grad_(True)
        logits = model.decode(fs, support_mask, model.features(query + delta), tuple(query.shape[-2:]))
        (g,) = torch.autograd.grad(F.cross_entropy(logits, query_mask), delta)
        delta = (delta.detach() + step * g.sign()).clamp(-eps, eps)
        delta = (query + delta).clamp(0, 1) - query
    return (query + delta).detach()


class AdvTrainedPrototypeSeg(PrototypeSeg):
    """The prototype CNN, trained on PGD queries (module docstring); inference unchanged."""

    kind = "proto_at"

    def adversarial_loss(self, support: torch.Tensor, support_mask: torch.Tensor, query: torch.Tensor,
                         query_mask: torch.Tensor, *, eps: float = AT_EPS, steps: int = AT_STEPS,
                         generator: torch.Generator | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        """(CE on the PGD queries, parts)."""
        adv = pgd_query(self, support, support_mask, query, query_mask, eps, steps, generator)
        ce = F.cross_entropy(self(support, support_mask, adv), query_mask)
        return ce, {"ce_adv": float(ce.detach())}


__all__ = ["AT_EPS", "AT_STEPS", "AdvTrainedPrototypeSeg", "pgd_query"]
