"""Feature-map size, CIFS-lite, the input transforms and the registry (core/defenses/)."""
from __future__ import annotations

import math

import io

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from scipy import ndimage

from core.defenses import DEFENSE_PARAMS, DEFENSES, default_params, make_defense
from core.defenses.cifs_lite import CIFSLite, channel_relevance, cifs_lite_forward, cifs_lite_mask
from core.defenses.feature_size import (FeatureMapSize, build_feature_size_model, downsampling_stages,
                                        stage_sizes)
from core.defenses.transforms import bit_depth, jpeg, median_filter
from core.models import load_model

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def lite0():
    return load_model("EfficientNet-Lite0", device="cpu")


# ------------------------------------------------------------------ feature-map size

def test_stage_sizes_lite0_224(lite0):
    plain = stage_sizes(lite0, (224, 224))
    assert plain["stage1"] == (16, 112, 112) and plain["stage5"] == (112, 14, 14)
    assert plain["stage6"] == (192, 7, 7) and plain["head"] == (1280, 7, 7)
    assert downsampling_stages(lite0) == ["stage2", "stage3", "stage4", "stage6"]
    s6 = stage_sizes(build_feature_size_model(lite0, 1.0, ("stage6",)), (224, 224))
    assert s6["stage5"] == (112, 14, 14)  # before the change: untouched
    assert s6["stage6"] == (192, 14, 14) and s6["stage7"] == (320, 14, 14) and s6["head"] == (1280, 14, 14)
    up = stage_sizes(build_feature_size_model(lite0, 2.0), (224, 224))
    assert all(up[k][1:] == (2 * plain[k][1], 2 * plain[k][2]) for k in plain)
    both = stage_sizes(build_feature_size_model(lite0, 2.0, ("stage4", "stage6")), (224, 224))
    assert both["head"] == (1280, 56, 56)


def test_feature_size_leaves_the_shared_model_alone(lite0):
    before = lite0.net.first_block_of_stage("stage6")._depthwise_conv.stride
    m = build_feature_size_model(lite0, 1.0, ("stage6",))
    assert m is not lite0 and before == (2, 2)
    assert lite0.net.first_block_of_stage("stage6")._depthwise_conv.stride == (2, 2)
    assert build_feature_size_model(lite0, 1.0, ()) is lite0
    assert build_feature_size_model(lite0, 1.0, ("stage6",)) is m  # cached
    with pytest.raises(ValueError):
        build_feature_size_model(lite0, 1.0, ("stage5",))  # stage5 does not downsample


def test_upsampling_wrapper_is_nearest_interpolation(lite0):
    x = torch.rand(1, 3, 48, 48)
    m = build_feature_size_model(lite0, 2.0)
    ref = lite0(F.interpolate(x, scale_factor=2, mode="nearest"))
    assert torch.allclose(m(x), ref, atol=1e-5)
    d = FeatureMapSize(lite0, upsample=2.0)
    out = d.defend(x)
    assert out.x_classified.shape == (1, 3, 96, 96)
    assert torch.allclose(out.logits, ref, atol=1e-3)  # fused copy: same function to float rounding
    xa = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(d.as_model()(xa)[:, 0].sum(), xa)
    assert g.shape == x.shape


# ------------------------------------------------------------------ CIFS-lite

def test_cifs_lite_infinite_temperature_is_the_plain_model(lite0):
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    logits, plain, mask = cifs_lite_forward(lite0, x, temperature=float("inf"))
    assert torch.equal(mask, torch.ones_like(mask))
    assert torch.allclose(logits, lite0(x), atol=1e-5) and torch.allclose(plain, lite0(x), atol=1e-5)
    big, _, _ = cifs_lite_forward(lite0, x, temperature=1e6)
    assert torch.allclose(big, lite0(x), atol=1e-3)


def test_cifs_lite_mask_exact_values_on_a_hand_made_classifier():
    class Head:  # 3 classes, 4 channels: class k's weight row is ln(3)·e_k
        classifier_weight = math.log(3) * torch.eye(3, 4)

    logits = torch.tensor([[3.0, 2.0, 0.0], [0.0, 1.0, 5.0]])  # top-2: {0, 1} and {2, 1}
    m = cifs_lite_mask(Head(), logits, temperature=1.0)
    # g = ln3·(e_0 + e_1): 4·softmax = 4·[3, 3, 1, 1]/8
    torch.testing.assert_close(m[0], torch.tensor([1.5, 1.5, 0.5, 0.5]))
    torch.testing.assert_close(m[1], torch.tensor([0.5, 1.5, 1.5, 0.5]))
    # T = 2 halves g: 4·[√3, √3, 1, 1]/(2√3 + 2)
    r3 = math.sqrt(3)
    torch.testing.assert_close(cifs_lite_mask(Head(), logits[:1], temperature=2.0)[0],
                               torch.tensor([4 * r3, 4 * r3, 4.0, 4.0]) / (2 * r3 + 2))
    assert torch.equal(cifs_lite_mask(Head(), logits, temperature=float("inf")), torch.ones(2, 4))


def test_cifs_lite_mask_and_relevance(lite0):
    w = lite0.classifier_weight
    assert torch.equal(channel_relevance(lite0, 281), w[281])
    assert torch.equal(channel_relevance(lite0, [1, 2]), w[[1, 2]])
    logits = torch.zeros(1, 1000)
    logits[0, 5], logits[0, 9] = 3.0, 2.0
    m = cifs_lite_mask(lite0, logits, temperature=1.0)
    assert m.shape == (1, 1280) and m.sum().item() == pytest.approx(1280, rel=1e-5)  # mean multiplier 1
    # the relevant channels are amplified
    assert m[0, (w[5] + w[9]).argmax()] == m.max()
    d = CIFSLite(lite0, temperature=1.0)
    x = torch.rand(1, 3, 64, 64).requires_grad_(True)
    (g,) = torch.autograd.grad(d.as_model()(x)[:, 0].sum(), x)
    assert g.shape == x.shape and g.abs().sum() > 0


# ------------------------------------------------------------------ input transforms

def test_bit_depth_exact_values():
    x = torch.tensor([0.0, 0.1, 0.3, 0.49, 0.51, 0.8, 1.0]).view(1, 1, 1, 7)
    assert torch.equal(bit_depth(x, 1), torch.tensor([0.0, 0, 0, 0, 1, 1, 1]).view(1, 1, 1, 7))
    y = bit_depth(torch.rand(1, 3, 8, 8), 3)
    assert torch.allclose(y * 7, (y * 7).round(), atol=1e-6)
    assert torch.equal(bit_depth(y, 8), bit_depth(bit_depth(y, 8), 8))


def test_median_filter_against_scipy():
    x = torch.rand(2, 3, 13, 11, generator=torch.Generator().manual_seed(0))
    for k in (3, 5):
        ours = median_filter(x, k).numpy()
        # torch's "reflect" padding (d c b | a b c d) is scipy's "mirror"
        ref = ndimage.median_filter(x.numpy(), size=(1, 1, k, k), mode="mirror")
        assert np.allclose(ours, ref)
    with pytest.raises(ValueError):
        median_filter(x, 4)


def test_jpeg_round_trip():
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 32), torch.linspace(0, 1, 32), indexing="ij")
    x = torch.stack([xx, yy, (xx + yy) / 2]).unsqueeze(0)
    y95, y10 = jpeg(x, 95), jpeg(x, 10)
    assert y95.shape == x.shape
    assert torch.allclose(y95 * 255, (y95 * 255).round(), atol=1e-4)  # 8-bit values
    assert (y95 - x).abs().mean() < (y10 - x).abs().mean()
    # the same bytes Pillow writes and reads
    buf = io.BytesIO()
    Image.fromarray((x[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).save(buf, "JPEG", quality=95)
    ref = torch.from_numpy(np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB")).copy())
    assert torch.equal((y95[0].permute(1, 2, 0) * 255).round().to(torch.uint8), ref)


# ------------------------------------------------------------------ registry

def test_registry_is_complete(lite0):
    assert set(DEFENSE_PARAMS) == set(DEFENSES)
    for name, cls in DEFENSES.items():
        assert cls.summary and cls.paper and cls.name
        assert cls.adaptive_route in ("plain", "bpda", "eot")
        for spec in DEFENSE_PARAMS[name]:
            assert spec.kind in ("int", "float", "k255", "choice", "multichoice", "bool")
    assert "exploratory" in DEFENSES["CIFS-lite (untrained, exploratory)"].name
    d = make_defense("JPEG", lite0, **default_params("JPEG"))
    assert d.quality == 75
    assert make_defense("Equivariance purification", lite0, preset="paper").steps == 20
    with pytest.raises(KeyError):
        make_defense("nope", lite0)
