"""ObsAtk: the zero-mean, L2-bounded attack on a denoiser's noisy observation.

Paper: Yan, Zhang, Tang, Xie, Zhou, Wang, Luo, *Towards Adversarially Robust Deep Image
Denoising*, IJCAI 2022 (arXiv 2201.04397). For a clean image x and its noisy observation
y = x + n, ObsAtk looks for

    δ* = argmax_{δ ∈ S} ‖f(y + δ) − x‖²₂,   S = {δ : Σ_i δ_i = 0, ‖δ‖₂ ≤ ε},

so the perturbation looks like more zero-mean noise rather than a brightness shift. It is
solved by projected gradient ascent (normalised L2 steps). The projection onto S is exact:
S is a ball centred on the origin intersected with a subspace through the origin, so
Π_S(δ) = scale(δ − mean(δ)) with scale = min(1, ε / ‖δ − mean(δ)‖₂) (the mean over all pixels
and channels of an image).

Steps: δ₀ = 0 (or a random zero-mean start of norm ε/2); for t < T:
g = ∇_δ L, δ ← Π_S(δ + α · g / ‖g‖₂), α = ``step_ratio`` · ε (default 2.5 · ε / T, as
Madry-style L2 PGD). Defaults: T = 10; the paper uses T = 5 for training (HAT) and more for
evaluation. Deviations: ε is given as a per-pixel RMS r (‖δ‖₂ ≤ r·√m with m the number of pixels
of an image), so one number reads the same on any image size; the observation y + δ is *not*
clipped to [0, 1] (the paper does not clip it either: a noisy observation already leaves the box).

``objective``: "mse" (the paper's ‖f(y + δ) − x‖², per image) or any callable
``fn(f_output, x) -> (N,)`` to ascend (the page uses the cross-entropy of a zoo classifier on the
denoised output, to show purification failing end to end).

:func:`random_zero_mean` draws the baseline: Gaussian noise, mean removed, scaled to norm ε.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

Objective = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def l2_budget(eps_rms: float, shape: tuple[int, ...]) -> float:
    """‖δ‖₂ bound for a per-pixel RMS ``eps_rms`` on images of ``shape`` (C, H, W) or (N, C, H, W)."""
    m = math.prod(shape[-3:])
    return float(eps_rms) * math.sqrt(m)


def project_zero_mean_l2(delta: torch.Tensor, eps: float) -> torch.Tensor:
    """Π onto {Σδ = 0, ‖δ‖₂ ≤ eps} per image (exact; see the module docstring)."""
    d = delta - delta.flatten(1).mean(1).view(-1, *([1] * (delta.dim() - 1)))
    norm = d.flatten(1).norm(dim=1).view(-1, *([1] * (delta.dim() - 1)))
    return d * torch.clamp(eps / norm.clamp_min(1e-12), max=1.0)


def random_zero_mean(shape: tuple[int, ...], eps: float, gen: torch.Generator | None = None,
                     device: torch.device | str = "cpu") -> torch.Tensor:
    """Gaussian noise with zero mean per image and L2 norm exactly ``eps``."""
    d = torch.randn(shape, generator=gen, device=device)
    d = d - d.flatten(1).mean(1).view(-1, *([1] * (len(shape) - 1)))
    return d / d.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *([1] * (len(shape) - 1))) * eps


def mse_objective(out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """‖f(y + δ) − x‖²₂ per image."""
    return (out - x).pow(2).flatten(1).sum(1)


class ObsAtk:
    """ObsAtk (see the module docstring)."""

    name = "ObsAtk"
    paper = "Yan et al., Towards Adversarially Robust Deep Image Denoising, IJCAI 2022"

    def __init__(self, eps_rms: float, steps: int = 10, step_ratio: float | None = None,
                 random_start: bool = False, objective: Objective = mse_objective) -> None:
        if eps_rms < 0 or steps < 1:
            raise ValueError("eps_rms must be ≥ 0 and steps ≥ 1")
        self.eps_rms = float(eps_rms)
        self.steps = int(steps)
        self.step_ratio = 2.5 / self.steps if step_ratio is None else float(step_ratio)
        self.random_start = bool(random_start)
        self.objective = objective

    def perturb(self, denoiser: nn.Module, y: torch.Tensor, x: torch.Tensor, *, seed: int = 0) -> torch.Tensor:
        """δ for observations ``y`` of clean images ``x`` (both (N, C, H, W)); zero mean, ‖δ‖₂ ≤ ε."""
        eps = l2_budget(self.eps_rms, tuple(y.shape))
        gen = torch.Generator(device=y.device).manual_seed(int(seed))
        y, x = y.detach(), x.detach()
        delta = (random_zero_mean(tuple(y.shape), eps / 2, gen, y.device) if self.random_start
                 else torch.zeros_like(y))
        if eps == 0:
            return delta
        with torch.enable_grad():
            for _ in range(self.steps):
                delta.requires_grad_(True)
                loss = self.objective(denoiser(y + delta), x)
                (g,) = torch.autograd.grad(loss.sum(), delta)
                g = g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *([1] * (g.dim() - 1)))
                delta = project_zero_mean_l2(delta.detach() + self.step_ratio * eps * g, eps)
        return delta.detach()
