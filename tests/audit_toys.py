"""Tiny hand-made models for the audit, ensemble and Square tests.

* :func:`toy_data`: 4 classes of 3×8×8 images, x = 0.5 + a·p_c + small noise, the patterns
  p_c ∈ {±1}^(3·8·8) random and fixed, the contrast a uniform in [0.05, 0.3] per image (so an
  image needs roughly ε > a to be flipped); labels 0..3.
* :class:`LinearToy`: logits = P·(x − 0.5) (an honest linear model: for a linear model one
  signed-gradient step is the exact L∞ worst case, so gradient attacks are optimal on it and no
  transfer or gradient-free attack can beat them). Robust at ε = 0.05 (the margins are large),
  not at ε = 0.5.
* :class:`QuantisedToy`: the same model behind a rounding of the input to 4 grey levels
  (``torch.round``): the same decisions up to rounding, but a zero input gradient everywhere,
  the textbook case of gradient masking (Athalye et al. 2018, "shattered gradients").
"""
from __future__ import annotations

import torch
from torch import nn

C, H, W, K = 3, 8, 8, 4


def patterns(seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 2, (K, C * H * W), generator=g).float() * 2 - 1


def toy_data(n: int = 40, seed: int = 1, lo: float = 0.05, hi: float = 0.3) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % K
    p = patterns()
    a = lo + (hi - lo) * torch.rand(n, 1, 1, 1, generator=g)
    x = 0.5 + a * p[y].view(n, C, H, W) + 0.02 * torch.randn(n, C, H, W, generator=g)
    return x.clamp(0, 1), y


def linear_robust(model: LinearToy, x: torch.Tensor, y: torch.Tensor, eps: float) -> torch.Tensor:
    """Exact L∞ robustness of a linear model (no attack): the worst point of the box
    [max(x − ε, 0), min(x + ε, 1)] for each margin z_y − z_o is a corner chosen coordinate by
    coordinate; robust iff every worst-case margin is positive (and the clean image is correct)."""
    w = model.lin.weight.detach() * model.scale
    lo, hi = (x - eps).clamp(0, 1).flatten(1), (x + eps).clamp(0, 1).flatten(1)
    ok = torch.ones(x.shape[0], dtype=torch.bool)
    for o in range(K):
        d = w[y] - w[o]  # (N, D): margin z_y − z_o = d·(x − 0.5)
        worst = torch.where(d > 0, lo, hi)
        m = (d * (worst - 0.5)).sum(1)
        ok &= (m > 0) | (y == o)
    return ok


class LinearToy(nn.Module):
    def __init__(self, noise: float = 0.0, seed: int = 0) -> None:
        super().__init__()
        w = patterns()
        if noise:
            g = torch.Generator().manual_seed(seed + 100)
            w = w + noise * torch.randn(w.shape, generator=g)
        self.lin = nn.Linear(C * H * W, K, bias=False)
        with torch.no_grad():
            self.lin.weight.copy_(w / (C * H * W) ** 0.5)
        self.eval()

    scale = 4.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin((x - 0.5).flatten(1)) * self.scale


class QuantisedToy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.inner = LinearToy()
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(torch.round(x * 3) / 3)
