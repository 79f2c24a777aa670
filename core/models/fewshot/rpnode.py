"""R-PNODE: PNODE trained with a feature-consistency regularizer between noised and clean inputs.

Paper: Prashant Pandey, Mustafa Chasmai, Tanuj Sur, Brejesh Lall, "Robust Prototypical Few-Shot
Organ Segmentation with Regularized Neural-ODEs", IEEE TMI 2023 (arXiv 2208.12428); public code
``rpnode-fss/RPNODE_FSS`` (MIT). The architecture is PNODE's (:mod:`core.models.fewshot.pnode`); what
changes is the training loss:

    L = CE(query logits, query mask) + λ · L_cl,
    L_cl = [1 − mean_p cos(F(x̃_s)(p), F(x_s)(p))] + [1 − mean_p cos(F(x̃_q)(p), F(x_q)(p))],

where F is the feature extractor (encoder + ODE block), the cosine is taken over the channels at
each pixel p and averaged over pixels and episodes, and x̃ is a noised copy of the input,
additive Gaussian x̃ = x + σ·n, n ~ N(0, I) (the paper also has a multiplicative variant).

Defaults: λ = 1, σ = 0.1 (the paper's), additive noise, no clipping of x̃ to [0, 1] (as in the
paper: the noise is a training device, not a valid image). Gradients flow through both the noised
and the clean features. Deviations: those of PNODE (small encoder, RK4 training solver).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from core.models.fewshot.pnode import PNODE

LAMBDA = 1.0
SIGMA = 0.1


def consistency_loss(f_noisy: torch.Tensor, f_clean: torch.Tensor) -> torch.Tensor:
    """1 − the mean over pixels (and the batch) of the channel cosine between two feature maps (N, C, h, w)."""
    return 1 - F.cosine_similarity(f_noisy, f_clean, dim=1).mean()


class RPNODE(PNODE):
    """PNODE whose training adds λ·L_cl (module docstring); inference is PNODE's."""

    kind = "rpnode"

    def regularized_loss(self, support: torch.Tensor, support_mask: torch.Tensor, query: torch.Tensor,
                         query_mask: torch.Tensor, *, lam: float = LAMBDA, sigma: float = SIGMA,
                         generator: torch.Generator | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        """(L, parts) for one batch of episodes; the noise drawn from ``generator``."""
        n = support.shape[0]
        x = torch.cat([support, query])
        noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        f = self.features(torch.cat([x, x + sigma * noise]))
        clean, noisy = f[:2 * n], f[2 * n:]
        logits = self.decode(clean[:n], support_mask, clean[n:], tuple(query.shape[-2:]))
        ce = F.cross_entropy(logits, query_mask)
        reg = consistency_loss(noisy[:n], clean[:n]) + consistency_loss(noisy[n:], clean[n:])
        return ce + lam * reg, {"ce": float(ce.detach()), "reg": float(reg.detach())}


__all__ = ["LAMBDA", "RPNODE", "SIGMA", "consistency_loss"]
