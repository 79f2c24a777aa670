"""LT-NODE training (Anumasa & Srijith, "Latent Time Neural Ordinary Differential Equations",
AAAI 2022): the negative evidence lower bound with a variational Gamma posterior over the ODE's
end time T (:class:`core.models.zoo.lt_node.LTNODENetwork`).

Loss per batch = CE(f_T(x̃), y) with one reparameterised draw T ~ q per image
(``Gamma.rsample``) + KL(q ‖ prior) / N, N the number of training images (the ELBO divided by
N). Images are augmented with the ODE paper's Gaussian noise (:func:`core.train.ode.odenet.
gaussian_augment`: p = 0.5, σ ∈ {50, 75, 100}/255), like ODENet and TisODE here, so that the
three ODE models differ only in the end time; no adversarial training.

Deviations: the zoo's shared budget (:class:`core.train.common.TrainConfig`) instead of the
paper's; the noise augmentation (the LT-NODE paper trains on clean images); one draw of T per
image in training (a one-sample Monte-Carlo ELBO). Cost: 1 ODENet pass per step.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from core.models.zoo.net import ZooClassifier
from core.runtime.progress import ProgressFn
from core.train.common import Recipe
from core.train.ode.odenet import NOISE_LEVELS, NOISE_P, gaussian_augment


class LTNODE(Recipe):
    key = "ltnode"

    def __init__(self) -> None:
        self.n_train = 1

    def params(self) -> dict:
        return {"kl_weight": "1/N (ELBO per image)", "noise_p": NOISE_P, "noise_sigma_255": list(NOISE_LEVELS),
                "adversarial_training": False}

    def prepare(self, model: ZooClassifier, x: torch.Tensor, y: torch.Tensor, progress: ProgressFn = None) -> None:
        self.n_train = int(x.shape[0])

    def loss(self, model: ZooClassifier, x: torch.Tensor, y: torch.Tensor, idx: torch.Tensor,
             gen: torch.Generator) -> tuple[torch.Tensor, dict[str, float]]:
        logits = model(gaussian_augment(x, gen))
        kl = model.net.kl()
        loss = F.cross_entropy(logits, y) + kl / self.n_train
        return loss, {"correct": float((logits.argmax(1) == y).sum()), "kl": float(kl.detach())}
