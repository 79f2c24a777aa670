"""The PyTorch port of MediaPipe selfie segmentation against MediaPipe's own runtime.

The references in tests/fixtures/selfie_segmentation_reference.npz were computed by mediapipe
0.10.21 (TFLite + XNNPACK + its custom transposed-conv op) in a separate venv, by
tools/convert_selfie_segmentation.py; they do not depend on this port.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from core.models import get_spec, list_models, load_model
from core.models.dense.segmentation_builtin import WEIGHTS_DIR
from core.models.dense.selfie_segmentation import (SelfieSegmenter, build_selfie_segmenter,
                                             mediapipe_stretch, upsample_mask)

REF = Path(__file__).resolve().parents[1] / "fixtures" / "selfie_segmentation_reference.npz"
NAMES = {"general": "MediaPipe Selfie Segmentation",
         "landscape": "MediaPipe Selfie Segmentation (landscape)"}


@pytest.fixture(scope="module")
def ref():
    return np.load(REF)


def _image(ref, key: str) -> torch.Tensor:
    return torch.from_numpy(ref[key + "__image"]).permute(2, 0, 1)[None].float() / 255


@pytest.mark.parametrize("variant", ["general", "landscape"])
@pytest.mark.parametrize("image", ["astronaut", "grace_hopper", "noise"])
def test_port_matches_mediapipe_runtime(ref, variant, image):
    model = load_model(NAMES[variant], device="cpu")
    key = f"{variant}__{image}"
    x = _image(ref, key)
    assert tuple(x.shape[-2:]) == model.input_size
    with torch.no_grad():
        logits = model.forward_logits(x)
    mask = torch.sigmoid(logits)[0, 0].numpy()
    expected = ref[key + "__mask"]
    assert np.abs(mask - expected).max() < 1e-3
    # Also in logit space where the probability is not saturated (covers the noise image,
    # whose probabilities are all ~1e-9: there the check above alone would be vacuous).
    ok = (expected > 1e-30) & (expected < 1 - 1e-5)
    ref_logit = np.log(expected[ok]) - np.log1p(-expected[ok])
    assert ok.sum() > 500
    assert np.abs(logits[0, 0].numpy()[ok] - ref_logit).max() < 0.05


def test_portraits_give_a_person_and_noise_does_not(ref):
    for variant in NAMES:
        assert (ref[f"{variant}__astronaut__mask"] > 0.5).mean() > 0.3
        assert (ref[f"{variant}__noise__mask"] > 0.5).mean() == 0


def test_stretch_and_upsample_follow_mediapipe_on_an_odd_size(ref):
    """A 240×320 frame: MediaPipe stretches it to 256×256 and resizes the mask back."""
    model = load_model(NAMES["general"], device="cpu")
    x = _image(ref, "general__grace_hopper_240x320")
    with torch.no_grad():
        mask = upsample_mask(model(x), x.shape[-2:])[0, 0].numpy()
    diff = np.abs(mask - ref["general__grace_hopper_240x320__mask"])
    # OpenCV interpolates with 1/32-pixel fixed-point weights; the port in float.
    assert diff.mean() < 5e-4 and diff.max() < 0.1


def test_mediapipe_stretch_exact_values():
    # 1×4 row -> 2 columns: output u samples the input at u·4/2 = 0 and 2 (no half-pixel shift).
    x = torch.tensor([[[[0.0, 1.0, 2.0, 3.0], [0.0, 1.0, 2.0, 3.0]]]])
    out = mediapipe_stretch(x, (2, 2))
    assert torch.allclose(out, torch.tensor([[[[0.0, 2.0], [0.0, 2.0]]]]))
    # Upscaling 2 -> 4 columns samples at 0, 0.5, 1, 1.5: the last blends with the zero border.
    x = torch.tensor([[[[2.0, 4.0], [2.0, 4.0]]]])
    out = mediapipe_stretch(x, (2, 4))
    assert torch.allclose(out[0, 0, 0], torch.tensor([2.0, 3.0, 4.0, 2.0]))


def test_weights_load_strictly_and_plainly():
    for variant, file in (("general", "selfie_segmentation.pt"),
                          ("landscape", "selfie_segmentation_landscape.pt")):
        sd = torch.load(WEIGHTS_DIR / file, map_location="cpu", weights_only=True)
        assert all(v.dtype == torch.float32 for v in sd.values())
        size = get_spec(NAMES[variant]).input_size
        model = build_selfie_segmenter(sd, size)
        assert sum(p.numel() for p in model.parameters()) == 106_401
        fresh = SelfieSegmenter(size)
        fresh.load_state_dict(sd, strict=True)


def test_registry_and_read_only():
    specs = {s.name: s for s in list_models("segmentation")}
    assert set(NAMES.values()) <= set(specs)
    assert specs[NAMES["landscape"]].input_size == (144, 256)
    assert specs[NAMES["general"]].resize_size == 0
    model = load_model(NAMES["general"], device="cpu")
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    with pytest.raises(RuntimeError):
        model.train()


def test_differentiable_end_to_end_and_any_input_size():
    model = load_model(NAMES["general"], device="cpu")
    x = torch.rand(2, 3, 96, 72, generator=torch.Generator().manual_seed(0), requires_grad=True)
    y = model(x)
    assert y.shape == (2, 1, 256, 256) and ((y >= 0) & (y <= 1)).all()
    (g,) = torch.autograd.grad(y.sum(), x)
    assert g.shape == x.shape and torch.isfinite(g).all() and g.abs().sum() > 0
    # Fully convolutional at the input's own size when asked.
    assert model.forward_logits(x[:, :, :64, :64], resize=False).shape == (2, 1, 64, 64)
    logits, feats = model.forward_features(x, keep=("decoder3", "head"))
    assert feats["decoder3"].shape == (2, 16, 128, 128) and feats["head"].shape == (2, 128, 16, 16)
