"""Neural-ODE classifiers of the Fashion-MNIST zoo: ODENet, TisODE and the same ODENet solved by
dopri5 at test time.

Paper: Hanshu Yan, Jiawei Du, Vincent Y. F. Tan, Jiashi Feng, "On Robustness of Neural Ordinary
Differential Equations", ICLR 2020 (public code: ``HanshuYAN/TisODE``, ``mnist/networks.py``).
The paper's MNIST model, followed here:

* stem: conv 1→C 3×3 (no padding, 28 → 26) → GroupNorm → ReLU → conv C→C 4×4 stride 2
  (padding 1, 26 → 13) → GroupNorm → ReLU; GroupNorm with min(32, C) groups, as in the code;
* ODE block dz/dt = f(t, z) with f = conv → GroupNorm → ReLU → conv → GroupNorm → ReLU, two
  C-channel 3×3 convolutions (padding 1). ODENet: each conv sees t as an extra input channel
  (the code's ``ConcatConv2d``, with bias). TisODE: time-invariant f(z), no t channel, convs
  without bias (the code's ``ODEfunc_tisode``);
* solved on [0, T], T = 1, by fixed-step Euler with step 0.1 (10 steps; the code's
  ``step_size`` default 0.1, ``method='euler'``); the state z(T) is the pre-pool map
  (N, C, 13, 13);
* head: global average pooling → linear C → 10.

**Fixed-step Euler** is written here (:func:`euler`): z_{k+1} = z_k + h·f(t_k, z_k),
t_k = t0 + k·h; with torchdiffeq's fixed grid it gives the same numbers. **dopri5** (the
adaptive Dormand–Prince 5(4) solver of ``torchdiffeq.odeint``, autograd through the solver's
operations, not the adjoint) is the test-time variant: the same trained ODENet weights, solved
with the tolerances of the paper's code (``rtol = atol = 1e-3``, ``mnist/options.py``).
torchdiffeq's error norm is taken over the whole batch, so the step sizes (and, to within the
tolerance, the predictions) depend on which images share a batch — as in the paper's code.

**TisODE's steady-state penalty** (:meth:`ODENetwork.forward_steady`), as the public code
computes it (``ODENet_tisode.forward`` with its ``euler_abs`` solver and the training log's
``TimePeriod 0_0.9_1.0_1.5``): the trajectory is continued past T, and the penalty is the mean
over the map's elements of ∫_{0.9T}^{1.5T} |f(z(t))| dt (Euler sums h·|f(z_k)| along the true
trajectory), i.e. how far each element of the state would still move around and after the end
time; the training loss adds 0.01 × this (an L1 loss against zero).

Defaults and deviations:

* C = 16 channels (the paper: 64; 32 was planned, but on the project's shared 2-core CPU an
  ODENet of 32 channels took 4.5 s per training step and its evaluation would not have fitted),
  so the model trains in minutes on one CPU thread: 9,498 parameters (ODENet), about 1/10 of
  the zoo CNN's, at about 1.7× its multiply-adds per image (10 evaluations of f on 13×13 maps);
* TisODE's step is 0.1 like ODENet's (the paper's TisODE: 0.05), so its penalty window
  [0.9, 1.5] takes 6 further Euler steps; the paper switches the penalty on after 5 of 100
  epochs, the recipe here from the first step (:mod:`core.train.ode.tisode`);
* input: [0, 1] images, (N, 1, 28, 28) or (N, 3, 28, 28) averaged to grey, normalised inside
  with the zoo's Fashion-MNIST mean and std (:class:`core.models.zoo.net.ZooClassifier`); the
  paper feeds raw [0, 1] MNIST pixels.
"""
from __future__ import annotations

from typing import Literal
from collections.abc import Callable

import torch
import torchdiffeq
from torch import nn

from core.models.zoo.net import ZooClassifier

Solver = Literal["euler", "dopri5"]
Variant = Literal["odenet", "tisode"]
CHANNELS = 16
END_TIME = 1.0
STEP = 0.1
RTOL = 1e-3  # the paper's code: mnist/options.py
ATOL = 1e-3
STEADY_WINDOW = (0.9, 1.5)  # × T: the penalty's integration window (the paper's training log)
VectorField = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def euler(func: VectorField, z0: torch.Tensor, t0: float | torch.Tensor, h: float | torch.Tensor, steps: int,
          record: bool = False) -> torch.Tensor | list[torch.Tensor]:
    """``steps`` fixed Euler steps z_{k+1} = z_k + h·f(t_k, z_k), t_k = t0 + k·h, from z0.

    ``h`` (and ``t0``) may be a tensor broadcastable to z (one step per image: LT-NODE). Returns
    z_steps, or with ``record`` the list [z_0, …, z_steps]."""
    z = z0
    out = [z0]
    for k in range(int(steps)):
        z = z + h * func(t0 + k * h, z)
        if record:
            out.append(z)
    return out if record else z


def group_norm(channels: int) -> nn.GroupNorm:
    """GroupNorm with min(32, C) groups (the paper's ``norm``)."""
    return nn.GroupNorm(min(32, channels), channels)


class ConcatConv2d(nn.Module):
    """A 3×3 convolution that sees t as an extra constant input channel (the paper's
    ``ConcatConv2d``); ``t`` a number or a tensor broadcastable to (N, 1, H, W)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin + 1, cout, 3, 1, 1, bias=True)

    def forward(self, t: torch.Tensor | float, z: torch.Tensor) -> torch.Tensor:  # noqa: D102
        tt = torch.ones_like(z[:, :1]) * t
        return self.conv(torch.cat([tt, z], 1))


class ODEFunc(nn.Module):
    """f(t, z) = ReLU(GN(conv(ReLU(GN(conv(z)))))), with t as an input channel unless
    ``time_invariant`` (TisODE)."""

    def __init__(self, channels: int, time_invariant: bool = False) -> None:
        super().__init__()
        self.time_invariant = time_invariant
        if time_invariant:
            self.conv1 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
            self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        else:
            self.conv1 = ConcatConv2d(channels, channels)
            self.conv2 = ConcatConv2d(channels, channels)
        self.norm1 = group_norm(channels)
        self.norm2 = group_norm(channels)
        self.relu = nn.ReLU()

    def _conv(self, conv: nn.Module, t: torch.Tensor | float, z: torch.Tensor) -> torch.Tensor:
        return conv(z) if self.time_invariant else conv(t, z)

    def forward(self, t: torch.Tensor | float, z: torch.Tensor) -> torch.Tensor:  # noqa: D102
        out = self.relu(self.norm1(self._conv(self.conv1, t, z)))
        return self.relu(self.norm2(self._conv(self.conv2, t, out)))


def stem(channels: int) -> nn.Sequential:
    """conv 1→C 3×3 (no padding), GN, ReLU, conv C→C 4×4 stride 2 (padding 1), GN, ReLU."""
    return nn.Sequential(nn.Conv2d(1, channels, 3, 1), group_norm(channels), nn.ReLU(),
                         nn.Conv2d(channels, channels, 4, 2, 1), group_norm(channels), nn.ReLU())


class ODENetwork(nn.Module):
    """Stem, ODE block on [0, T], GAP, linear (module docstring). Input: normalised (N, 1, 28, 28)."""

    def __init__(self, variant: Variant = "odenet", solver: Solver = "euler", channels: int = CHANNELS,
                 end_time: float = END_TIME, step: float = STEP, rtol: float = RTOL, atol: float = ATOL,
                 num_classes: int = 10) -> None:
        super().__init__()
        if variant not in ("odenet", "tisode"):
            raise ValueError(f"unknown ODE variant {variant!r}")
        if solver not in ("euler", "dopri5"):
            raise ValueError(f"unknown solver {solver!r}")
        self.variant, self.solver = variant, solver
        self.end_time, self.step, self.rtol, self.atol = float(end_time), float(step), float(rtol), float(atol)
        self.steps = int(round(self.end_time / self.step))
        if abs(self.steps * self.step - self.end_time) > 1e-9:
            raise ValueError("the end time must be a whole number of Euler steps")
        self.config = {"variant": variant, "solver": solver, "channels": channels, "end_time": self.end_time,
                       **({"rtol": self.rtol, "atol": self.atol} if solver == "dopri5"
                          else {"euler_step": self.step, "euler_steps": self.steps})}
        self.stem = stem(channels)
        self.func = ODEFunc(channels, time_invariant=(variant == "tisode"))
        self.fc = nn.Linear(channels, num_classes)

    stage_names = ["stem", "ode"]

    def solve(self, z0: torch.Tensor) -> torch.Tensor:
        """z(T) from z(0) = z0 with this network's solver."""
        if self.solver == "euler":
            return euler(self.func, z0, 0.0, self.step, self.steps)
        t = torch.tensor([0.0, self.end_time], dtype=z0.dtype, device=z0.device)
        return torchdiffeq.odeint(self.func, z0, t, rtol=self.rtol, atol=self.atol, method="dopri5")[-1]

    def forward_features(self, x: torch.Tensor, keep: tuple[str, ...] = ()
                         ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        for k in keep:
            if k not in self.stage_names:
                raise ValueError(f"unknown stage {k!r}; stages: {', '.join(self.stage_names)}")
        z0 = self.stem(x)
        zt = self.solve(z0)
        feats = {"stem": z0, "ode": zt}
        return zt, {k: feats[k] for k in keep}

    def forward_head(self, fmap: torch.Tensor) -> torch.Tensor:
        return self.fc(fmap.mean(dim=(2, 3)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.forward_head(self.forward_features(x)[0])

    def forward_steady(self, x: torch.Tensor, window: tuple[float, float] = STEADY_WINDOW
                       ) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits at T, steady-state penalty): Euler on [0, window[1]·T]; the penalty is the mean
        of Σ h·|f(z_k)| over the steps with t_k in [window[0]·T, window[1]·T) (TisODE's code)."""
        lo, hi = (int(round(w * self.steps)) for w in window)
        z = self.stem(x)
        z_end = z
        penalty = torch.zeros((), dtype=x.dtype, device=x.device)
        for k in range(hi):
            dz = self.func(k * self.step, z)
            if k >= lo:
                penalty = penalty + self.step * dz.abs().mean()
            z = z + self.step * dz
            if k + 1 == self.steps:
                z_end = z
        return self.forward_head(z_end), penalty


def build_ode(variant: Variant = "odenet", solver: Solver = "euler", name: str = "",
              channels: int = CHANNELS) -> ZooClassifier:
    """A freshly initialised ODE zoo model on [0, 1] input (``torch.manual_seed`` first for a fixed init)."""
    return ZooClassifier(ODENetwork(variant, solver, channels), name=name)


__all__ = ["ATOL", "CHANNELS", "ConcatConv2d", "END_TIME", "ODEFunc", "ODENetwork", "RTOL", "STEADY_WINDOW",
           "STEP", "build_ode", "euler", "group_norm", "stem"]
