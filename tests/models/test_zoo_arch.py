"""The zoo's ZeroSNet, ResNet and ViT families: forward shapes, determinism, the ZeroSNet recursion
against a hand computation, equal parameter counts where the papers' comparisons need them, and
the families' offers."""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import torch

from core.models.zoo.vit import ViT, build_vit
from core.models.zoo.zerosnet import ZEROS_OPT, MultistepNet, build_resnet, build_zerosnet, multistep
from core.models.zoo.catalogue import ZOO, build
from core.models.zoo.families import get_family
from core.evaluation.zoo.page import missing_views, view_gaps, view_models

torch.set_num_threads(1)
BUILDERS = {
    "zerosnet": lambda: build_zerosnet(width=8, blocks=4),
    "resnet": lambda: build_resnet(width=8, blocks=4),
    "vit-1": lambda: build_vit(heads=1, width=16, depth=2),
    "vit-4": lambda: build_vit(heads=4, width=16, depth=2),
}


def _params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("key", list(BUILDERS))
def test_forward_shape_grey_and_rgb_and_determinism(key):
    torch.manual_seed(0)
    m = BUILDERS[key]().eval()
    torch.manual_seed(0)
    again = BUILDERS[key]().eval()
    x = torch.rand(3, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        out = m(x)
        assert out.shape == (3, 10) and torch.isfinite(out).all()
        assert torch.equal(out, m(x))  # deterministic in eval mode
        assert torch.equal(out, again(x))  # the same seed builds the same network
        torch.testing.assert_close(m(x.expand(-1, 3, -1, -1)), out)  # three channels are averaged to grey
        logits, probes, feats = m.forward_train(x)
        torch.testing.assert_close(logits, out)
    assert probes == []
    # every family differentiates to the input (saliency, attacks)
    xg = x.clone().requires_grad_(True)
    m(xg)[:, 0].sum().backward()
    assert xg.grad is not None and xg.grad.abs().sum() > 0


def test_zerosnet_recursion_by_hand():
    # F_n(x) = x for every block, x0 = 1: Euler x1 = 2, x2 = 4; then
    # x3 = a0·4 + a1·2 + a2·1 + b0·4 = 4/3 + 10/9 + 1/9 + 64/9 = 29/3,
    # x4 = a0·x3 + a1·x2 + a2·x1 + b0·x3 = 29/9 + 20/9 + 2/9 + 464/27 = 617/27.
    a0, a1, a2, b0 = (Fraction(1, 3), Fraction(5, 9), Fraction(1, 9), Fraction(16, 9))
    xs_exact = [Fraction(1), Fraction(2), Fraction(4)]
    for _ in range(2):
        xs_exact.append(a0 * xs_exact[-1] + a1 * xs_exact[-2] + a2 * xs_exact[-3] + b0 * xs_exact[-1])
    assert xs_exact[3] == Fraction(29, 3) and xs_exact[4] == Fraction(617, 27)
    xs = multistep(torch.tensor([1.0], dtype=torch.float64), [lambda x: x] * 4, "zerosnet")
    assert [float(v) for v in xs] == pytest.approx([float(v) for v in xs_exact], abs=1e-12)
    euler = multistep(torch.tensor([1.0], dtype=torch.float64), [lambda x: x] * 4, "euler")
    assert [float(v) for v in euler] == [1.0, 2.0, 4.0, 8.0, 16.0]
    # the "Opt" coefficients: consistent (Σa = 1) and zero-stable (roots 1, −1/3, −1/3)
    assert sum(ZEROS_OPT[:3]) == pytest.approx(1.0)
    r = np.sort(np.roots([1.0, -ZEROS_OPT[0], -ZEROS_OPT[1], -ZEROS_OPT[2]]).real)
    assert r == pytest.approx([-1 / 3, -1 / 3, 1.0], abs=1e-6)


def test_zerosnet_network_uses_the_recursion():
    """The network's state after its blocks is the recursion applied to its own blocks."""
    torch.manual_seed(0)
    net = MultistepNet("zerosnet", width=4, blocks=4, stem=4).eval()
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        x0 = net.stem(x)
        x1 = x0 + net.blocks[0](x0)
        x2 = x1 + net.blocks[1](x1)
        a0, a1, a2, b0 = ZEROS_OPT
        x3 = a0 * x2 + a1 * x1 + a2 * x0 + b0 * net.blocks[2](x2)
        x4 = a0 * x3 + a1 * x2 + a2 * x1 + b0 * net.blocks[3](x3)
        _, _, feats = net.forward_train(x)
    torch.testing.assert_close(feats["block4"], x4)
    torch.testing.assert_close(feats["block3"], x3)


def test_same_blocks_same_budget_and_heads_do_not_change_the_parameter_count():
    z, r = build_zerosnet(), build_resnet()
    assert _params(z) == _params(r) == 116_538
    assert [k for k, _ in z.named_parameters()] == [k for k, _ in r.named_parameters()]
    v1, v4 = build_vit(heads=1), build_vit(heads=4)
    assert _params(v1) == _params(v4) == 138_890
    assert {k: p.shape for k, p in v1.named_parameters()} == {k: p.shape for k, p in v4.named_parameters()}
    with pytest.raises(ValueError):
        ViT(heads=3)


def test_families_offer_what_they_have():
    assert get_family("vit").offers == frozenset({"saliency"})
    assert "channels" in get_family("zerosnet").offers and "channels" in get_family("resnet").offers
    assert any("channel analysis" in m for m in get_family("vit").missing())
    m = build_vit(heads=1, width=16, depth=1)
    assert m.stage_names == []
    with pytest.raises(RuntimeError):
        m.forward_features(torch.rand(1, 1, 28, 28))
    z = build_zerosnet(width=8, blocks=3).eval()
    x = torch.rand(2, 1, 28, 28)
    with torch.no_grad():
        fmap, kept = z.forward_features(x, keep=("block3",))
        torch.testing.assert_close(z.forward_head(fmap), z(x))  # GAP + linear head on the pre-pool map
    assert fmap.shape == (2, 8, 7, 7) and kept["block3"].shape == (2, 8, 7, 7)
    assert z.classifier_weight.shape == (10, 8)


def test_zoo_entries_of_issue_21():
    by = {e.name: e for e in ZOO}
    for name, fam in (("fmnist-zerosnet", "zerosnet"), ("fmnist-resnet", "resnet"),
                      ("fmnist-vit-1head", "vit"), ("fmnist-vit-4head", "vit")):
        assert by[name].family == fam and by[name].recipe == "standard"
    assert build("fmnist-vit-4head").net.config["heads"] == 4
    assert build("fmnist-vit-1head").net.config["heads"] == 1


def test_zoo_page_views_follow_the_families():
    """The zoo page's saliency and channel views show exactly the chosen models whose family offers
    the view (no model the user did not choose), and name what a family does not offer."""
    chosen = ["fmnist-standard", "fmnist-zerosnet", "fmnist-vit-1head"]
    assert view_models(chosen, "saliency") == chosen
    assert view_models(chosen, "channels") == ["fmnist-standard", "fmnist-zerosnet"]
    assert list(view_gaps(chosen, "channels")) == ["fmnist-vit-1head"] and not view_gaps(chosen, "saliency")
    miss = missing_views(chosen)
    assert list(miss) == ["fmnist-vit-1head"] and any("channel analysis" in m for m in miss["fmnist-vit-1head"])
