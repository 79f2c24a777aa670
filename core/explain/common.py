"""Small helpers every map module of :mod:`core.explain` shares: the input on the right device
and dtype, the Gaussian blur, the batch size of the batched maps and the range check of a work
parameter. Kept apart from :mod:`core.explain.saliency` so that the map modules
(:mod:`.perturbation`, :mod:`.jacobian`) and the saliency registry that lists them do not
import each other.
"""
from __future__ import annotations

import math

import torch
from torchvision.transforms.functional import gaussian_blur


def as_float_input(x: torch.Tensor, dev: torch.device) -> torch.Tensor:
    """``x`` detached on ``dev``; float32 unless it already has a float dtype of 32 bits or more."""
    x = x.detach().to(dev)
    return x if x.dtype in (torch.float32, torch.float64) else x.float()


def blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian blur of a batch with standard deviation ``sigma`` px (kernel ±3σ, reflect
    padding, kernel clipped to the image size)."""
    if sigma <= 0:
        return x.clone()
    k = 2 * math.ceil(3 * sigma) + 1
    limit = 2 * ((min(x.shape[-2:]) - 1) // 2) + 1  # reflect padding needs pad < side
    k = max(1, min(k, limit))
    return gaussian_blur(x, [k, k], [sigma, sigma])


def default_batch(dev: torch.device, cuda: int = 32, cpu: int = 4) -> int:
    """Images per forward pass for the batched methods: 4 on the CPU (measured on Lite0 at
    224 px with one thread: 32 ms/image at batch 4, 56 ms/image at batch 16, cache-bound), 32 on
    CUDA."""
    return cuda if dev.type == "cuda" else cpu


def check_range(name: str, value: int | float, lo: int | float, hi: int | float) -> None:
    """Refuse a work parameter outside [lo, hi] (limits live in :mod:`core.runtime.limits`)."""
    if not (lo <= value <= hi):
        raise ValueError(f"{name} must be in [{lo}, {hi}], got {value}")
