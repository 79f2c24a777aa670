"""J-SIGR — Jacobian norm + Selective Input Gradient Regularization (Liu, Wu, Zhao, Boussaid,
Bennamoun, Xie, arXiv 2207.13036, 2022; Pattern Recognition 145, 2024). **This is the project's
reconstruction** (see docs/ALGORITHMS.md): the authors' code was not
available, and the objective below has not been checked against the paper.

    L = CE(f(x), y) + λ_J · ½‖J_f(x)‖_F² + λ_S · ‖(1 − Ŝ(x)) ⊙ ∇_x CE(f(x), y)‖₂²

* ½‖J‖_F² — the Jacobian regulariser of Hoffman, Roberts, Yaida ("Robust Learning with Jacobian
  Regularization", 2019; ``facebookresearch/jacobian_regularizer``): the unbiased estimate
  ‖J‖_F² ≈ C·‖vᵀJ‖² with one random unit vector v in logit space per image (n_proj = 1), by
  double backprop; averaged over the batch.
* Ŝ — the Greydanus blur-perturbation saliency (Greydanus et al. 2018), normalised per image to
  [0, 1] (divided by its maximum) and treated as a constant; the penalty is on the input
  gradient of each image's own CE *outside* the salient region (the "selective" part, after
  Xing et al., arXiv 2205.08685). The masks and the blur come from
  :mod:`core.explain.perturbation` (``soft_masks``) and :mod:`core.explain.common`
  (``blur``), evaluated here in batches.

Defaults and deviations (all *unverified*, chosen for this CPU budget):

* λ_J = 0.1 (Hoffman et al.'s MNIST example; their README default is 0.01); λ_S = 1.0 (no
  published value available: our choice).
* Ŝ is computed once, before training, by a **teacher** — the zoo's standard model — on a 4×4
  grid (stride 7 px, mask radius 4 px, blur σ = 3 px) on the logits: 16 forward passes per
  image instead of recomputing with the model being trained (a saliency map from a fixed
  model is treated as a constant either way). Without a teacher (tests), Ŝ comes from the current model in
  eval mode, per batch.
* Cost: about 4–5 passes per step (two double-backprop terms).

Its purpose in the paper is robustness to *transferred* attacks and saliency maps that look
like the perturbation map; white-box PGD robustness is not what it is built for.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from core.explain.common import blur
from core.explain.perturbation import grid_centres, soft_masks
from core.models.zoo.net import ZooClassifier
from core.runtime.progress import ProgressFn, report
from core.train.common import Recipe, eval_mode

GRID_STRIDE = 7.0
MASK_RADIUS = 4.0
BLUR_SIGMA = 3.0


@torch.no_grad()
def perturbation_maps(model: nn.Module, x: torch.Tensor, stride: float = GRID_STRIDE, radius: float = MASK_RADIUS,
                      blur_sigma: float = BLUR_SIGMA, batch_size: int = 128) -> torch.Tensor:
    """Greydanus saliency ½‖f(x) − f(x')‖² on the logits, bilinearly upsampled, normalised
    per image to max 1: (N, H, W). Same masks and blur as
    :func:`core.explain.perturbation.perturbation_saliency`, batched over images."""
    n, _, h, w = x.shape
    masks = soft_masks(h, w, stride, radius, dtype=x.dtype).to(x.device)  # (K, H, W)
    gh, gw = len(grid_centres(h, stride)), len(grid_centres(w, stride))
    k = masks.shape[0]
    out = torch.empty(n, h, w, dtype=x.dtype)
    for s in range(0, n, batch_size):
        xb = x[s:s + batch_size]
        b = xb.shape[0]
        f0 = model(xb)
        xbl = blur(xb, blur_sigma)
        m = masks[None, :, None]  # (1, K, 1, H, W)
        xp = (xb[:, None] * (1 - m) + xbl[:, None] * m).reshape(b * k, *xb.shape[1:])
        fp = model(xp).reshape(b, k, -1)
        sc = 0.5 * (fp - f0[:, None]).pow(2).sum(2)  # (b, K)
        up = F.interpolate(sc.reshape(b, 1, gh, gw), size=(h, w), mode="bilinear", align_corners=False)[:, 0]
        out[s:s + b] = (up / up.flatten(1).amax(1).clamp_min(1e-12)[:, None, None]).cpu()
    return out


class JSIGR(Recipe):
    key = "jsigr"

    def __init__(self, lambda_j: float = 0.1, lambda_s: float = 1.0, teacher: nn.Module | None = None) -> None:
        self.lambda_j, self.lambda_s = float(lambda_j), float(lambda_s)
        self.teacher = teacher
        self.maps: torch.Tensor | None = None

    def params(self) -> dict:
        return {"lambda_j": self.lambda_j, "lambda_s": self.lambda_s, "n_proj": 1,
                "saliency": f"Greydanus blur perturbation, stride {GRID_STRIDE:g} px, radius {MASK_RADIUS:g} px, "
                            f"blur σ {BLUR_SIGMA:g} px, logits, teacher = standard model",
                "status": "reconstruction (unverified against the paper)"}

    def passes_per_step(self) -> float:
        return 4.5

    def prepare(self, model: ZooClassifier, x: torch.Tensor, y: torch.Tensor, progress: ProgressFn = None) -> None:
        if self.teacher is None:
            self.maps = None
            return
        chunks, step = [], 1024
        for s in range(0, x.shape[0], step):
            chunks.append(perturbation_maps(self.teacher, x[s:s + step]))
            report(progress, min(s + step, x.shape[0]), x.shape[0], "teacher saliency maps")
        self.maps = torch.cat(chunks)

    def loss(self, model: ZooClassifier, x: torch.Tensor, y: torch.Tensor, idx: torch.Tensor,
             gen: torch.Generator) -> tuple[torch.Tensor, dict[str, float]]:
        if self.maps is not None:
            sal = self.maps[idx].to(x.device)
        else:
            with eval_mode(model):
                sal = perturbation_maps(model, x).to(x.device)
        xg = x.detach().clone().requires_grad_(True)
        logits = model(xg)
        ce_each = F.cross_entropy(logits, y, reduction="none")
        c = logits.shape[1]
        v = torch.randn(logits.shape, generator=gen).to(x.device)
        v = v / v.norm(dim=1, keepdim=True)
        (jv,) = torch.autograd.grad((logits * v).sum(), xg, create_graph=True)
        jac = c * jv.pow(2).flatten(1).sum(1).mean()  # estimate of ‖J‖_F², batch mean
        (gx,) = torch.autograd.grad(ce_each.sum(), xg, create_graph=True)
        sigr = ((1 - sal)[:, None] * gx).pow(2).flatten(1).sum(1).mean()
        ce = ce_each.mean()
        loss = ce + self.lambda_j * 0.5 * jac + self.lambda_s * sigr
        return loss, {"correct": float((logits.argmax(1) == y).sum()), "ce": float(ce.detach()), "jac": float(jac.detach()),
                      "sigr": float(sigr.detach())}
