"""Standalone neural ODE (sNODE): the whole classifier is one ODE on the image itself, and its
"ResNet analog", for the Fashion-MNIST zoo.

Paper: R. Jaroudi, L. Malý, G. Eilertsen, B. T. Johansson, J. Unger, G. Baravdish, "Standalone
Neural ODEs with Sensitivity Analysis", arXiv 2205.13933 (2022); MATLAB prototype
``malylu/SNODEs_prototype`` (no licence: read to check our reading, nothing copied).

The network. The state is the image: Fashion-MNIST 28×28 averaged over 2×2 blocks to 14×14 and
flattened, x ∈ R¹⁹⁶, scaled as the paper scales its inputs (linearly, background → 0, brightest
foreground → −1: for [0, 1] images x = −pooled image). The dynamics are

    dx/dt = tanh(W(t) x + b(t)),   t ∈ [0, T],   T = 3,

with a full 196×196 matrix W(t) and a bias b(t) at every time, solved by forward Euler with 50
steps per unit time (h = 1/50, 150 steps, each step its own W_k, b_k:
x_{k+1} = x_k + h·tanh(W_k x_k + b_k)). Nothing comes before or after the ODE: the prediction is
the first 10 components of x(T) (argmax = class). 150·196·197 = 5,791,800 parameters.

**ResNet analog** (the paper's comparison model; the prototype's attack script loads it in the
same format as the sNODE, "a ResNet analog, possibly trained by SGD"): our reading is the same
residual form with the usual *discrete* depth instead of a fine time grid — three residual layers
x_{k+1} = x_k + tanh(W_k x_k + b_k) with unit step (the sNODE's T = 3 with one Euler step per
unit time), 196 units each, output again the first 10 components, trained the usual way
(cross-entropy, Adam; :mod:`core.train.snode`). 115,836 parameters (the zoo CNN: 98,682). The
paper's exact depth for its ResNet is not stated in what we could read: this is a choice.

Storage (a deviation, for the project's size limit on shipped files). 5.8 M float32 numbers are
23 MB per model. :class:`SNODENet` therefore keeps its weights as coefficients in a time basis:
``modes`` = number of steps means the identity basis (every step's W_k itself, lossless, used in
training); fewer modes means the first ``modes`` orthonormal DCT-II vectors over the steps, i.e.
the discrete cosine modes cos(πm(k + ½)/K) — exactly the eigenvectors of the Neumann second
difference, so the Sobolev gradient of the paper damps the dropped (high) modes most. A trained
network is projected onto them when it is shipped (:meth:`SNODENet.project`), and every number on
a shipped card is measured on the projected (shipped) network; the card states how well it agrees
with the full one.

Input of the zoo wrapper (:class:`SNODEClassifier`): [0, 1] images (N, 1 or 3, 28, 28), three
channels averaged to grey (as :class:`core.models.zoo.net.ZooClassifier` does); pooling and scaling
happen inside. No named stages, no convolutional map: the family offers saliency only.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from scipy.interpolate import CubicSpline
from torch import nn

from core.models.zoo.net import ZooClassifier

SIDE = 14
STATE = SIDE * SIDE  # 196
CLASSES = 10
END_TIME = 3.0
STEPS_PER_UNIT = 50
STEPS = int(END_TIME * STEPS_PER_UNIT)  # 150
RESNET_STEPS = 3  # the ResNet analog: three unit steps


def to_state(x01: torch.Tensor) -> torch.Tensor:
    """[0, 1] grey images (N, 1, 28, 28) -> paper-scaled states (N, 196): 2×2 average pooling,
    background 0, foreground −1."""
    return -F.avg_pool2d(x01, 2).flatten(1)


def state_to_image(s: torch.Tensor) -> torch.Tensor:
    """States (N, 196) -> the pooled [0, 1] images (N, 1, 14, 14) they stand for."""
    return (-s).reshape(-1, 1, SIDE, SIDE)


def time_basis(steps: int, modes: int) -> torch.Tensor:
    """(steps, modes) orthonormal columns: the identity when modes == steps, else the first
    ``modes`` DCT-II vectors sqrt(c_m/K)·cos(πm(k + ½)/K), c_0 = 1, c_m = 2."""
    if not 1 <= modes <= steps:
        raise ValueError(f"modes must be in 1..{steps}, got {modes}")
    if modes == steps:
        return torch.eye(steps)
    k = torch.arange(steps, dtype=torch.float64)[:, None] + 0.5
    m = torch.arange(modes, dtype=torch.float64)[None, :]
    basis = torch.cos(math.pi * m * k / steps) * math.sqrt(2.0 / steps)
    basis[:, 0] = math.sqrt(1.0 / steps)
    return basis.float()


def euler(x: torch.Tensor, W: torch.Tensor, b: torch.Tensor, h: float) -> torch.Tensor:
    """x(T) of x_{k+1} = x_k + h·tanh(W_k x_k + b_k) from x (N, D); W (K, D, D), b (K, D)."""
    for k in range(W.shape[0]):
        x = x + h * torch.tanh(x @ W[k].T + b[k])
    return x


class FirstComponents(nn.Module):
    """The sNODE's read-out: the first ``k`` components of x(T) as the logits. A fixed linear map with no
    parameters, marked ``linear_head`` so that the binarization test (core/evaluation/audit/binarization.py)
    finds x(T) as the features it fits its readout on, as it finds the input of a final nn.Linear."""

    linear_head = True

    def __init__(self, k: int) -> None:
        super().__init__()
        self.k = int(k)

    def forward(self, state: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return state[:, :self.k]


class SNODENet(nn.Module):
    """The sNODE (or, with ``steps`` = 3 and ``end_time`` = 3, the ResNet analog) on paper-scaled
    states; ``forward`` takes [0, 1] grey images (N, 1, 28, 28) and returns the 10 outputs."""

    def __init__(self, steps: int = STEPS, end_time: float = END_TIME, modes: int | None = None,
                 dim: int = STATE, num_classes: int = CLASSES) -> None:
        super().__init__()
        modes = steps if modes is None else int(modes)
        self.steps, self.end_time, self.modes, self.dim = int(steps), float(end_time), modes, int(dim)
        self.h = self.end_time / self.steps
        self.num_classes = num_classes
        self.head = FirstComponents(num_classes)
        self.coef_w = nn.Parameter(torch.zeros(modes, dim, dim))
        self.coef_b = nn.Parameter(torch.zeros(modes, dim))
        self.register_buffer("basis", time_basis(self.steps, modes), persistent=False)
        self.config = {"state": dim, "end_time": self.end_time, "euler_steps": self.steps, "euler_step": self.h,
                       "activation": "tanh", "output": f"first {num_classes} components of x(T)",
                       "time_modes": modes, "time_basis": "identity (per-step weights)" if modes == steps
                       else f"first {modes} DCT-II cosine modes over the {self.steps} steps"}

    @property
    def stage_names(self) -> list[str]:
        return []

    def weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The per-step (W (K, D, D), b (K, D))."""
        if self.modes == self.steps:
            return self.coef_w, self.coef_b
        return (torch.einsum("km,mij->kij", self.basis, self.coef_w),
                torch.einsum("km,mi->ki", self.basis, self.coef_b))

    @torch.no_grad()
    def project(self, W: torch.Tensor, b: torch.Tensor) -> None:
        """Set the coefficients to the least-squares projection of per-step weights (K, D, D), (K, D)."""
        if W.shape != (self.steps, self.dim, self.dim) or b.shape != (self.steps, self.dim):
            raise ValueError("W must be (steps, D, D) and b (steps, D)")
        B = self.basis.to(W)
        self.coef_w.copy_(torch.einsum("km,kij->mij", B, W))
        self.coef_b.copy_(torch.einsum("km,ki->mi", B, b))

    def final_state(self, s: torch.Tensor) -> torch.Tensor:
        """x(T) (N, D) from paper-scaled states s (N, D)."""
        W, b = self.weights()
        return euler(s, W, b, self.h)

    def forward_train(self, x: torch.Tensor, y: torch.Tensor | None = None):
        """(outputs, no probes, {"state": x(T)}) — the zoo recipes' interface."""
        xt = self.final_state(to_state(x))
        return self.head(xt), [], {"state": xt}

    def forward_features(self, x: torch.Tensor, keep: tuple[str, ...] = ()):
        raise RuntimeError("an sNODE has no convolutional feature map (no channel views)")

    def forward_head(self, fmap: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("an sNODE has no convolutional feature map (no channel views)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.head(self.final_state(to_state(x)))


def init_snode_(net: SNODENet, generator: torch.Generator, std: float | None = None) -> None:
    """The prototype's initialisation as we read it: W, b drawn N(0, std²) (std = 1/D) at the
    integer times 0, 1, …, T and interpolated in time by a cubic spline to the step times k·h."""
    std = 1.0 / net.dim if std is None else std
    knots = int(round(net.end_time)) + 1
    kw = torch.randn(knots, net.dim * net.dim + net.dim, generator=generator, dtype=torch.float64) * std
    t = torch.arange(net.steps, dtype=torch.float64).numpy() * net.h
    vals = torch.from_numpy(CubicSpline(range(knots), kw.numpy(), axis=0)(t)).float()
    net.project(vals[:, :net.dim * net.dim].reshape(net.steps, net.dim, net.dim), vals[:, net.dim * net.dim:])


def init_resnet_(net: SNODENet, generator: torch.Generator) -> None:
    """nn.Linear's default initialisation per layer: U(−1/√D, 1/√D) for W and b."""
    a = 1.0 / math.sqrt(net.dim)
    W = (torch.rand(net.steps, net.dim, net.dim, generator=generator) * 2 - 1) * a
    b = (torch.rand(net.steps, net.dim, generator=generator) * 2 - 1) * a
    net.project(W, b)


class SNODEClassifier(ZooClassifier):
    """An :class:`SNODENet` on the zoo's [0, 1] input (N, 1 or 3, 28, 28); no normalisation
    besides the grey average (the net pools and scales)."""

    def normalize(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        if x.dim() != 4 or x.shape[1] not in (1, 3) or tuple(x.shape[2:]) != (28, 28):
            raise ValueError(f"sNODE zoo models take (N, 1 or 3, 28, 28) input, got {tuple(x.shape)}")
        return x.mean(dim=1, keepdim=True) if x.shape[1] == 3 else x

    @property
    def classifier_weight(self) -> torch.Tensor:
        raise RuntimeError("an sNODE has no linear classifier head")


def build_snode(name: str = "", modes: int | None = None, steps: int = STEPS) -> SNODEClassifier:
    """An sNODE (T = 3, 150 Euler steps) with zero weights; ``modes``: time modes kept (see module)."""
    return SNODEClassifier(SNODENet(steps, END_TIME, modes), name=name)


def build_resnet_analog(name: str = "") -> SNODEClassifier:
    """The ResNet analog: three unit residual layers x + tanh(Wx + b), zero weights."""
    return SNODEClassifier(SNODENet(RESNET_STEPS, END_TIME), name=name)
