"""Class-activation masks: exact values on a hand-made GAP + linear classifier, and the real
EfficientNet-Lite0 as a one-class segmenter."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from core.attacks.base import ThreatModel
from core.attacks.dense.segmentation import SegmentationPGD
from core.explain.cam_mask import cam_mask, cam_mask_model, channel_weights
from core.models import load_model


class TinyGapNet(nn.Module):
    """Feature map = the image itself (3 channels); head = GAP then a known linear layer."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 4)
        with torch.no_grad():
            self.fc.weight.copy_(torch.tensor([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, -1.0], [0.5, 0.5, 0.5]]))
            self.fc.bias.zero_()
        self.input_size = 8
        self.class_names = ["red", "green", "blue", "grey"]
        self.name = "tiny"
        self.eval()

    def forward_features(self, x, keep=()):
        return x * 1.0, {}

    def forward_head(self, fmap):
        return self.fc(fmap.mean(dim=(2, 3)))

    def forward(self, x):
        return self.forward_head(x)


def test_gradcam_weights_equal_cam_on_gap_linear_head():
    net = TinyGapNet()
    x = torch.zeros(1, 3, 8, 8)
    x[:, 1, :4] = 1.0  # green top half -> class "green" wins (logit 2·0.5 = 1)
    w, cls = channel_weights(net, x, top_k=1)
    assert cls.names == [["green"]]
    p = torch.softmax(net(x), 1)[0, 1]
    # α = W_k / (h·w) for a GAP + linear head (Zhou et al.'s CAM up to the factor), times p_k
    assert torch.allclose(w, p * net.fc.weight[1][None] / 64, atol=1e-7)


def test_mask_values_exact_on_hand_made_input():
    net = TinyGapNet()
    x = torch.zeros(1, 3, 8, 8)
    x[:, 1, :4] = 1.0
    x[:, 1, 4:, :4] = 0.25  # a quarter-strength block: CAM 0.25 of the max, below the threshold
    soft, binary, cls = cam_mask(net, x, top_k=1)
    expected = x[:, 1:2] / x[:, 1:2].max()
    assert torch.allclose(soft, expected, atol=1e-6)
    assert torch.equal(binary, (expected > 0.5).float())
    m = cam_mask_model(net, x, top_k=1)
    logits = m.forward_logits(x)
    assert torch.allclose(logits, m.sharpness * (expected - 0.5), atol=1e-5)
    # weights are fixed at the clean image: a changed image changes the map, not the classes
    x2 = x.flip(-2)
    assert torch.allclose(m.cam(x2), x2[:, 1:2] / x2[:, 1:2].max(), atol=1e-6)


def test_top_k_mixes_classes_by_probability():
    net = TinyGapNet()
    x = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    w, cls = channel_weights(net, x, top_k=4)
    probs = torch.softmax(net(x), 1)[0]
    expected = (probs[:, None] * net.fc.weight).sum(0) / 64
    assert torch.allclose(w[0], expected, atol=1e-6)
    assert cls.classes.shape == (1, 4)


def test_real_classifier_mask_is_attackable_and_read_only():
    clf = load_model("EfficientNet-Lite0", device="cpu")
    x = torch.rand(1, 3, 96, 128, generator=torch.Generator().manual_seed(0))
    m = cam_mask_model(clf, x)
    assert m.approximate and m.input_size == (224, 224)
    prob = m(x)
    assert prob.shape == (1, 1, 224, 224) and 0 < float((prob > 0.5).float().mean()) < 1
    with pytest.raises(RuntimeError):
        m.train()
    r = SegmentationPGD(ThreatModel(eps=4 / 255, step=1 / 255, steps=2)).run(m, x, seed=0)
    assert float(r.linf.max()) <= 4 / 255 + 1e-6
    assert not clf.training and not any(p.requires_grad for p in clf.parameters())
