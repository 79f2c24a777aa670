"""CIFS — Channel-wise Importance-based Feature Selection (Yan, J. Zhang, Niu, Feng, Tan,
Sugiyama, ICML 2021; ``HanshuYAN/CIFS``, ``models/nets/resnet_CIFS.py``), trained with PGD-AT.

Architecture: the zoo network with a CIFS module after block 3 (64 channels, non-linear probe
Linear(64, 32) → Softplus(β = 5) → Linear(32, 10)) and after block 4 (128 channels, linear
probe), as the paper puts one after each of the two layer4 blocks of ResNet-18 (non-linear
first, linear second). Probe, relevance, and mask: see :class:`core.models.zoo.net.CIFSModule`.

Loss (the paper's, with L = 2 probes and β = 2):

    L = 3/(β+1) · [ CE(final) + (β/L) · Σ_l CE(probe_l) ]

on PGD adversarial examples (Madry-style: the model is trained on the adversarial batch only).

Paper defaults: PGD-10 of 2/255 at ε = 8/255 with random start, where the attacker maximises
the same joint loss; SGD lr 0.1, 120 epochs. Zoo defaults and deviations:

* the zoo's shared budget; ε = 0.1, **PGD-5** of 0.05 with random start (as the PGD-AT model);
* the training attacker (:class:`core.attacks.pgd.PGD`, model in eval mode) maximises the CE of
  the *final* logits only, with the test-time mask (top-2 of the probe), not the joint loss;
* mask m = C·softmax(g) instead of softmax(g) (keeps the mean multiplier at 1);
* the probe's hidden width is 32 (paper: 128 for 512 channels).

Like the paper's model, the mask is computed from a detached copy of the features, so an
attacker's gradient flows through z ⊙ m with m held constant. Cost: about 6 passes per step.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from core.models.zoo.net import ZooClassifier
from core.train.common import EPS, Recipe
from core.train.adversarial.pgd_at import pgd_examples


def cifs_loss(logits: torch.Tensor, probes: list[torch.Tensor], y: torch.Tensor, beta: float = 2.0) -> torch.Tensor:
    """3/(β+1)·[CE(final) + (β/L)·Σ_l CE(probe_l)]."""
    n = len(probes)
    probe_ce = sum(F.cross_entropy(p, y) for p in probes) if n else torch.zeros((), device=logits.device)
    return 3.0 / (beta + 1.0) * (F.cross_entropy(logits, y) + (beta / max(n, 1)) * probe_ce)


class CIFS(Recipe):
    key = "cifs"

    def __init__(self, eps: float = EPS, steps: int = 5, beta: float = 2.0, step: float | None = None) -> None:
        self.eps, self.steps, self.beta = float(eps), int(steps), float(beta)
        self.step = float(step) if step is not None else 2.5 * self.eps / self.steps

    def params(self) -> dict:
        return {"eps": self.eps, "steps": self.steps, "step": self.step, "beta": self.beta, "probes": 2,
                "probe_hidden": 32, "mask": "C·softmax(g)", "attack_objective": "CE of the final logits"}

    def passes_per_step(self) -> float:
        return self.steps + 1.0

    def loss(self, model: ZooClassifier, x: torch.Tensor, y: torch.Tensor, idx: torch.Tensor,
             gen: torch.Generator) -> tuple[torch.Tensor, dict[str, float]]:
        x_adv = pgd_examples(model, x, y, gen, self.eps, self.steps, self.step)
        logits, probes, _ = model.forward_train(x_adv, y)
        return cifs_loss(logits, probes, y, self.beta), {"correct": float((logits.argmax(1) == y).sum())}
