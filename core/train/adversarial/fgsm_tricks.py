"""FGSM adversarial training with tricks from "Bag of Tricks for FGSM Adversarial Training"
(Z. Li, L. Liu, Z. Wang, Y. Zhou, C. Xie, arXiv 2209.02684, 2022; code
``UCSC-VLAA/Bag-of-Tricks-for-FGSM-AT``, **not read**: only the abstract was available).

Plain FGSM-AT (Goodfellow et al. 2015, as studied by Wong et al. 2020): train on
x' = clip(x + ε·sign(∇ CE(f(x), y))), no random start, step α = ε. The abstract names three
families of tricks against catastrophic overfitting; this recipe implements:

* (a) **pixel masking** — implemented. The gradient for the FGSM step is taken at a masked
  input x ⊙ M, where M zeroes a random fraction ``mask_ratio`` of the pixels (a fresh mask per
  batch); the perturbation ε·sign(∇) is then added to the *unmasked* x and clipped to [0, 1].
  *Unverified*: whether the paper masks the input or the perturbation, and its mask ratio;
  ``mask_ratio`` = 0.4 is our choice.
* (b) **smooth activation** — implemented: SiLU instead of ReLU in every block (the abstract
  lists SiLU/GELU/Softplus). **Larger stride**: the zoo's shared architecture already has a
  stride-2 first convolution (for every model, so it is not specific to this recipe).
* (c) **weight regularisation of the first conv layer** — *not* implemented by default
  (``first_conv_l2`` = 0); when set, λ·‖W₁‖² is added to the loss. The paper's exact form is
  unverified.

The FGSM step is written here (the gradient is taken at the masked input but the step is
applied to the clean one, which :class:`core.attacks.fgsm.FGSM` cannot express) with the shared
``attack_objective`` and ``project`` of :mod:`core.attacks.base`; model in eval mode meanwhile.
Cost: 2 passes per step. Catastrophic overfitting may not appear at this scale (3 epochs,
ε = 0.1 on Fashion-MNIST); this model shows the recipe, not the overfitting.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from core.attacks.base import attack_objective, project
from core.models.zoo.net import ZooClassifier
from core.train.common import EPS, Recipe, eval_mode


class FGSMTricks(Recipe):
    key = "fgsm_tricks"

    def __init__(self, eps: float = EPS, mask_ratio: float = 0.4, first_conv_l2: float = 0.0) -> None:
        if not 0 <= mask_ratio < 1:
            raise ValueError("mask_ratio must be in [0, 1)")
        self.eps, self.mask_ratio, self.first_conv_l2 = float(eps), float(mask_ratio), float(first_conv_l2)

    def params(self) -> dict:
        return {"eps": self.eps, "alpha": self.eps, "random_start": False, "mask_ratio": self.mask_ratio,
                "activation": "silu", "first_conv_l2": self.first_conv_l2,
                "unverified": "mask placement and ratio; first-conv regulariser form"}

    def passes_per_step(self) -> float:
        return 2.0

    def loss(self, model: ZooClassifier, x: torch.Tensor, y: torch.Tensor, idx: torch.Tensor,
             gen: torch.Generator) -> tuple[torch.Tensor, dict[str, float]]:
        keep = (torch.rand(x.shape, generator=gen) >= self.mask_ratio).to(x.device, x.dtype)
        x_masked = x * keep
        with eval_mode(model), torch.enable_grad():
            xm = x_masked.detach().clone().requires_grad_(True)
            obj = attack_objective(model(xm), y, None)
            (grad,) = torch.autograd.grad(obj.sum(), xm)
        x_adv = (x + project(self.eps * grad.sign(), x, "linf", self.eps)).detach()
        logits = model(x_adv)
        loss = F.cross_entropy(logits, y)
        if self.first_conv_l2 > 0:
            loss = loss + self.first_conv_l2 * model.net.blocks[0][0].weight.pow(2).sum()
        return loss, {"correct": float((logits.argmax(1) == y).sum())}
