"""The zoo's kernel family ("ntk"): a kernel-regression classifier over a small support set, with
the closed-form neural tangent kernel of an infinitely wide fully connected ReLU network.

Kernel (Jacot, Gabriel, Hongler, "Neural Tangent Kernel", NeurIPS 2018; the ReLU closed forms
are the arc-cosine kernels of Cho & Saul, NeurIPS 2009; the recursion as in Arora et al., "On
Exact Computation with an Infinitely Wide Neural Net", NeurIPS 2019, and the ``neural_tangents``
``stax.Dense``/``stax.Relu`` layers). For a network with ``depth`` hidden ReLU layers in the NTK
parameterisation (weights N(0, 1), each layer's output scaled by σ_w/√fan_in, biases σ_b·N(0, 1)):

    Σ¹(x, x') = σ_w²·⟨x, x'⟩/d + σ_b²,                         Θ¹ = Σ¹
    for l = 2 … depth + 1, with c = Σ^{l−1}(x, x')/√(Σ^{l−1}(x, x)·Σ^{l−1}(x', x')), θ = arccos c:
      Σ^l(x, x')  = σ_w²·√(Σ^{l−1}(x, x)·Σ^{l−1}(x', x'))·(sin θ + (π − θ)·c)/(2π) + σ_b²
      Σ̇^l(x, x')  = σ_w²·(π − θ)/(2π)
      Θ^l         = Θ^{l−1}·Σ̇^l + Σ^l
    NTK(x, x') = Θ^{depth+1}(x, x')

(tests/train/test_zoo_recipes_extra.py checks it against the empirical NTK of finite, wide networks).
Inputs are the normalised grey pixels ((x − 0.2860)/0.3530, Fashion-MNIST's training mean/std),
flattened (d = 784); three-channel input is averaged to grey first, as for the CNN.

Classifier (:class:`NTKRegressor`): kernel ridge regression on the support set,

    f(x) = NTK(x, X_s) · α,   α = (NTK(X_s, X_s) + λ·(tr/S)·I)⁻¹ · Y_s,

with support images X_s (S, 1, 28, 28) in [0, 1], targets Y_s (S, 10) (one-hot minus 1/10) and the
coefficients α stored in the state dict; the outputs f(x) are the logits (argmax = prediction).
The support images are an ``nn.Parameter`` — they are what training learns (dataset distillation,
:mod:`core.train.kernel_distill`), and like every zoo model's weights they are frozen when loaded
— the targets and α are persistent buffers. Defaults: S = 300 (30 per class), depth 2, σ_w² = 2,
σ_b² = 0.1, λ = 1e-3 (relative to the mean diagonal). arccos is evaluated on c clamped to
[−1 + 1e-6, 1 − 1e-6] so that its gradient stays finite at x = x'.

Views: input-gradient saliency only — there is no convolutional map, no channels and no stages.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from core.models.wrappers import ReadOnlyMixin
from core.models.zoo.net import FMNIST_CLASSES, FMNIST_MEAN, FMNIST_STD

SUPPORT = 300
DEPTH = 2
SIGMA_W2 = 2.0
SIGMA_B2 = 0.1
RIDGE = 1e-3
_CLAMP = 1e-6


def _relu_step(cov: torch.Tensor, diag_a: torch.Tensor, diag_b: torch.Tensor, sigma_w2: float, sigma_b2: float
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """One ReLU layer of the recursion: (Σ^l, Σ̇^l, new diag of a, new diag of b)."""
    norm = torch.sqrt(diag_a[:, None] * diag_b[None, :])
    c = (cov / norm).clamp(-1 + _CLAMP, 1 - _CLAMP)
    theta = torch.arccos(c)
    sigma = sigma_w2 * norm * (torch.sin(theta) + (math.pi - theta) * c) / (2 * math.pi) + sigma_b2
    sigma_dot = sigma_w2 * (math.pi - theta) / (2 * math.pi)
    # the diagonal: θ = 0, so E[relu(u)²] = Σ(x, x)/2
    return sigma, sigma_dot, sigma_w2 * diag_a / 2 + sigma_b2, sigma_w2 * diag_b / 2 + sigma_b2


def ntk(a: torch.Tensor, b: torch.Tensor, depth: int = DEPTH, sigma_w2: float = SIGMA_W2,
        sigma_b2: float = SIGMA_B2) -> torch.Tensor:
    """The closed-form NTK (N, M) between the rows of ``a`` (N, d) and ``b`` (M, d) of a fully
    connected ReLU network with ``depth`` hidden layers (module docstring)."""
    d = a.shape[1]
    cov = sigma_w2 * (a @ b.T) / d + sigma_b2
    da = sigma_w2 * a.pow(2).sum(1) / d + sigma_b2
    db = sigma_w2 * b.pow(2).sum(1) / d + sigma_b2
    theta = cov
    for _ in range(depth):
        cov, dot, da, db = _relu_step(cov, da, db, sigma_w2, sigma_b2)
        theta = theta * dot + cov
    return theta


def nngp(a: torch.Tensor, b: torch.Tensor, depth: int = DEPTH, sigma_w2: float = SIGMA_W2,
         sigma_b2: float = SIGMA_B2) -> torch.Tensor:
    """The output covariance Σ^{depth+1} (the NNGP kernel) of the same network."""
    d = a.shape[1]
    cov = sigma_w2 * (a @ b.T) / d + sigma_b2
    da = sigma_w2 * a.pow(2).sum(1) / d + sigma_b2
    db = sigma_w2 * b.pow(2).sum(1) / d + sigma_b2
    for _ in range(depth):
        cov, _, da, db = _relu_step(cov, da, db, sigma_w2, sigma_b2)
    return cov


def ridge_coefficients(k_ss: torch.Tensor, targets: torch.Tensor, ridge: float = RIDGE) -> torch.Tensor:
    """α = (K + λ·(tr K / S)·I)⁻¹ Y (differentiable in K)."""
    s = k_ss.shape[0]
    reg = ridge * torch.diagonal(k_ss).mean()
    return torch.linalg.solve(k_ss + reg * torch.eye(s, dtype=k_ss.dtype, device=k_ss.device), targets)


def one_hot_targets(labels: torch.Tensor, num_classes: int = 10) -> torch.Tensor:
    """One-hot labels minus 1/C (centred regression targets)."""
    return torch.nn.functional.one_hot(labels, num_classes).float() - 1.0 / num_classes


class NTKMachine(nn.Module):
    """The kernel machine on normalised, flattened input (the ``net`` of :class:`NTKRegressor`)."""

    def __init__(self, support_size: int = SUPPORT, depth: int = DEPTH, sigma_w2: float = SIGMA_W2,
                 sigma_b2: float = SIGMA_B2, ridge: float = RIDGE, num_classes: int = 10) -> None:
        super().__init__()
        self.depth, self.sigma_w2, self.sigma_b2, self.ridge = int(depth), float(sigma_w2), float(sigma_b2), float(ridge)
        self.support = nn.Parameter(torch.zeros(support_size, 1, 28, 28))  # [0, 1] pixels
        self.register_buffer("targets", torch.zeros(support_size, num_classes))
        self.register_buffer("coef", torch.zeros(support_size, num_classes))
        self.config = {"kernel": "NTK of a fully connected ReLU network (closed form)", "depth": self.depth,
                       "sigma_w2": self.sigma_w2, "sigma_b2": self.sigma_b2, "ridge": self.ridge,
                       "support_size": int(support_size)}

    @staticmethod
    def features(x: torch.Tensor) -> torch.Tensor:
        """[0, 1] grey images (N, 1, H, W) → normalised, flattened rows (N, H·W)."""
        return ((x - FMNIST_MEAN) / FMNIST_STD).flatten(1)

    def kernel(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """NTK between two batches of [0, 1] grey images."""
        return ntk(self.features(a), self.features(b), self.depth, self.sigma_w2, self.sigma_b2)

    def fit_coefficients(self) -> None:
        """Recompute α from the current support set and targets."""
        with torch.no_grad():
            self.coef.copy_(ridge_coefficients(self.kernel(self.support, self.support), self.targets, self.ridge))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.kernel(x, self.support) @ self.coef


class NTKRegressor(ReadOnlyMixin, nn.Module):
    """A zoo classifier on [0, 1] input (N, 1 or 3, 28, 28): kernel regression over the support set.

    ``forward_train(x, y)`` returns (logits, [], {}) like the CNN's (no probes, no stage maps)."""

    fused_copy = None

    def __init__(self, net: NTKMachine, name: str = "") -> None:
        super().__init__()
        self.net = net
        self.name = name
        self.input_size = 28
        self.class_names = list(FMNIST_CLASSES)

    @staticmethod
    def grey(x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] not in (1, 3):
            raise ValueError(f"zoo models take (N, 1 or 3, H, W) input, got {tuple(x.shape)}")
        return x.mean(dim=1, keepdim=True) if x.shape[1] == 3 else x

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.net(self.grey(x))

    def forward_train(self, x: torch.Tensor, y: torch.Tensor | None = None):
        """(logits, [], {}): the interface of the CNN's ``forward_train``."""
        return self(x), [], {}


def build_kernel_model(support_size: int = SUPPORT, depth: int = DEPTH, sigma_w2: float = SIGMA_W2,
                       sigma_b2: float = SIGMA_B2, ridge: float = RIDGE, name: str = "") -> NTKRegressor:
    """An empty kernel classifier (support images, targets and α all zero until trained or loaded)."""
    return NTKRegressor(NTKMachine(support_size, depth, sigma_w2, sigma_b2, ridge), name=name)
