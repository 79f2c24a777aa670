"""PNODE: the prototype few-shot segmenter with a neural-ODE block after its encoder.

Paper: Prashant Pandey, Mustafa Chasmai, Tanuj Sur, Brejesh Lall, "Adversarially Robust
Prototypical Few-shot Segmentation with Neural-ODEs", MICCAI 2022 (arXiv 2210.03429); the public
code of its sequel R-PNODE (``rpnode-fss/RPNODE_FSS``, ``models/ode.py``, MIT) defines the block:

* the encoder of :mod:`core.models.fewshot.proto` gives h(0); the ODE block, shared by support and
  query, integrates dh/dt = f(t, h) on [0, ``END_TIME``] = [0, 4] and h(4) replaces the features;
  prototypes and the cosine decoder are PANet's;
* f (the code's ``ODEfunc`` with ``n_layers = 3``): GroupNorm, then three times [ReLU → 3×3
  convolution on concat(t, h) (``ConcatConv2d``, bias) → GroupNorm]; GroupNorm with min(32, C) groups;
* the code solves it with torchdiffeq's adaptive dopri5, ``rtol = atol = 1e-3``, gradients by
  autograd through the solver (no adjoint), in training and in the attacks.

Solvers here: **training** uses a fixed-step classical Runge–Kutta 4 written here (:func:`rk4`,
``STEP`` = 1, 4 steps, 16 evaluations of f): a fixed cost per training step on the CPU and a
gradient that is the exact derivative of the computed output. The **test-time variant**
``solver = "dopri5"`` runs the same weights through ``torchdiffeq.odeint(method="dopri5")`` at the
public code's tolerances (``RTOL = ATOL = 1e-3``), which is how the paper's models were trained and
attacked. torchdiffeq's error norm is taken over the whole batch, so the dopri5 step sizes depend
on which episodes share a batch, as in the paper's code.

Deviations: C = 32 channels at 1/8 resolution (the paper: 512, VGG-16); trained with RK4
instead of dopri5 (deviation for CPU time; the dopri5 variant is checked against it on the test
episodes, see the tests and the card).
"""
from __future__ import annotations

import copy
from typing import Literal
from collections.abc import Callable

import torch
import torchdiffeq
from torch import nn

from core.models.fewshot.proto import CHANNELS, SCALE, PrototypeSeg

Solver = Literal["rk4", "dopri5"]
END_TIME = 4.0
STEP = 1.0
RTOL = 1e-3  # the public code's ODEBlock.tol
ATOL = 1e-3
VectorField = Callable[[float | torch.Tensor, torch.Tensor], torch.Tensor]


def rk4(func: VectorField, z0: torch.Tensor, t0: float, h: float, steps: int) -> torch.Tensor:
    """``steps`` classical Runge–Kutta-4 steps of size ``h`` from z(t0) = z0:
    k1 = f(t, z), k2 = f(t + h/2, z + h/2·k1), k3 = f(t + h/2, z + h/2·k2), k4 = f(t + h, z + h·k3),
    z ← z + h/6·(k1 + 2k2 + 2k3 + k4)."""
    z = z0
    for k in range(int(steps)):
        t = t0 + k * h
        k1 = func(t, z)
        k2 = func(t + h / 2, z + h / 2 * k1)
        k3 = func(t + h / 2, z + h / 2 * k2)
        k4 = func(t + h, z + h * k3)
        z = z + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return z


class ConcatConv2d(nn.Module):
    """3×3 convolution (bias) on concat(t, h): t enters as a constant extra channel."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin + 1, cout, 3, 1, 1, bias=True)

    def forward(self, t: float | torch.Tensor, z: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.conv(torch.cat([torch.ones_like(z[:, :1]) * t, z], 1))


class PNODEFunc(nn.Module):
    """f(t, h) = GN(conv(t, ReLU(GN(conv(t, ReLU(GN(conv(t, ReLU(GN(h))))))))), the public code's ODEfunc."""

    def __init__(self, channels: int, layers: int = 3) -> None:
        super().__init__()
        self.norm_in = nn.GroupNorm(min(32, channels), channels)
        self.convs = nn.ModuleList([ConcatConv2d(channels, channels) for _ in range(layers)])
        self.norms = nn.ModuleList([nn.GroupNorm(min(32, channels), channels) for _ in range(layers)])
        self.nfe = 0

    def forward(self, t: float | torch.Tensor, h: torch.Tensor) -> torch.Tensor:  # noqa: D102
        self.nfe += 1
        out = self.norm_in(h)
        for conv, norm in zip(self.convs, self.norms):
            out = norm(conv(t, torch.relu(out)))
        return out


class PNODE(PrototypeSeg):
    """Encoder → ODE block on [0, 4] → PANet prototypes and cosine decoder (module docstring)."""

    kind = "pnode"

    def __init__(self, channels: int = CHANNELS, scale: float = SCALE, solver: Solver = "rk4",
                 end_time: float = END_TIME, step: float = STEP, rtol: float = RTOL, atol: float = ATOL) -> None:
        super().__init__(channels, scale)
        if solver not in ("rk4", "dopri5"):
            raise ValueError(f"unknown solver {solver!r}")
        self.solver, self.end_time, self.step = solver, float(end_time), float(step)
        self.rtol, self.atol = float(rtol), float(atol)
        self.steps = int(round(self.end_time / self.step))
        self.func = PNODEFunc(channels)

    def solve(self, h0: torch.Tensor) -> torch.Tensor:
        """h(T) from h(0) = h0 with this model's solver."""
        if self.solver == "rk4":
            return rk4(self.func, h0, 0.0, self.step, self.steps)
        t = torch.tensor([0.0, self.end_time], dtype=h0.dtype, device=h0.device)
        return torchdiffeq.odeint(self.func, h0, t, rtol=self.rtol, atol=self.atol, method="dopri5")[-1]

    def features(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.solve(super().features(x))

    def with_solver(self, solver: Solver, rtol: float = RTOL, atol: float = ATOL, step: float | None = None) -> PNODE:
        """A shallow copy sharing this model's weights, solved by ``solver`` (eval mode kept)."""
        other = copy.copy(self)
        other._modules = dict(self._modules)  # the same submodules (weights shared), own attributes
        other.solver, other.rtol, other.atol = solver, float(rtol), float(atol)
        if step is not None:
            other.step = float(step)
            other.steps = int(round(self.end_time / other.step))
        return other


__all__ = ["ATOL", "END_TIME", "PNODE", "PNODEFunc", "RTOL", "STEP", "rk4"]
