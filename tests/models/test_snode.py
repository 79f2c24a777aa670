"""sNODE (Jaroudi et al., arXiv 2205.13933): the Sobolev operator, the sensitivity Jacobian, the
adjoint gradient, one NCG step and the sensitivity DeepFool attack, on tiny hand-made networks."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.linalg import solve

from core.attacks.sensitivity_deepfool import (lift_to_pixels, output_jacobian, sensitivity_deepfool,
                                               sensitivity_jacobian)
from core.models.zoo.snode import SNODEClassifier, SNODENet, build_snode, time_basis, to_state
from core.train.snode import (adjoint_gradient, forward_states, green_matrix, loss_l2, ncg_batch, one_hot_state,
                              sensitivity)


def _fd_neumann_solve(u: np.ndarray, T: float) -> np.ndarray:
    """(I − ∂ₜ²)v = u on the cell midpoints, 3-point second difference, Neumann by mirrored ghost cells."""
    K = len(u)
    h = T / K
    L = np.diag(np.full(K, 2.0)) - np.diag(np.ones(K - 1), 1) - np.diag(np.ones(K - 1), -1)
    L[0, 0] = L[-1, -1] = 1.0
    return solve(np.eye(K) + L / h ** 2, u)


@pytest.mark.parametrize("case", ["cosines", "polynomial", "step"])
def test_green_matrix_solves_neumann_problem(case):
    T, K = 3.0, 150
    t = (np.arange(K) + 0.5) * T / K
    G = green_matrix(K, T).numpy()
    if case == "cosines":  # exact solution known: v = cos(πt/T) + ½cos(2πt/T) has v'(0) = v'(T) = 0
        exact = np.cos(math.pi * t / T) + 0.5 * np.cos(2 * math.pi * t / T)
        u = (1 + (math.pi / T) ** 2) * np.cos(math.pi * t / T) + 0.5 * (1 + (2 * math.pi / T) ** 2) * np.cos(2 * math.pi * t / T)
        assert np.abs(G @ u - exact).max() < 2e-3
    elif case == "polynomial":
        u = t ** 2 - 1.0
    else:
        u = (t > 1.2).astype(float)
    v = G @ u
    fd = _fd_neumann_solve(u, T)
    assert np.abs(v - fd).max() < 2e-3 * max(1.0, np.abs(fd).max())
    # zero slope at both ends (Neumann): the first difference is only the O(h) curvature term v″ = v − u
    h = T / K
    curv = np.abs(v - u).max()
    assert abs(v[1] - v[0]) / h <= 1.5 * h * curv + 1e-3 and abs(v[-1] - v[-2]) / h <= 1.5 * h * curv + 1e-3


def _tiny(dim=6, steps=5, end=1.0, classes=3, seed=0, std=0.6):
    net = SNODENet(steps, end, dim=dim, num_classes=classes).double()
    g = torch.Generator().manual_seed(seed)
    net.project(torch.randn(steps, dim, dim, generator=g, dtype=torch.float64) * std,
                torch.randn(steps, dim, generator=g, dtype=torch.float64) * std)
    return net


def test_sensitivity_jacobian_equals_autograd():
    net = _tiny()
    s = torch.randn(3, 6, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    xT, J = sensitivity_jacobian(net, s)
    for n in range(3):
        ref = torch.autograd.functional.jacobian(lambda v: net.final_state(v[None])[0], s[n])
        assert torch.allclose(J[n], ref, atol=1e-12)
    xT2, rows = output_jacobian(net, s)
    assert torch.allclose(rows, J[:, :3], atol=1e-12) and torch.allclose(xT, xT2)


def test_adjoint_gradient_and_sensitivity_equal_autograd():
    net = _tiny(dim=7, steps=6, end=2.0)
    g = torch.Generator().manual_seed(2)
    x0 = torch.randn(4, 7, generator=g, dtype=torch.float64)
    y = one_hot_state(torch.tensor([0, 2, 1, 2]), 7).double()
    W = net.coef_w.detach().clone().requires_grad_(True)
    b = net.coef_b.detach().clone().requires_grad_(True)
    xs, _ = forward_states(x0, W, b, net.h)
    E = loss_l2(xs[-1], y)
    gW_ref, gb_ref = torch.autograd.grad(E, (W, b))
    E2, gW, gb = adjoint_gradient(x0, y, W.detach(), b.detach(), net.h)
    assert torch.allclose(E2, E.detach()) and torch.allclose(gW, gW_ref, atol=1e-12)
    assert torch.allclose(gb, gb_ref, atol=1e-12)
    dW = torch.randn(W.shape, generator=g, dtype=torch.float64)
    db = torch.randn(b.shape, generator=g, dtype=torch.float64)
    xs, zs = forward_states(x0, W.detach(), b.detach(), net.h)
    xi = sensitivity(W.detach(), dW, db, xs, zs, net.h)
    _, jvp = torch.autograd.functional.jvp(lambda w, bb: forward_states(x0, w, bb, net.h)[0][-1],
                                           (W.detach(), b.detach()), (dW, db))
    assert torch.allclose(xi, jvp, atol=1e-12)


@pytest.mark.parametrize("sobolev", [False, True])
def test_one_ncg_step_lowers_the_loss(sobolev):
    net = _tiny(dim=12, steps=10, end=1.0, classes=4, seed=3, std=0.3)
    g = torch.Generator().manual_seed(4)
    x0 = -torch.rand(8, 12, generator=g, dtype=torch.float64)
    y = one_hot_state(torch.randint(0, 4, (8,), generator=g), 12).double()
    W, b = net.coef_w.data, net.coef_b.data
    before = float(loss_l2(forward_states(x0, W, b, net.h)[0][-1], y))
    G = green_matrix(net.steps, net.end_time) if sobolev else None
    losses = ncg_batch(W, b, x0, y, net.h, iterations=1, G=G)
    after = float(loss_l2(forward_states(x0, W, b, net.h)[0][-1], y))
    assert losses[0] == pytest.approx(before)
    assert after < 0.9 * before


def test_time_basis_projection():
    B = time_basis(150, 16)
    assert torch.allclose(B.T @ B, torch.eye(16), atol=1e-5)
    net = build_snode(modes=16).net
    t = (torch.arange(150) + 0.5) / 150
    W = torch.cos(math.pi * t)[:, None, None] * torch.ones(150, 196, 196)  # one DCT mode: kept exactly
    net.project(W, torch.zeros(150, 196))
    assert torch.allclose(net.weights()[0], W, atol=1e-4)


def test_deepfool_flips_hand_made_model_within_range():
    # W_k = I, b = 0: each output is the same increasing function of its own input, so the class is the
    # largest of the first 10 state values; class 3 wins by 0.2 and the smallest flip is 0.2/√2 in state space
    net = SNODENet(2, 3.0)
    net.project(torch.eye(196).expand(2, -1, -1).clone(), torch.zeros(2, 196))
    model = SNODEClassifier(net).eval()
    img = torch.full((1, 1, 14, 14), 0.5)
    img[0, 0, 0, :10] = 0.2
    img[0, 0, 0, 3] = 0.0
    x = torch.nn.functional.interpolate(img, scale_factor=2, mode="nearest")
    assert int(model(x).argmax(1)) == 3
    res = sensitivity_deepfool(net, x, torch.tensor([3]), classifier=model)
    assert bool(res.clean_correct[0]) and int(res.adv_pred[0]) != 3
    assert 0.2 / math.sqrt(2) - 1e-6 <= float(res.min_norm_paper[0]) <= 0.25
    assert float(res.min_norm_pixels[0]) == pytest.approx(2 * float(res.min_norm_paper[0]), rel=1e-4)
    assert float(res.x_adv.min()) >= 0.0 and float(res.x_adv.max()) <= 1.0
    # a wrongly classified image counts 0
    res2 = sensitivity_deepfool(net, x, torch.tensor([5]))
    assert float(res2.min_norm_paper[0]) == 0.0 and float(res2.min_norm_pixels[0]) == 0.0


def test_lift_to_pixels_keeps_range_and_hits_target_state():
    g = torch.Generator().manual_seed(5)
    x = torch.rand(3, 1, 28, 28, generator=g)
    x[0, 0, :4, :4] = torch.tensor([[0.0, 1.0], [1.0, 0.0]]).repeat(2, 2)  # blocks with pixels at both ends
    target = (to_state(x) + 0.3 * torch.randn(3, 196, generator=g)).clamp(-1, 0)
    lifted = lift_to_pixels(x, target)
    assert float(lifted.min()) >= 0.0 and float(lifted.max()) <= 1.0
    assert torch.allclose(to_state(lifted), target, atol=1e-5)
    # never shorter than the uniform block move: ‖δx‖ ≥ 2‖δs‖
    assert bool(((lifted - x).flatten(1).norm(dim=1) >= 2 * (target - to_state(x)).norm(dim=1) - 1e-4).all())
