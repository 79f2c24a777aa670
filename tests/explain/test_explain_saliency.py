"""Saliency maps against models whose gradients are known in closed form."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.ndimage import gaussian_filter

from core.explain import jacobian, perturbation, saliency
from explain_tiny import LinearImageModel, RegionModel, TinyNet, no_hooks_left

torch.set_num_threads(1)


@pytest.fixture()
def lin():
    return LinearImageModel(c=3, h=8, w=8, k=6, seed=1).double()


@pytest.fixture()
def x8():
    return torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(3), dtype=torch.float64)


def test_saliency_is_abs_weight(lin, x8):
    t = torch.tensor([2, 5])
    m = saliency.saliency_map(lin, x8, t)
    expect = lin.weight[t].abs().amax(1)
    assert m.shape == (2, 8, 8)
    torch.testing.assert_close(m, expect, rtol=0, atol=1e-12)


def test_input_x_gradient_is_x_times_w(lin, x8):
    m = saliency.input_x_gradient_map(lin, x8, 4)
    expect = (x8 * lin.weight[4]).sum(1)
    torch.testing.assert_close(m, expect, rtol=0, atol=1e-12)


@pytest.mark.parametrize("baseline", ["black", "blur"])
def test_integrated_gradients_linear_exact_and_complete(lin, x8, baseline):
    m, delta = saliency.integrated_gradients_map(lin, x8, 1, baseline=baseline, blur_sigma=1.5,
                                                 n_steps=7, return_delta=True)
    b = saliency.make_baseline(x8, baseline, 1.5)
    expect = ((x8 - b) * lin.weight[1]).sum(1)
    torch.testing.assert_close(m, expect, rtol=1e-10, atol=1e-10)
    # completeness: the map sums to z_t(x) - z_t(baseline)
    with torch.no_grad():
        diff = lin(x8)[:, 1] - lin(b)[:, 1]
    torch.testing.assert_close(m.sum((1, 2)), diff, rtol=1e-10, atol=1e-10)
    assert delta.abs().max() < 1e-9


def test_blur_baseline_differs_from_image_and_keeps_mean():
    x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    b = saliency.make_baseline(x, "blur", 4.0)
    assert b.shape == x.shape and not torch.allclose(b, x)
    assert b.std() < x.std()
    assert abs(float(b.mean() - x.mean())) < 0.02
    with pytest.raises(ValueError):
        saliency.make_baseline(x, "grey")  # type: ignore[arg-type]


def test_smoothgrad_of_linear_model_is_abs_weight_and_seeded(lin, x8):
    m = saliency.smoothgrad_map(lin, x8, 0, nt_samples=5, stdev=0.3, seed=1)
    torch.testing.assert_close(m, lin.weight[0].abs().amax(0).expand(2, 8, 8), rtol=0, atol=1e-12)
    net = TinyNet(seed=2)
    x = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    a = saliency.smoothgrad_map(net, x, 1, nt_samples=4, stdev=0.2, seed=7)
    b = saliency.smoothgrad_map(net, x, 1, nt_samples=4, stdev=0.2, seed=7)
    c = saliency.smoothgrad_map(net, x, 1, nt_samples=4, stdev=0.2, seed=8)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.allclose(a, c)


def test_occlusion_one_pixel_window_equals_input_x_gradient(lin, x8):
    # With a 1x1 window and a black baseline, occluding pixel p drops z_t by Σ_c w_c x_c at p.
    m = saliency.occlusion_map(lin, x8, 3, window=1, stride=1, baseline="black")
    # captum gives every channel of the window the full drop; the map averages the channels
    # (captum's ablation accumulates in float32)
    torch.testing.assert_close(m.double(), (x8 * lin.weight[3]).sum(1), rtol=1e-5, atol=1e-5)


def test_occlusion_zero_away_from_the_region_the_model_reads():
    model = RegionModel(rows=(0, 4), cols=(0, 4)).double()
    x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    m = saliency.occlusion_map(model, x, 0, window=8, stride=4)
    # windows starting at row or col >= 4 do not touch the region; pixels only they cover are 0
    # (up to rounding: batched and single forward passes differ in the last bits)
    assert m[0, 8:, :].abs().max() < 1e-12 and m[0, :, 8:].abs().max() < 1e-12
    assert m[0, :4, :4].abs().min() > 1e-6


def _gradcam_reference(net: TinyNet, x: torch.Tensor, t: int, stage: str) -> torch.Tensor:
    x = x.clone()
    _, feats = net.forward_features(x, ("stage1", "stage2", "head"))
    a = feats[stage].detach().requires_grad_(True)
    z = net.forward_from(stage, a)[:, t].sum()
    (g,) = torch.autograd.grad(z, a)
    cam = F.relu((g.mean((2, 3), keepdim=True) * a).sum(1, keepdim=True))
    return cam.detach()


@pytest.mark.parametrize("stage", ["stage1", "stage2", "head"])
def test_gradcam_matches_hand_computation(stage):
    net = TinyNet(seed=4)
    x = torch.rand(2, 3, 12, 12, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    ref = _gradcam_reference(net, x, 2, stage)
    raw = saliency.gradcam_map(net, x, 2, stage=stage, upsample=False)
    torch.testing.assert_close(raw, ref[:, 0], rtol=1e-9, atol=1e-12)
    up = saliency.gradcam_map(net, x, 2, stage=stage)
    assert up.shape == (2, 12, 12)
    torch.testing.assert_close(up, F.interpolate(ref, size=(12, 12), mode="bilinear")[:, 0], rtol=1e-9, atol=1e-12)
    assert no_hooks_left(net)


def test_gradcam_unknown_stage():
    with pytest.raises(ValueError, match="unknown stage"):
        saliency.gradcam_map(TinyNet(), torch.rand(1, 3, 8, 8, dtype=torch.float64), 0, stage="layer4")


# --------------------------------------------------------------------------- perturbation
def test_soft_mask_matches_greydanus_blurred_point():
    # 45 px and 3 cells put the centres on whole pixels (7, 22, 37); compare the centre mask
    # with scipy's Gaussian filter of a point (Greydanus blurs a tiny disc with sigma = r).
    masks = perturbation.soft_masks(45, 45, stride=15, radius=2.0)
    assert masks.shape == (9, 45, 45)
    torch.testing.assert_close(perturbation.grid_centres(45, 15), torch.tensor([7.0, 22.0, 37.0]))
    point = np.zeros((45, 45))
    point[22, 22] = 1
    ref = gaussian_filter(point, sigma=2.0, truncate=4.0)
    ref /= ref.max()
    np.testing.assert_allclose(masks[4].numpy(), ref, atol=5e-4)
    assert float(masks.amax()) == pytest.approx(1.0)


def test_perturbation_scores_zero_where_mask_misses_the_region():
    model = RegionModel(rows=(0, 8), cols=(0, 8)).double()
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    s = perturbation.perturbation_scores(model, x, stride=16, radius=2.0, blur_sigma=1.0, batch_size=5)
    assert s.shape == (1, 4, 4)
    # centres at 7.5, 23.5, ...; a mask reaches 8 px, so only the first row/column of cells
    # can touch rows/cols 0..7, and only cell (0, 0) reaches inside the region
    assert s[0, 0, 0] > 1e-6
    far = s[0].clone()
    far[0, 0] = 0
    assert far.abs().max() < 1e-20  # zero up to batched-vs-single rounding (~1e-15 squared)
    up = perturbation.perturbation_saliency(model, x, stride=16, radius=2.0, blur_sigma=1.0)
    assert up.shape == (1, 64, 64) and up[0, 32:, :].abs().max() < 1e-20 and up[0, :, 32:].abs().max() < 1e-20


def test_perturbation_score_matches_direct_formula_and_softmax_option():
    model = LinearImageModel(c=3, h=16, w=16, k=3, seed=2).double()
    x = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    s = perturbation.perturbation_scores(model, x, stride=8, radius=3.0, blur_sigma=1.0)
    m = perturbation.soft_masks(16, 16, stride=8, radius=3.0, dtype=torch.float64)
    xb = saliency.blur(x, 1.0)
    for k in range(4):
        xp = x * (1 - m[k]) + xb * m[k]
        dz = torch.einsum("nchw,kchw->nk", xp - x, model.weight)
        assert float(s.flatten()[k]) == pytest.approx(float(0.5 * dz.pow(2).sum()), rel=1e-10)
    sp = perturbation.perturbation_scores(model, x, stride=8, radius=3.0, blur_sigma=1.0, output="softmax")
    assert (sp >= 0).all() and (sp < s.max()).any()


# --------------------------------------------------------------------------- jacobian
def test_jacobian_topk_of_linear_model(lin, x8):
    m = jacobian.jacobian_norm_map(lin, x8, k=3)
    with torch.no_grad():
        top = lin(x8).topk(3, dim=1).indices
    for i in range(2):
        expect = lin.weight[top[i]].pow(2).sum((0, 1))
        torch.testing.assert_close(m[i], expect, rtol=1e-12, atol=1e-12)


def test_jacobian_random_projections_unbiased(lin, x8):
    full = lin.weight.pow(2).sum((0, 1))
    est = torch.stack([jacobian.jacobian_norm_map(lin, x8[:1], mode="random", n_proj=32, seed=s)[0]
                       for s in range(80)]).mean(0)  # 2560 projections in all
    rel = (est - full).abs().sum() / full.sum()
    assert rel < 0.08
    one = LinearImageModel(c=3, h=8, w=8, k=1, seed=3).double()  # one class: v = ±1, exact
    est1 = jacobian.jacobian_norm_map(one, x8, mode="random", n_proj=2, seed=0)
    torch.testing.assert_close(est1[0], one.weight[0].pow(2).sum(0), rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------- agreement
def test_spearman_and_topk_iou():
    g = torch.Generator().manual_seed(0)
    a = torch.rand(16, 16, generator=g)
    assert saliency.spearman(a, a) == pytest.approx(1.0)
    assert saliency.spearman(a, a.pow(3) + 2) == pytest.approx(1.0)
    assert saliency.spearman(a, -a) == pytest.approx(-1.0)
    assert np.isnan(saliency.spearman(a, torch.ones(16, 16)))
    assert saliency.topk_iou(a, a, 0.1) == 1.0
    assert saliency.topk_iou(a, -a, 0.1) == 0.0
    mask = saliency.top_fraction_mask(a, 0.1)
    assert mask.sum() == 26 and mask.shape == (16, 16)
    assert a[torch.from_numpy(mask)].min() >= a[~torch.from_numpy(mask)].max()
    # half-overlapping top sets: 2 shared of 6 distinct -> IoU 1/3 ... built by hand
    p = torch.zeros(10)
    q = torch.zeros(10)
    p[[0, 1, 2, 3]] = 1
    q[[2, 3, 4, 5]] = 1
    assert saliency.topk_iou(p, q, 0.4) == pytest.approx(2 / 6)
    r = saliency.agreement(-a, a, signed=True)
    assert r["spearman"] == pytest.approx(1.0) and r["topk_iou"] == 1.0


# --------------------------------------------------------------------------- real model
def test_every_method_runs_on_lite0_and_leaves_the_model_untouched():
    from core.models import load_model

    model = load_model("EfficientNet-Lite0")
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    params = {"integrated_gradients": {"n_steps": 4}, "smoothgrad": {"nt_samples": 4},
              "jacobian": {"k": 2}}
    calls = []
    for key, info in saliency.METHODS.items():
        m = saliency.compute_map(model, x, key, 281, progress=lambda d, t, s: calls.append(s),
                                 **params.get(key, {}))
        assert m.shape == (1, 64, 64), key
        assert torch.isfinite(m).all(), key
        assert m.abs().max() > 0, key
        if not info.signed:
            assert m.min() >= 0, key
    assert calls
    assert not model.training and no_hooks_left(model)
    assert all(not p.requires_grad for p in model.parameters())
    with pytest.raises(KeyError):
        saliency.compute_map(model, x, "guided_backprop", 0)


def test_work_limits_are_enforced(lin, x8):
    from core.runtime import limits

    with pytest.raises(ValueError, match="n_steps"):
        saliency.integrated_gradients_map(lin, x8, 0, n_steps=limits.MAX_IG_STEPS + 1)
    with pytest.raises(ValueError, match="nt_samples"):
        saliency.smoothgrad_map(lin, x8, 0, nt_samples=0)
    big = LinearImageModel(c=3, h=64, w=64, k=2)
    with pytest.raises(ValueError, match="positions"):
        saliency.occlusion_map(big, torch.rand(1, 3, 64, 64), 0, window=1, stride=1)
    with pytest.raises(ValueError, match="grid cells"):
        perturbation.perturbation_scores(big, torch.rand(1, 3, 64, 64), stride=1)
    with pytest.raises(ValueError, match="k"):
        jacobian.jacobian_norm_map(lin, x8, k=limits.MAX_JACOBIAN_ROWS + 1)
