"""CIFS-style channel relevance: closed form at the head, finite differences earlier."""
from __future__ import annotations

import pytest
import torch

from core.explain import channels
from explain_tiny import TinyNet, no_hooks_left

torch.set_num_threads(1)


@pytest.fixture()
def net():
    return TinyNet(k=4, seed=3)


@pytest.fixture()
def xs():
    g = torch.Generator().manual_seed(11)
    x = torch.rand(2, 3, 10, 10, generator=g, dtype=torch.float64)
    return x, (x + 0.1 * torch.randn(x.shape, generator=g, dtype=torch.float64)).clamp(0, 1)


def test_head_relevance_is_classifier_row_and_matches_autograd(net, xs):
    x, _ = xs
    r, exact = channels.channel_relevance(net, x, "head", 2)
    assert exact
    torch.testing.assert_close(r, net.fc.weight[2].expand(2, -1))
    r2, exact2 = channels.channel_relevance(net, x, "head", 2, exact_head=False)
    assert not exact2
    torch.testing.assert_close(r2, r, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("stage", ["stage1", "stage2"])
def test_earlier_stage_relevance_matches_finite_differences(net, xs, stage):
    x, _ = xs
    y = torch.tensor([1, 3])
    r, exact = channels.channel_relevance(net, x, stage, y)
    assert not exact
    _, feats = net.forward_features(x, (stage,))
    a = feats[stage]
    h = 1e-5
    for c in range(a.shape[1]):
        e = torch.zeros_like(a)
        e[:, c] = 1.0  # shift the whole channel: ā_c moves by exactly 1 per unit
        zp = net.forward_from(stage, a + h * e).gather(1, y[:, None])[:, 0]
        zm = net.forward_from(stage, a - h * e).gather(1, y[:, None])[:, 0]
        fd = (zp - zm) / (2 * h)
        torch.testing.assert_close(r[:, c], fd, rtol=1e-6, atol=1e-8)


def test_pr_nr_sums_add_up_to_the_logit_at_the_head(net, xs):
    x, xa = xs
    res = channels.analyse_channels(net, x[:1], xa[:1], "head")
    s = res.sums()
    with torch.no_grad():
        z = net(x[:1])[0]
        za = net(xa[:1])[0]
    y = int(res.cls[0])
    assert y == int(z.argmax())
    assert s["PR_nat"] + s["NR_nat"] + res.bias == pytest.approx(float(z[y]), rel=1e-9)
    assert s["PR_adv"] + s["NR_adv"] + res.bias == pytest.approx(float(za[y]), rel=1e-9)
    assert res.logit_nat == pytest.approx(float(z[y]))
    assert s["PR_nat"] >= 0 >= s["NR_nat"]  # activations are softplus (positive)
    assert (res.relevance[res.order].diff() <= 0).all()
    assert int(res.pr.sum() + res.nr.sum()) == int((res.relevance != 0).sum())
    torch.testing.assert_close(res.delta, res.act_adv - res.act_nat)
    assert res.maps_nat.shape == (5, 5, 5)
    assert no_hooks_left(net)


def test_top_channels_by_impact(net, xs):
    x, xa = xs
    res = channels.analyse_channels(net, x, xa, "stage2", cls=0)
    top = res.top_channels(3)
    impact = (res.relevance * res.delta).abs()
    assert set(top.tolist()) == set(torch.topk(impact, 3).indices.tolist())
    assert res.top_channels(100).numel() == res.relevance.numel()
    with pytest.raises(ValueError):
        res.top_channels(2, by="colour")


def test_head_transform_is_applied(net, xs):
    x, xa = xs
    scale = torch.tensor([2.0, 0.0, 1.0, 1.0, 0.5], dtype=torch.float64).view(1, -1, 1, 1)
    res = channels.analyse_channels(net, x, xa, "head", cls=1, head_transform=lambda a: a * scale)
    plain = channels.analyse_channels(net, x, xa, "head", cls=1)
    torch.testing.assert_close(res.act_nat, plain.act_nat * scale.flatten())
    with torch.no_grad():
        z = net.forward_head(net.forward_features(x)[0] * scale)[:, 1].mean()
    assert res.logit_nat == pytest.approx(float(z))
    # earlier stage: the gradient goes through the transform (channel 1 switched off)
    r_t, _ = channels.channel_relevance(net, x, "stage2", 1, head_transform=lambda a: a * scale)
    r_p, _ = channels.channel_relevance(net, x, "stage2", 1)
    assert not torch.allclose(r_t, r_p)


def test_lite0_head_analysis_runs():
    from core.models import load_model

    model = load_model("EfficientNet-Lite0")
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, 3, 64, 64, generator=g)
    xa = (x + 4 / 255 * torch.randn(x.shape, generator=g).sign()).clamp(0, 1)
    res = channels.analyse_channels(model, x, xa, "head")
    assert res.relevance.shape == (1280,) and res.exact
    s = res.sums()
    assert s["PR_nat"] + s["NR_nat"] + res.bias == pytest.approx(res.logit_nat, rel=1e-4, abs=1e-3)
    res5 = channels.analyse_channels(model, x, xa, "stage5")
    assert res5.relevance.shape == (112,) and not res5.exact
    assert no_hooks_left(model) and not model.training


def test_cifs_lite_transform_reproduces_the_defense(net, xs):
    from core.defenses.cifs_lite import cifs_lite_forward, cifs_lite_mask

    x, xa = xs
    tf = channels.cifs_lite_transform(net, temperature=0.5)
    res = channels.analyse_channels(net, x[:1], xa[:1], "head", head_transform=tf)
    logits, plain, mask = cifs_lite_forward(net, x[:1], temperature=0.5)
    y = int(res.cls[0])
    assert res.logit_nat == pytest.approx(float(logits[0, y]), rel=1e-12)
    with torch.no_grad():
        a = net.forward_features(x[:1])[0].mean((0, 2, 3))
    torch.testing.assert_close(res.act_nat, a * mask[0])
    # the masked activations, weighted by W_y, still add up to the (defended) logit
    s = res.sums()
    assert s["PR_nat"] + s["NR_nat"] + res.bias == pytest.approx(float(logits[0, y]), rel=1e-9)
    ident = channels.cifs_lite_transform(net, temperature=float("inf"))
    plain_res = channels.analyse_channels(net, x[:1], xa[:1], "head", head_transform=ident)
    assert plain_res.logit_nat == pytest.approx(float(plain[0, y]), rel=1e-12)
    assert cifs_lite_mask(net, plain, 1.0).mean() == pytest.approx(1.0)
