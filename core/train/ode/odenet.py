"""ODENet training as in Yan et al., "On Robustness of Neural Ordinary Differential Equations",
ICLR 2020 (public code ``HanshuYAN/TisODE``, ``mnist/main_ode_gaus.py``): cross-entropy on
images augmented with Gaussian noise, **no adversarial training**.

Noise augmentation (the code's ``add_noise_tensor_random``): each training image, with
probability 0.5, gets x + N(0, σ²) with σ drawn from {50, 75, 100}/255, clipped to [0, 1]; the
others stay clean. The network is :class:`core.models.zoo.ode_net.ODENetwork` (ODENet variant, Euler
step 0.1 on [0, 1]).

Paper defaults: Adam, learning rate 1e-3 (× 0.2 at epochs 30, 60, 90), weight decay 5e-4,
batch 128, 100 epochs on MNIST. Deviations: the zoo's shared budget of
:class:`core.train.common.TrainConfig` (16,000 Fashion-MNIST images, 3 epochs, SGD with
Nesterov momentum, one-cycle learning rate peaking at 0.1), so that the ODE models compare
with the zoo's CNNs under the same budget; the noise comes from the training loop's generator
(repeatable), not from numpy. Cost: 1 pass per step (an ODENet pass is about 6 CNN passes).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from core.models.zoo.net import ZooClassifier
from core.train.common import Recipe

NOISE_P = 0.5
NOISE_LEVELS = (50, 75, 100)  # σ in k/255


def gaussian_augment(x: torch.Tensor, gen: torch.Generator, p: float = NOISE_P,
                     levels: tuple[int, ...] = NOISE_LEVELS) -> torch.Tensor:
    """The paper's noise augmentation: per image, with probability ``p``, x + N(0, σ²) with σ
    uniform over ``levels``/255, clipped to [0, 1]."""
    n = x.shape[0]
    add = torch.rand(n, generator=gen) < p
    sigma = torch.tensor(levels, dtype=x.dtype)[torch.randint(0, len(levels), (n,), generator=gen)] / 255.0
    noise = torch.randn(x.shape, generator=gen, dtype=x.dtype) * (sigma * add)[:, None, None, None]
    return (x + noise.to(x.device)).clamp(0, 1)


class ODENetNoise(Recipe):
    key = "odenet"

    def params(self) -> dict:
        return {"noise_p": NOISE_P, "noise_sigma_255": list(NOISE_LEVELS), "adversarial_training": False}

    def loss(self, model: ZooClassifier, x: torch.Tensor, y: torch.Tensor, idx: torch.Tensor,
             gen: torch.Generator) -> tuple[torch.Tensor, dict[str, float]]:
        logits = model(gaussian_augment(x, gen))
        return F.cross_entropy(logits, y), {"correct": float((logits.argmax(1) == y).sum())}
