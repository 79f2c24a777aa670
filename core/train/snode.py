"""Training a standalone neural ODE by nonlinear conjugate gradients with Sobolev gradients and a
step size from the sensitivity problem; the plain-Adam control and the ResNet analog.

Paper: R. Jaroudi, L. Malý, G. Eilertsen, B. T. Johansson, J. Unger, G. Baravdish, "Standalone
Neural ODEs with Sensitivity Analysis", arXiv 2205.13933 (2022); the network is
:mod:`core.models.zoo.snode` (x_{k+1} = x_k + h·tanh(W_k x_k + b_k), 150 steps, h = 1/50).

What the paper's method does, as implemented here (per mini-batch of B images, states x_0, targets
y = one-hot class padded with zeros to 196 values):

* **Loss** E = (1/2B) Σ ‖x(T) − y‖² (the prototype divides the squared error by the batch size).
* **Adjoint gradient** (:func:`adjoint_gradient`): λ_K = (x_K − y)/B, and backwards
  s_k = h·σ′(z_k) ⊙ λ_{k+1}, λ_k = λ_{k+1} + W_kᵀ s_k, with z_k = W_k x_k + b_k; ∂E/∂W_k = s_k x_kᵀ,
  ∂E/∂b_k = s_k (summed over the batch). This is the exact adjoint of the Euler scheme (the
  discrete gradient, equal to autograd's; tested), the paper's continuous adjoint discretised so.
* **Sobolev gradient** (:func:`green_matrix`, :func:`sobolev`): the L² gradient density
  u(t) = (∂E/∂W_k)/h is mapped to v = (I − ∂ₜ²)⁻¹u with Neumann conditions v′(0) = v′(T) = 0, i.e.
  v(t) = ∫₀ᵀ G(t, s) u(s) ds with G(t, s) = cosh(T − max(s, t))·cosh(min(s, t)) / sinh T, evaluated
  at the step midpoints t_k = (k + ½)h by the midpoint rule: a precomputed K×K matrix applied to
  every weight's time series at once.
* **Nonlinear CG, Fletcher–Reeves, restarted every mini-batch**: d = −v + γ·d_prev with
  γ = ‖v‖²/‖v_prev‖² (plain sums of squares over all W and b, as in the prototype), γ = 0 at the
  first of the ``iterations`` = 6 iterations on each batch.
* **Step size from the sensitivity problem** (:func:`sensitivity`): ξ′ = σ′(Wx + b) ⊙ (Wξ + δW·x +
  δb), ξ(0) = 0 (Euler, the exact directional derivative of x(T) along d = (δW, δb)); then the 1-D
  equation for η, d/dη (1/2B) Σ ‖x(T) + ηξ(T) − y‖² = 0, which for this squared loss is linear:
  η = −⟨ξ(T), x(T) − y⟩/‖ξ(T)‖² (the prototype solves the same equation with a root finder; the
  closed form is its exact root). W ← W + η·δW, b ← b + η·δb.

Paper defaults: batch 100, 6 iterations per batch, 10 epochs over the 60,000 training images,
T = 3, 50 Euler steps per unit time, initialisation N(0, 1/196²) at t = 0…3 spline-interpolated
(:func:`core.models.zoo.snode.init_snode_`). **Deviation for this CPU**: the tool trains on fewer
images and epochs (``images``, ``epochs`` below; the card states the values used).

Controls (same data, batches, epochs and seed):

* :func:`train_adam` — the *same* network, loss and initialisation, trained by plain Adam
  (lr 1e-3, autograd gradients), 6 steps per batch like NCG's 6 iterations (the same number of
  gradient evaluations on the same batches): isolates the training method.
* :func:`train_adam` with ``loss="ce"`` on the ResNet analog (three unit residual layers,
  nn.Linear init) — "the usual way": cross-entropy on the first 10 outputs, Adam lr 1e-3, again
  6 steps per batch.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import ClassVar, Literal
from collections.abc import Callable

import torch
import torch.nn.functional as F

from core.models.zoo.snode import STATE, SNODENet, euler, to_state
from core.train.common import Recipe
from core.data.fashion_mnist import load_fashion_mnist, stratified_indices, to_float

ProgressFn = Callable[[str], None] | None


@dataclass(frozen=True)
class SNODETrainConfig:
    """Budget (paper: 60,000 images, 10 epochs; batch 100, 6 iterations)."""

    images: int = 60000
    epochs: int = 10
    batch_size: int = 100
    iterations: int = 6
    sobolev: bool = True
    seed: int = 0
    lr: float = 1e-3  # the Adam controls only

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class SNODETrainLog:
    seconds: float = 0.0
    batches: int = 0
    batch_loss: list[float] = field(default_factory=list)  # loss before each batch's first step
    epoch_train_accuracy: list[float] = field(default_factory=list)  # on the batches of the epoch, before stepping


def one_hot_state(y: torch.Tensor, dim: int = STATE) -> torch.Tensor:
    """Targets: one-hot class (first 10 components), zero elsewhere, (N, dim)."""
    return F.one_hot(y.long(), dim).float()


def training_states(images: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(paper-scaled states (N, 196), labels) of ``images`` class-balanced training images
    (all 60,000 when images ≥ 60,000)."""
    x, y = load_fashion_mnist("train")
    if images < x.shape[0]:
        idx = stratified_indices(y, images // 10, seed)
        x, y = x[idx], y[idx]
    return to_state(to_float(x)), y


def green_matrix(steps: int, end_time: float, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """(K, K) matrix G with (G u)_k ≈ v(t_k), v = (I − ∂ₜ²)⁻¹u on [0, T] with Neumann conditions,
    at the midpoints t_k = (k + ½)h, midpoint rule: G_kl = h·cosh(T − max)·cosh(min)/sinh T."""
    h = end_time / steps
    t = (torch.arange(steps, dtype=torch.float64) + 0.5) * h
    lo, hi = torch.minimum(t[:, None], t[None, :]), torch.maximum(t[:, None], t[None, :])
    return (h * torch.cosh(end_time - hi) * torch.cosh(lo) / math.sinh(end_time)).to(dtype)


def sobolev(grad: torch.Tensor, G: torch.Tensor, h: float) -> torch.Tensor:
    """The Sobolev gradient of per-step gradients ``grad`` (K, …): G applied to the density grad/h."""
    flat = grad.reshape(grad.shape[0], -1)
    return (G.to(grad) @ (flat / h)).reshape(grad.shape)


def forward_states(x0: torch.Tensor, W: torch.Tensor, b: torch.Tensor, h: float
                   ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """States x_0 … x_K and pre-activations z_0 … z_{K−1} of the Euler scheme."""
    xs, zs = [x0], []
    for k in range(W.shape[0]):
        z = xs[-1] @ W[k].T + b[k]
        zs.append(z)
        xs.append(xs[-1] + h * torch.tanh(z))
    return xs, zs


def dtanh(z: torch.Tensor) -> torch.Tensor:
    return 1.0 - torch.tanh(z) ** 2


def loss_l2(xT: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(1/2B) Σ ‖x(T) − y‖² (y already padded to the state size)."""
    return 0.5 * ((xT - y) ** 2).sum() / xT.shape[0]


def adjoint_gradient(x0: torch.Tensor, y: torch.Tensor, W: torch.Tensor, b: torch.Tensor, h: float,
                     states: tuple[list[torch.Tensor], list[torch.Tensor]] | None = None
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(E, ∂E/∂W (K, D, D), ∂E/∂b (K, D)) by the adjoint recursion (module docstring)."""
    xs, zs = states if states is not None else forward_states(x0, W, b, h)
    lam = (xs[-1] - y) / x0.shape[0]
    gW, gb = torch.empty_like(W), torch.empty_like(b)
    for k in range(W.shape[0] - 1, -1, -1):
        s = h * dtanh(zs[k]) * lam
        gW[k] = s.T @ xs[k]
        gb[k] = s.sum(0)
        lam = lam + s @ W[k]
    return loss_l2(xs[-1], y), gW, gb


def sensitivity(W: torch.Tensor, dW: torch.Tensor, db: torch.Tensor, xs: list[torch.Tensor],
                zs: list[torch.Tensor], h: float) -> torch.Tensor:
    """ξ(T) of ξ_{k+1} = ξ_k + h·σ′(z_k) ⊙ (W_k ξ_k + δW_k x_k + δb_k), ξ_0 = 0."""
    xi = torch.zeros_like(xs[0])
    for k in range(W.shape[0]):
        xi = xi + h * dtanh(zs[k]) * (xi @ W[k].T + xs[k] @ dW[k].T + db[k])
    return xi


def ncg_batch(W: torch.Tensor, b: torch.Tensor, x0: torch.Tensor, y: torch.Tensor, h: float, *,
              iterations: int = 6, G: torch.Tensor | None = None) -> list[float]:
    """``iterations`` NCG steps on one batch, in place on W, b; G None = plain L² gradients.
    Returns the loss before each step."""
    losses = []
    dW = db = None
    prev_sq = None
    for j in range(iterations):
        xs, zs = forward_states(x0, W, b, h)
        E, gW, gb = adjoint_gradient(x0, y, W, b, h, (xs, zs))
        losses.append(float(E))
        if G is not None:
            gW, gb = sobolev(gW, G, h), sobolev(gb, G, h)
        sq = float((gW ** 2).sum() + (gb ** 2).sum())
        if dW is None or not prev_sq:
            dW, db = -gW, -gb
        else:
            gamma = sq / prev_sq  # Fletcher–Reeves
            dW, db = -gW + gamma * dW, -gb + gamma * db
        prev_sq = sq
        xi = sensitivity(W, dW, db, xs, zs, h)
        den = float((xi ** 2).sum())
        if not den > 0:
            break
        eta = -float((xi * (xs[-1] - y)).sum()) / den
        W.add_(eta * dW)
        b.add_(eta * db)
    return losses


def _batches(n: int, batch_size: int, gen: torch.Generator) -> list[torch.Tensor]:
    perm = torch.randperm(n, generator=gen)
    return [perm[i:i + batch_size] for i in range(0, n - batch_size + 1, batch_size)]


def train_ncg(net: SNODENet, x: torch.Tensor, y: torch.Tensor, cfg: SNODETrainConfig = SNODETrainConfig(),
              progress: ProgressFn = None) -> SNODETrainLog:
    """Train ``net`` (identity time basis) by Sobolev NCG (``cfg.sobolev`` False: L² NCG)."""
    if net.modes != net.steps:
        raise ValueError("train the full per-step network (modes == steps); project afterwards")
    gen = torch.Generator().manual_seed(cfg.seed)
    G = green_matrix(net.steps, net.end_time, torch.float32) if cfg.sobolev else None
    log, t0 = SNODETrainLog(), time.perf_counter()
    W, b = net.coef_w.data, net.coef_b.data
    for ep in range(cfg.epochs):
        hits = seen = 0
        for bi, idx in enumerate(_batches(x.shape[0], cfg.batch_size, gen)):
            with torch.no_grad():
                hits += int((euler(x[idx], W, b, net.h)[:, :net.num_classes].argmax(1) == y[idx]).sum())
            seen += len(idx)
            losses = ncg_batch(W, b, x[idx], one_hot_state(y[idx], net.dim), net.h,
                               iterations=cfg.iterations, G=G)
            log.batch_loss.append(round(losses[0], 5))
            log.batches += 1
            if progress and bi % 20 == 0:
                progress(f"ncg epoch {ep + 1} batch {bi + 1}: loss {losses[0]:.4f} -> {losses[-1]:.4f}, "
                         f"running acc {hits / seen:.3f}, {time.perf_counter() - t0:.0f} s")
        log.epoch_train_accuracy.append(round(hits / max(seen, 1), 4))
    log.seconds = round(time.perf_counter() - t0, 1)
    return log


def train_adam(net: SNODENet, x: torch.Tensor, y: torch.Tensor, cfg: SNODETrainConfig = SNODETrainConfig(),
               loss: Literal["l2", "ce"] = "l2", progress: ProgressFn = None) -> SNODETrainLog:
    """Plain Adam (lr ``cfg.lr``, ``cfg.iterations`` steps per batch, autograd) on the per-step weights; loss "l2"
    (the sNODE's (1/2B)Σ‖x(T) − y‖²) or "ce" (cross-entropy on the first 10 outputs)."""
    if net.modes != net.steps:
        raise ValueError("train the full per-step network (modes == steps); project afterwards")
    gen = torch.Generator().manual_seed(cfg.seed)
    opt = torch.optim.Adam([net.coef_w, net.coef_b], lr=cfg.lr)
    log, t0 = SNODETrainLog(), time.perf_counter()
    for ep in range(cfg.epochs):
        hits = seen = 0
        for bi, idx in enumerate(_batches(x.shape[0], cfg.batch_size, gen)):
            for j in range(cfg.iterations):  # as many gradient steps per batch as NCG's iterations
                xT = euler(x[idx], net.coef_w, net.coef_b, net.h)
                out = xT[:, :net.num_classes]
                E = loss_l2(xT, one_hot_state(y[idx], net.dim)) if loss == "l2" else F.cross_entropy(out, y[idx])
                if j == 0:
                    hits += int((out.argmax(1) == y[idx]).sum())
                    seen += len(idx)
                    log.batch_loss.append(round(float(E.detach()), 5))
                opt.zero_grad()
                E.backward()
                opt.step()
            log.batches += 1
            if progress and bi % 20 == 0:
                progress(f"adam/{loss} epoch {ep + 1} batch {bi + 1}: loss after its steps {float(E.detach()):.4f}, "
                         f"running acc {hits / seen:.3f}, {time.perf_counter() - t0:.0f} s")
        log.epoch_train_accuracy.append(round(hits / max(seen, 1), 4))
    log.seconds = round(time.perf_counter() - t0, 1)
    return log


class _SNODERecipe(Recipe):
    """The objective of an sNODE zoo model in the zoo's :class:`core.train.common.Recipe` interface
    (for the project's generic recipe checks and descriptions). The shipped models are trained by
    ``tools/train_snode.py`` with the optimiser named in ``params`` (NCG or Adam), not by
    :func:`core.train.common.fit`."""

    objective: ClassVar[str] = "l2"
    optimiser: ClassVar[str] = ""

    def params(self) -> dict:
        return {"objective": "(1/2B)·Σ‖x(T) − y‖², y one-hot padded to 196" if self.objective == "l2"
                else "cross-entropy on the first 10 components of x(T)", "optimiser": self.optimiser}

    def loss(self, model, x, y, idx, gen):  # noqa: D102
        out, _, feats = model.forward_train(x, y)
        xT = feats["state"]
        loss = loss_l2(xT, one_hot_state(y, xT.shape[1])) if self.objective == "l2" else F.cross_entropy(out, y)
        return loss, {"correct": float((out.argmax(1) == y).sum())}


class SNODENCG(_SNODERecipe):
    key = "snode_ncg"
    optimiser = "nonlinear conjugate gradients (Fletcher–Reeves), Sobolev gradients, sensitivity step size"


class SNODEAdam(_SNODERecipe):
    key = "snode_adam"
    optimiser = "Adam, lr 1e-3 (the control: same network and loss)"


class SNODEResNetCE(_SNODERecipe):
    key = "snode_resnet_ce"
    objective = "ce"
    optimiser = "Adam, lr 1e-3"
