"""Frame sequences, the sequence classifier and Smooth-Reduce on sequences (fast; hand-made inputs)."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from core.data import sequences as ds
from core.defenses.smooth_reduce_sequences import (ReducedScores, SmoothedSequenceClassifier, all_variants,
                                                   multiplicity, reduce_probs, split, subsequence_starts)
from core.defenses.smoothing import certify
from core.models.sequence_net import SequenceNet
from core.viz.sequences import frames_strip


def _ramp(frames: int = 8) -> torch.Tensor:
    """(1, T, 1, 2, 2): frame t holds the value t everywhere."""
    return torch.arange(frames, dtype=torch.float32).view(1, frames, 1, 1, 1).expand(1, frames, 1, 2, 2).clone()


class FrameMean(nn.Module):
    """Two-class logits [mean of all frame values, 0]."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = x.flatten(1).mean(1)
        return torch.stack([m, torch.zeros_like(m)], 1)


def test_split_starts_and_multiplicity_exact():
    x = _ramp(8)
    sub = split(x, 4, 2)
    assert subsequence_starts(8, 4, 2) == [0, 2, 4]
    assert tuple(sub.shape) == (1, 3, 4, 1, 2, 2)
    for k, s in enumerate([0, 2, 4]):
        assert sub[0, k, :, 0, 0, 0].tolist() == [s, s + 1, s + 2, s + 3]
    assert multiplicity(16, 8, 2).tolist() == [1, 1, 2, 2, 3, 3, 4, 4, 4, 4, 3, 3, 2, 2, 1, 1]
    assert multiplicity(8, 4, 4).tolist() == [1] * 8
    with pytest.raises(ValueError):
        split(x, 9, 1)


def test_reduces_exact_on_hand_made_probabilities():
    p = torch.tensor([[[0.7, 0.2, 0.1], [0.1, 0.5, 0.4], [0.4, 0.4, 0.2]]])
    assert torch.allclose(reduce_probs(p, "mean"), torch.tensor([[0.4, 1.1 / 3, 0.7 / 3]]))
    assert torch.equal(reduce_probs(p, "max"), torch.tensor([[0.7, 0.5, 0.4]]))
    x = _ramp(8)  # sub-sequences [0..3], [2..5], [4..7]: means 1.5, 3.5, 5.5
    per = ReducedScores(FrameMean(), 4, 2, "mean", stacked=False).per_subsequence(x)[0]
    want = torch.sigmoid(torch.tensor([1.5, 3.5, 5.5]))
    assert torch.allclose(per[:, 0], want) and torch.allclose(per[:, 1], 1 - want)
    assert torch.allclose(ReducedScores(FrameMean(), 4, 2, "max", stacked=False)(x)[0],
                          torch.stack([want.max(), (1 - want).max()]))
    assert torch.allclose(ReducedScores(FrameMean(), 4, 2, "mean", stacked=False)(x)[0],
                          torch.stack([want.mean(), (1 - want).mean()]))
    # stacked input gives the same scores as splitting inside
    assert torch.allclose(ReducedScores(FrameMean(), 4, 2, "mean", stacked=True)(split(x, 4, 2)),
                          ReducedScores(FrameMean(), 4, 2, "mean", stacked=False)(x))


def test_one_draw_with_one_subsequence_is_cohen():
    net = SequenceNet(chunk=2, width=4).eval()
    torch.manual_seed(0)
    x = torch.rand(1, 8, 1, 28, 28)
    one = SmoothedSequenceClassifier(net, "one_draw", "max", sigma=0.25, length=8, stride=4)
    c = one.certify(x, n0=8, n=64, alpha=0.01, batch_size=32, seed=3)
    ref = certify(net, x, sigma=0.25, n0=8, n=64, alpha=0.01, batch_size=32, seed=3)
    assert torch.equal(c.result.counts, ref.counts) and torch.equal(c.result.counts0, ref.counts0)
    assert c.predicted == ref.predicted and c.radius == ref.radius == c.sound_radius
    assert c.result.p_lower == ref.p_lower


def test_variants_radius_factors_and_independent_noise_shape():
    net = SequenceNet(chunk=2, width=4).eval()
    v = all_variants(net)
    assert list(v) == ["independent noise, max", "independent noise, mean", "one draw, max", "one draw, mean",
                       "plain smoothing"]
    assert v["independent noise, mean"].radius_factor(16) == pytest.approx(0.5)  # m = 4
    assert v["one draw, mean"].radius_factor(16) == 1.0 and v["plain smoothing"].radius_factor(16) == 1.0
    x = torch.rand(1, 16, 1, 28, 28)
    assert tuple(v["independent noise, max"].lift(x).shape) == (1, 5, 8, 1, 28, 28)
    c = v["independent noise, mean"].certify(x, n0=4, n=16, alpha=0.1, batch_size=16, seed=0)
    assert c.sound_radius == pytest.approx(c.radius / 2)
    assert int(c.result.counts.sum()) == 16


def test_generator_is_deterministic_and_in_range():
    img = torch.zeros(3, 1, 28, 28)
    img[:, :, 10:18, 12:16] = torch.tensor([0.2, 0.6, 1.0]).view(3, 1, 1, 1)
    a, ma = ds.make_sequences(img, seed=5)
    b, mb = ds.make_sequences(img, seed=5)
    c, _ = ds.make_sequences(img, seed=6)
    assert tuple(a.shape) == (3, ds.FRAMES, 1, 28, 28)
    assert torch.equal(a, b) and ma == mb and not torch.equal(a, c)
    assert float(a.min()) >= 0 and float(a.max()) <= 1
    # frame t is the image shifted by offsets(t) and scaled by the brightness ramp
    m = ma[0]
    dx, dy = ds.offsets(m)[5]
    bright = m.brightness[0] + (m.brightness[1] - m.brightness[0]) * 5 / 15
    assert torch.allclose(a[0, 5], ds.shift(img[0], dx, dy) * bright)


def test_shift_fills_with_zeros():
    x = torch.arange(9.0).view(1, 3, 3)
    assert ds.shift(x, 1, 0).tolist() == [[[0, 0, 1], [0, 3, 4], [0, 6, 7]]]
    assert ds.shift(x, 0, -1).tolist() == [[[3, 4, 5], [6, 7, 8], [0, 0, 0]]]


def test_shipped_sequences_and_network_shapes():
    seq, y = ds.load_test_sequences()
    assert seq.shape[1:] == (ds.FRAMES, 1, 28, 28) and len(y) == seq.shape[0] == 100
    assert torch.bincount(y).tolist() == [10] * 10
    net = SequenceNet().eval()
    out = net(seq[:2])
    assert tuple(out.shape) == (2, 10)
    # mean over chunks: the 16-frame logits are the mean of its two 8-frame halves' logits
    halves = (net(seq[:2, :8]) + net(seq[:2, 8:])) / 2
    assert torch.allclose(out, halves, atol=1e-5)


def test_frames_strip_layout_and_values():
    f = torch.zeros(16, 1, 28, 28)
    f[3] = 1.0
    img = frames_strip(f, scale=3, gap=4, per_row=8)
    assert img.shape == (2 * 84 + 4, 8 * 84 + 7 * 4, 3)
    assert (img[:84, 3 * 88:3 * 88 + 84] == 255).all() and (img[:84, :84] == 0).all()  # frame 3 white, frame 0 black
    assert (img[84:88] == 255).all()  # the gap between the rows
