"""TisODE training (Yan et al., "On Robustness of Neural Ordinary Differential Equations",
ICLR 2020; public code ``HanshuYAN/TisODE``, ``mnist/main_tisode_gaus.py``): the time-invariant
neural ODE (f(z), no t input) with the steady-state penalty, trained on Gaussian-noise-augmented
images (:func:`core.train.ode.odenet.gaussian_augment`: p = 0.5, σ ∈ {50, 75, 100}/255), **no
adversarial training**.

Loss = CE(f(x̃), y) + w · L_ss with L_ss = mean over the state's elements of
∫_{0.9T}^{1.5T} |f(z(t))| dt along the trajectory (Euler, step 0.1): how far the state keeps
moving past the end time T = 1, which the paper's steady-state constraint drives to zero
(:meth:`core.models.zoo.ode_net.ODENetwork.forward_steady`; the code's ``TimePeriod 0_0.9_1.0_1.5``,
``euler_abs`` and ``nn.L1Loss`` against zeros), w = 0.01 (the code's ``w_steady``).

Paper defaults: Adam 1e-3, 100 epochs, the penalty switched on after epoch 5, Euler step 0.05.
Deviations: the zoo's shared budget (:class:`core.train.common.TrainConfig`), the penalty on
from the first step, step 0.1 (10 steps to T, 6 more for the penalty window). Cost: 1.5 ODENet
passes per step.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from core.models.zoo.ode_net import STEADY_WINDOW
from core.models.zoo.net import ZooClassifier
from core.train.common import Recipe
from core.train.ode.odenet import NOISE_LEVELS, NOISE_P, gaussian_augment

W_STEADY = 0.01


class TisODE(Recipe):
    key = "tisode"

    def __init__(self, w_steady: float = W_STEADY) -> None:
        self.w_steady = float(w_steady)

    def params(self) -> dict:
        return {"w_steady": self.w_steady, "steady_window": list(STEADY_WINDOW), "noise_p": NOISE_P,
                "noise_sigma_255": list(NOISE_LEVELS), "adversarial_training": False}

    def passes_per_step(self) -> float:
        return 1.5

    def loss(self, model: ZooClassifier, x: torch.Tensor, y: torch.Tensor, idx: torch.Tensor,
             gen: torch.Generator) -> tuple[torch.Tensor, dict[str, float]]:
        logits, steady = model.net.forward_steady(model.normalize(gaussian_augment(x, gen)))
        loss = F.cross_entropy(logits, y) + self.w_steady * steady
        return loss, {"correct": float((logits.argmax(1) == y).sum()), "steady": float(steady.detach())}
