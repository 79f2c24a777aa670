"""Per-pixel Jacobian-norm map: how strongly each pixel moves the logits.

The quantity is the one Jacobian regularisation penalises (Hoffman, Roberts, Yaida, "Robust
Learning with Jacobian Regularization", 2019; ``facebookresearch/jacobian_regularizer``), the
squared Frobenius norm of J = ∂z/∂x, here split by pixel instead of summed:

    map(p) = Σ_k Σ_c (∂z_k / ∂x_{c,p})²

* ``mode="topk"`` (default): k runs over the ``k`` = 5 highest logits of each image (1 forward,
  k backward passes; exact).
* ``mode="random"``: Hoffman's estimator. With v uniform on the unit sphere of R^C (C classes),
  E[(vᵀJ)²] = (1/C)·Σ_k J_k², so (C / n_proj)·Σ_j (v_jᵀ J)² per pixel is an unbiased estimate of
  the sum over *all* classes (1 backward pass per projection; seeded). Hoffman's default is
  n_proj = 1 for training; a map needs more, 8 here.

Part of the explanation zoo around J-SIGR; the regulariser itself trains the zoo model of
:mod:`core.train.jsigr`.
"""
from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from core.runtime import limits
from core.explain.common import as_float_input, check_range
from core.runtime.progress import ProgressFn, report

TOPK = 5
N_PROJ = 8


def jacobian_norm_map(model: nn.Module, x: torch.Tensor, *, mode: Literal["topk", "random"] = "topk",
                      k: int = TOPK, n_proj: int = N_PROJ, seed: int = 0,
                      progress: ProgressFn = None) -> torch.Tensor:
    """Σ over classes (top-k, or all via random projections) of the squared input gradients,
    summed over colour channels; shape (N, H, W), on the CPU."""
    if x.dim() != 4:
        raise ValueError(f"images must have shape (N, C, H, W), got {tuple(x.shape)}")
    check_range("k" if mode == "topk" else "n_proj", k if mode == "topk" else n_proj, 1, limits.MAX_JACOBIAN_ROWS)
    dev = next((p.device for p in model.parameters()), x.device)
    x = as_float_input(x, dev).requires_grad_(True)
    with torch.enable_grad():
        z = model(x)
        z = z if z.dtype in (torch.float32, torch.float64) else z.float()
        n, c = z.shape
        out = torch.zeros(x.shape[0], *x.shape[2:], device=dev, dtype=x.dtype)
        if mode == "topk":
            kk = min(int(k), c)
            top = z.detach().topk(kk, dim=1).indices  # (N, kk)
            for j in range(kk):
                sel = z.gather(1, top[:, j:j + 1]).sum()
                (g,) = torch.autograd.grad(sel, x, retain_graph=j + 1 < kk)
                out += g.pow(2).sum(1)
                report(progress, j + 1, kk, f"Jacobian row {j + 1}/{kk}")
        elif mode == "random":
            gen = torch.Generator(device=dev).manual_seed(int(seed))
            for j in range(int(n_proj)):
                v = torch.randn(n, c, generator=gen, device=dev, dtype=z.dtype)
                v = v / v.norm(dim=1, keepdim=True).clamp_min(1e-12)
                (g,) = torch.autograd.grad((z * v).sum(), x, retain_graph=j + 1 < n_proj)
                out += g.pow(2).sum(1) * (c / n_proj)
                report(progress, j + 1, n_proj, f"projection {j + 1}/{n_proj}")
        else:
            raise ValueError(f"mode must be 'topk' or 'random', not {mode!r}")
    return out.detach().cpu()
