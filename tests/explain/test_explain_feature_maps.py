"""Feature-map probes: bisection, the analytic flip ε of a linear model, settings, pooling demo."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from core.explain import feature_maps as fm
from explain_tiny import LinearImageModel

torch.set_num_threads(1)


def test_bisection_finds_a_known_threshold():
    calls = []

    def pred(e):
        calls.append(e)
        return e >= 0.3

    r = fm.min_eps_bisection(pred, 0.0, 1.0, tol=1e-3)
    assert 0.3 <= r.eps <= 0.3 + 1e-3
    assert r.hi - r.lo <= 1e-3 and not pred(r.lo)
    # hi, lo, then ceil(log2(1 / 1e-3)) = 10 halvings
    assert len(r.evaluations) == 2 + 10
    assert fm.min_eps_bisection(lambda e: e >= 2.0, 0.0, 1.0, 1e-3).eps is None
    assert fm.min_eps_bisection(lambda e: True, 0.1, 1.0, 1e-3).eps == 0.1
    rel = fm.min_eps_bisection(lambda e: e >= 1e-4, 0.0, 1.0, tol=1e-9, rel_tol=0.05)
    assert 1e-4 <= rel.eps <= 1e-4 * 1.06
    with pytest.raises(ValueError):
        fm.min_eps_bisection(pred, 1.0, 0.0, 1e-3)


def _two_class_linear(margin: float):
    """2-class linear model and an image with z_0 - z_1 = margin, pixels in [0.3, 0.7]."""
    model = LinearImageModel(c=3, h=4, w=4, k=2, seed=5).double()
    x = 0.3 + 0.4 * torch.rand(1, 3, 4, 4, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    with torch.no_grad():
        z = model(x)[0]
        model.bias[0] += margin - float(z[0] - z[1])
    return model, x


def test_min_flip_eps_matches_the_analytic_value_on_a_linear_model():
    # For z = Wx + b, the L∞ attack lowers the margin z_0 - z_1 by ε·‖w_0 - w_1‖₁ (no clipping
    # while x ± ε stays in [0, 1]); PGD with step 2.5ε/steps reaches that corner. So the label
    # flips exactly above ε* = margin / ‖w_0 - w_1‖₁.
    model, x = _two_class_linear(0.5)
    eps_star = 0.5 / float((model.weight[0] - model.weight[1]).abs().sum())
    assert 0 < eps_star < 0.2
    seen = []
    r = fm.min_flip_eps(model, x, hi=0.25, tol=1e-5, rel_tol=0.0, steps=3,
                        progress=lambda d, t, s: seen.append(d))
    assert eps_star <= r.eps <= eps_star + 1e-5
    assert seen and seen[-1] == len(r.evaluations)
    assert not fm.pgd_flips(model, x, torch.tensor([0]), eps_star * 0.99, steps=3)[0]
    assert fm.pgd_flips(model, x, torch.tensor([0]), eps_star * 1.01, steps=3)[0]


def test_noise_sensitivity_is_seeded_and_zero_without_noise():
    from explain_tiny import TinyNet

    net = TinyNet(seed=1)
    x = torch.rand(1, 3, 12, 12, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    a = fm.noise_sensitivity(net, x, sigma=0.05, draws=3, seed=4)
    b = fm.noise_sensitivity(net, x, sigma=0.05, draws=3, seed=4)
    c = fm.noise_sensitivity(net, x, sigma=0.05, draws=3, seed=5)
    assert a == b and a != c and a["pooled"] > 0 and a["logits"] > 0
    z = fm.noise_sensitivity(net, x, sigma=0.0, draws=2)
    # zero up to float64 rounding: the draws go through the model as one batch of 2, the clean
    # image as a batch of 1, and the two passes may round differently
    assert z["pooled"] < 1e-12 and z["logits"] < 1e-12


def test_noise_sensitivity_batched_draws_equal_one_draw_at_a_time():
    """The probe puts its draws through the model in chunks; the numbers must be those of the
    plain loop over draws, each (1, C, H, W) from the same seeded generator."""
    from explain_tiny import TinyNet

    net = TinyNet(seed=2)
    x = torch.rand(1, 3, 12, 12, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    draws, sigma = 6, 0.08  # more than one chunk of NOISE_CHUNK
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():
        f0, _ = net.forward_features(x)
        g0, z0 = f0.mean(dim=(2, 3)), net.forward_head(f0)
        ref = {"pooled": 0.0, "logits": 0.0}
        for _ in range(draws):
            n = torch.randn(x.shape, generator=gen).to(x.dtype) * sigma
            f1, _ = net.forward_features((x + n).clamp(0, 1))
            ref["pooled"] += float((f1.mean(dim=(2, 3)) - g0).norm() / g0.norm()) / draws
            ref["logits"] += float((net.forward_head(f1) - z0).norm() / z0.norm()) / draws
    got = fm.noise_sensitivity(net, x, sigma=sigma, draws=draws, seed=3)
    assert fm.NOISE_CHUNK < draws
    assert got["pooled"] == pytest.approx(ref["pooled"], rel=1e-9)
    assert got["logits"] == pytest.approx(ref["logits"], rel=1e-9)


def test_pooling_demo_average_damps_max_does_not():
    d = fm.pooling_demo(sizes=(1, 2, 4, 8, 16), trials=300, noise_sigma=0.5, bump=1.0, seed=0)
    n = np.array([1, 2, 4, 8, 16])
    np.testing.assert_allclose(d["avg_bump"], 1.0 / n ** 2)
    np.testing.assert_allclose(d["max_bump"], 1.0)
    np.testing.assert_allclose(d["avg_shift"], 1.0)
    np.testing.assert_allclose(d["max_shift"], 1.0)
    # zero-mean noise: the mean of n² independent changes has spread σ/n; E|N(0, s²)| = s·√(2/π)
    np.testing.assert_allclose(d["avg_noise"][1:], 0.5 / n[1:] * math.sqrt(2 / math.pi), rtol=0.12)
    assert d["max_noise"][-1] > 0.8 * d["max_noise"][1]
    assert d["max_noise"][-1] > 10 * d["avg_noise"][-1]
    np.testing.assert_array_equal(d["positions"], n ** 2)


def test_compare_settings_on_lite0_small_image():
    from core.models import load_model

    model = load_model("EfficientNet-Lite0")
    strides = [b._depthwise_conv.stride for b in model.net._blocks]
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    settings = [fm.Setting(1.0), fm.Setting(2.0), fm.Setting(1.0, ("stage6",))]
    assert settings[2] in fm.default_settings(model)
    res = fm.compare_settings(model, x, settings, noise_draws=1, pgd_steps=1, bisect=False)
    hw = [r.final_hw for r in res]
    assert hw[0] == (2, 2) and hw[1] == (4, 4) and hw[2] == (4, 4)
    assert res[0].sizes["stage6"][1:] == (2, 2) and res[2].sizes["stage6"][1:] == (4, 4)
    assert res[1].final_positions == 16
    for r in res:
        assert 0 < r.clean_prob <= 1 and r.sensitivity["logits"] > 0 and r.min_eps is None
        assert r.label == r.clean_pred
    with torch.no_grad():
        assert res[0].clean_pred == int(model(x).argmax())
    assert [b._depthwise_conv.stride for b in model.net._blocks] == strides  # shared model untouched
    assert not model.training
    assert settings[2].label == "×1 · stride 1: stage6"


def test_stage_sizes_figure_labels_are_short_and_hover_gives_the_full_size():
    """Bar labels: 112² for a square map (two settings' "112×112" side by side ran together),
    H×W otherwise; the hover still names H×W and the channels."""
    from core.viz.explain import stage_sizes_figure

    fig = stage_sizes_figure({"×1": {"stem": (16, 112, 112), "head": (320, 7, 5)},
                              "×2": {"stem": (16, 224, 224), "head": (320, 14, 10)}})
    assert [list(t.text) for t in fig.data] == [["112²", "7×5"], ["224²", "14×10"]]
    assert [list(t.y) for t in fig.data] == [[112 * 112, 35], [224 * 224, 140]]
    assert [list(map(list, t.customdata)) for t in fig.data] == [[[16, "112×112"], [320, "7×5"]],
                                                                [[16, "224×224"], [320, "14×10"]]]
    assert "%{customdata[1]}" in fig.data[0].hovertemplate and "%{customdata[0]} channels" in fig.data[0].hovertemplate
