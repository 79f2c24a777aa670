"""The sNODE paper's adversarial attack: a DeepFool-like L2 attack whose gradients come from the
network's sensitivity equation, and its metric, the smallest successful ‖δ‖₂ per image.

Paper: R. Jaroudi, L. Malý, G. Eilertsen, B. T. Johansson, J. Unger, G. Baravdish, "Standalone
Neural ODEs with Sensitivity Analysis", arXiv 2205.13933 (2022); its MATLAB prototype
(``adversarialAttack.m``, read only, no licence) checked our reading.

For x′ = σ(W(t)x + b(t)) (:class:`core.models.zoo.snode.SNODENet`, Euler) the Jacobian
J = ∂x(T)/∂x(0) solves the sensitivity equation ξ′ = σ′(Wx + b) ⊙ (Wξ), ξ(0) = I
(:func:`sensitivity_jacobian`, Euler on the same grid: the exact Jacobian of the discrete net).
The attack needs only the 10 output rows of J; :func:`output_jacobian` gets exactly those rows by
running the same linear recursion backwards (the transposed sensitivity problem, 10 right-hand
sides instead of 196 — the same numbers, tested, about 20× cheaper; this is what the attack uses).

Per image, in the paper's 14×14 state space (x ∈ [−1, 0]¹⁹⁶, background 0), with c the clean class
(images classified wrongly are skipped) and z = x(T)₁…₁₀:

    for 30 iterations:
        for i ≠ c: r_i = (z_c − κ z_i) / ‖κ ∇z_i − ∇z_c‖   (κ = 0.975)
        i* = argmin r_i;  v = κ ∇z_{i*} − ∇z_c  (a random direction if no r_i is finite)
        x ← clip(x + 0.03·v/‖v‖, −1, 0)
        if the prediction at x is not c: record ‖x − x_clean‖₂ if it is the smallest so far

The iteration continues after the first success (as in the prototype) and the metric is the
smallest successful ‖δ‖₂ over the 30 iterates (∞ if none; 0 where the clean prediction is wrong,
the project's per-image convention — the prototype marks those with 100).

**Which space δ is measured in.** The paper measures ‖δ‖₂ in its 14×14 state space (values in
[−1, 0]). The zoo models take 28×28 [0, 1] images, and the project's L2 budgets are in that space.
The state is −(2×2 average pool), so a state change δs needs a pixel change of at least 2‖δs‖₂
(equality when each 2×2 block moves uniformly); near 0 or 1 the box can force more. Every
adversarial state is therefore *lifted* to a 28×28 image (:func:`lift_to_pixels`: per 2×2 block
the nearest pixels in [0, 1] with the required mean — a one-parameter water-filling, solved by
bisection), which the zoo model classifies exactly as the state, and the per-image result holds
both norms: ``min_norm_l2`` (28×28 [0, 1], the project's space, ≥ 2× the paper's number) and
``min_norm_l2_paper`` (the paper's 14×14 space).

Defaults (the paper's): κ = 0.975, step 0.03, 30 iterations, untargeted. Deviations: the images
are attacked in batches (the same per-image arithmetic); the random fallback direction is drawn
from a seeded generator.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from core.models.zoo.snode import SNODENet, to_state


@dataclass(frozen=True)
class DeepFoolConfig:
    kappa: float = 0.975
    step: float = 0.03
    iterations: int = 30
    batch_size: int = 100


@dataclass
class DeepFoolResult:
    clean_correct: torch.Tensor  # (N,) bool
    min_norm_paper: torch.Tensor  # (N,) float: 14×14 state space; inf: no success; 0: clean wrong
    min_norm_pixels: torch.Tensor  # (N,) float: 28×28 [0, 1] space (lifted)
    x_adv: torch.Tensor  # (N, 1, 28, 28): the lifted smallest adversarial image (clean image if none)
    adv_pred: torch.Tensor  # (N,) the zoo model's prediction on x_adv
    seconds: float = 0.0


def _trajectory(net: SNODENet, s: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    W, b = net.weights()
    xs, zs = [s], []
    for k in range(net.steps):
        z = xs[-1] @ W[k].T + b[k]
        zs.append(z)
        xs.append(xs[-1] + net.h * torch.tanh(z))
    return xs, zs


@torch.no_grad()
def sensitivity_jacobian(net: SNODENet, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(x(T) (N, D), J = ∂x(T)/∂x(0) (N, D, D)) by the sensitivity equation with ξ(0) = I."""
    W, b = net.weights()
    x = s
    xi = torch.eye(s.shape[1], dtype=s.dtype).expand(s.shape[0], -1, -1).clone()
    for k in range(net.steps):
        z = x @ W[k].T + b[k]
        d = 1.0 - torch.tanh(z) ** 2
        xi = xi + net.h * d[:, :, None] * (W[k] @ xi)
        x = x + net.h * torch.tanh(z)
    return x, xi


@torch.no_grad()
def output_jacobian(net: SNODENet, s: torch.Tensor, rows: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(x(T) (N, D), the first ``rows`` rows of ∂x(T)/∂x(0) (N, rows, D)), by the transposed
    sensitivity recursion μ_k = μ_{k+1}(I + h·diag(σ′(z_k))W_k), μ_K = the first rows of I."""
    rows = net.num_classes if rows is None else rows
    W, _ = net.weights()
    xs, zs = _trajectory(net, s)
    mu = torch.eye(s.shape[1], dtype=s.dtype)[:rows].expand(s.shape[0], -1, -1).clone()
    for k in range(net.steps - 1, -1, -1):
        d = 1.0 - torch.tanh(zs[k]) ** 2
        mu = mu + net.h * (mu * d[:, None, :]) @ W[k]
    return xs[-1], mu


@torch.no_grad()
def lift_to_pixels(x01: torch.Tensor, s_target: torch.Tensor, iters: int = 60) -> torch.Tensor:
    """The 28×28 image in [0, 1] nearest (L2) to ``x01`` (N, 1, 28, 28) whose state is ``s_target``
    (N, 196): per 2×2 block x′ = clip(x + τ, 0, 1) with τ such that the block mean is the target."""
    n = x01.shape[0]
    blocks = x01.reshape(n, 14, 2, 14, 2).permute(0, 1, 3, 2, 4).reshape(n, 196, 4)
    target = (-s_target).clamp(0, 1)[:, :, None]
    lo = torch.full_like(target, -1.0)
    hi = torch.full_like(target, 1.0)
    for _ in range(iters):
        mid = (lo + hi) / 2
        too_low = (blocks + mid).clamp(0, 1).mean(2, keepdim=True) < target
        lo = torch.where(too_low, mid, lo)
        hi = torch.where(too_low, hi, mid)
    out = (blocks + (lo + hi) / 2).clamp(0, 1)
    return out.reshape(n, 14, 14, 2, 2).permute(0, 1, 3, 2, 4).reshape(n, 1, 28, 28)


def sensitivity_deepfool(net: SNODENet, x01: torch.Tensor, y: torch.Tensor,
                         config: DeepFoolConfig = DeepFoolConfig(), *, seed: int = 0,
                         classifier: torch.nn.Module | None = None) -> DeepFoolResult:
    """The attack on [0, 1] grey images (N, 1, 28, 28) with labels ``y`` (module docstring).
    ``classifier``: the zoo model that checks each lifted 28×28 adversarial image (default: ``net``)."""
    t0 = time.perf_counter()
    gen = torch.Generator().manual_seed(seed)
    check = classifier if classifier is not None else net
    n = x01.shape[0]
    with torch.no_grad():
        clean_ok = torch.cat([net.final_state(to_state(x01[i:i + 250]))[:, :net.num_classes].argmax(1)
                              for i in range(0, n, 250)]) == y
    best_paper = torch.where(clean_ok, torch.full((n,), float("inf")), torch.zeros(n))
    best_state = to_state(x01).clone()
    todo = torch.nonzero(clean_ok).flatten()  # images classified wrongly are not attacked (their result is 0)
    for s0 in range(0, len(todo), config.batch_size):
        sl = todo[s0:s0 + config.batch_size]
        x_clean = to_state(x01[sl])
        yb = y[sl]
        xT, J = output_jacobian(net, x_clean)
        cls = xT[:, :net.num_classes].argmax(1)
        ok = cls == yb
        bp = torch.where(ok, torch.full_like(yb, float("inf"), dtype=x_clean.dtype), torch.zeros_like(x_clean[:, 0]))
        bs = x_clean.clone()
        cur = x_clean.clone()
        ar = torch.arange(len(yb))
        for _ in range(config.iterations):
            z = xT[:, :net.num_classes]
            zc = z[ar, cls][:, None]
            gc = J[ar, cls][:, None, :]
            P = config.kappa * J - gc  # (B, 10, D)
            r = (zc - config.kappa * z) / P.norm(dim=2)
            r[ar, cls] = float("inf")
            r = torch.nan_to_num(r, nan=float("inf"))
            i = r.argmin(1)
            v = P[ar, i]
            bad = ~torch.isfinite(r[ar, i])
            if bad.any():
                v[bad] = torch.randn(int(bad.sum()), v.shape[1], generator=gen)
            cur = (cur + config.step * v / v.norm(dim=1, keepdim=True)).clamp(-1.0, 0.0)
            xT, J = output_jacobian(net, cur)
            fooled = ok & (xT[:, :net.num_classes].argmax(1) != cls)
            dist = (cur - x_clean).norm(dim=1)
            better = fooled & (dist < bp)
            bp = torch.where(better, dist, bp)
            bs[better] = cur[better]
        best_paper[sl] = bp
        best_state[sl] = bs
    x_adv = lift_to_pixels(x01, best_state)
    found = torch.isfinite(best_paper) & clean_ok
    x_adv = torch.where(found[:, None, None, None], x_adv, x01)
    with torch.no_grad():
        adv_pred = torch.cat([check(x_adv[i:i + 250]).argmax(1) for i in range(0, n, 250)])
    pix = (x_adv - x01).flatten(1).norm(dim=1)
    min_pix = torch.where(found, pix, torch.where(clean_ok, torch.full_like(pix, float("inf")), torch.zeros_like(pix)))
    return DeepFoolResult(clean_ok, best_paper, min_pix, x_adv, adv_pred, time.perf_counter() - t0)
