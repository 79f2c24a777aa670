"""A small DnCNN-style residual denoiser for 28×28 grey Fashion-MNIST images.

Architecture after Zhang, Zuo, Chen, Meng, Zhang, *Beyond a Gaussian Denoiser: Residual Learning
of Deep CNN for Image Denoising*, IEEE TIP 26(7), 2017: conv 3×3 + ReLU, then (depth − 2) ×
(conv 3×3 + batch norm + ReLU), then conv 3×3 to one channel; the network predicts the noise
(residual learning) and the output is y − net(y). Deviations: depth 6 and 24 channels instead of
17 and 64 (for a CPU; 21,385 parameters, ``count_parameters`` in :mod:`core.models.dense.unet`),
the output clipped to [0, 1].

Input and output: float images (N, 1, 28, 28) in [0, 1] (three channels are averaged to one
first, as the zoo classifiers do). Trained by ``tools/train_denoiser.py`` at σ = 25/255
(:mod:`core.train.denoiser`): the plain model and its hybrid-adversarially-trained twin (HAT).
"""
from __future__ import annotations

import torch
from torch import nn

from core.models.wrappers import ReadOnlyMixin

DEPTH, WIDTH = 6, 24


class DnCNN(ReadOnlyMixin, nn.Module):
    """The residual denoiser (see the module docstring)."""

    def __init__(self, depth: int = DEPTH, width: int = WIDTH, name: str = "") -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(1, width, 3, padding=1), nn.ReLU(inplace=True)]
        for _ in range(depth - 2):
            layers += [nn.Conv2d(width, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
        layers.append(nn.Conv2d(width, 1, 3, padding=1))
        self.body = nn.Sequential(*layers)
        self.name = name

    def noise(self, y: torch.Tensor) -> torch.Tensor:
        """The predicted noise of a (N, 1, H, W) observation."""
        return self.body(y)

    def forward(self, y: torch.Tensor) -> torch.Tensor:  # noqa: D102
        if y.shape[1] == 3:
            y = y.mean(1, keepdim=True)
        return (y - self.body(y)).clamp(0, 1)


def build_dncnn(state_dict: dict[str, torch.Tensor], name: str = "") -> DnCNN:
    """A DnCNN with ``state_dict`` loaded strictly, in eval mode."""
    model = DnCNN(name=name)
    model.load_state_dict(state_dict, strict=True)
    return model.eval()
