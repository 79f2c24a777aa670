"""Segmentation PGD: exact metrics on hand-made masks, target shapes, attack invariants on the
real MediaPipe port."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from core.attacks.base import ThreatModel
from core.attacks.dense.seg_targets import SHAPES, mask_of_image, resize_mask, shape_mask
from core.attacks.dense.segmentation import (SegmentationPGD, mask_iou, pixel_accuracy, seg_objective,
                                       target_reached)
from core.models import load_model

REF = Path(__file__).resolve().parents[1] / "fixtures" / "selfie_segmentation_reference.npz"
MODEL = "MediaPipe Selfie Segmentation"


# --------------------------------------------------------------------------- metrics
def test_iou_and_pixel_accuracy_exact_on_hand_made_masks():
    a = torch.zeros(2, 1, 4, 4, dtype=torch.bool)
    b = torch.zeros(2, 1, 4, 4, dtype=torch.bool)
    a[0, 0, :2, :2] = True  # 4 px
    b[0, 0, 1:3, 1:3] = True  # 4 px, overlap 1 px -> union 7
    # image 1: both empty
    assert torch.allclose(mask_iou(a, b), torch.tensor([1 / 7, 1.0]))
    # disagreements in image 0: 3 + 3 = 6 of 16 pixels
    assert torch.allclose(pixel_accuracy(a, b), torch.tensor([10 / 16, 1.0]))
    assert torch.allclose(target_reached(a, b), torch.tensor([10 / 16, 1.0]))
    full = torch.ones(1, 1, 4, 4, dtype=torch.bool)
    assert float(mask_iou(full, torch.zeros_like(full))) == 0.0
    assert float(mask_iou(full, full)) == 1.0


def test_objective_signs():
    logits = torch.tensor([[[[5.0, -5.0]]]])
    ref = torch.tensor([[[[1.0, 0.0]]]])
    good = seg_objective(logits, ref, "untargeted")
    assert float(good) == pytest.approx(math.log1p(math.exp(-5.0)), rel=1e-5)  # mean BCE
    assert float(seg_objective(logits, ref, "targeted")) == pytest.approx(-float(good))


# --------------------------------------------------------------------------- shapes
def test_shapes_are_exact_binary_and_placed():
    h, w = 101, 201
    for name in SHAPES:
        m = shape_mask(name, h, w, cy=0.5, cx=0.5, size=0.6)
        assert m.shape == (h, w) and set(m.unique().tolist()) <= {0.0, 1.0}
    assert shape_mask("erase", h, w).sum() == 0 and shape_mask("fill", h, w).sum() == h * w
    c = shape_mask("circle", 400, 400, size=0.5)  # radius 100 px
    assert float(c.sum()) == pytest.approx(math.pi * 100 ** 2, rel=0.01)
    s = shape_mask("square", 400, 400, size=0.5)
    assert float(s.sum()) == 200 * 200
    # symmetric shapes centred in the frame are left-right symmetric
    for name in ("star", "heart", "circle"):
        m = shape_mask(name, 100, 100, size=0.7)
        assert torch.equal(m, m.flip(-1))
    # placement: a small circle near the top-left corner
    m = shape_mask("circle", 100, 100, cy=0.2, cx=0.2, size=0.2)
    ys, xs = torch.nonzero(m, as_tuple=True)
    assert abs(float(ys.float().mean()) - 19.5) < 0.6 and abs(float(xs.float().mean()) - 19.5) < 0.6
    with pytest.raises(KeyError):
        shape_mask("hexagon", 10, 10)


def test_resize_mask_keeps_binary():
    m = shape_mask("square", 64, 64, size=0.5)
    r = resize_mask(m[None, None], (128, 128))
    assert r.shape == (1, 1, 128, 128) and set(r.unique().tolist()) == {0.0, 1.0}
    assert float(r.mean()) == pytest.approx(float(m.mean()), abs=0.01)


# --------------------------------------------------------------------------- attack on the real model
@pytest.fixture(scope="module")
def model():
    return load_model(MODEL, device="cpu")


@pytest.fixture(scope="module")
def portrait():
    arr = np.load(REF)["general__astronaut__image"]
    return torch.from_numpy(arr).permute(2, 0, 1)[None].float() / 255


def test_untargeted_invariants_and_determinism(model, portrait):
    x = portrait.clone()
    x[..., :8, :8] = 0.0  # pixels at the box edges: the box clip must hold
    x[..., -8:, -8:] = 1.0
    tm = ThreatModel(norm="linf", eps=4 / 255, step=1 / 255, steps=4, random_start=True)
    r1 = SegmentationPGD(tm).run(model, x, seed=3, record_masks=True)
    r2 = SegmentationPGD(tm).run(model, x, seed=3)
    r3 = SegmentationPGD(tm).run(model, x, seed=4)
    assert float(r1.linf.max()) <= 4 / 255 + 1e-6
    assert r1.x_adv.min() >= 0 and r1.x_adv.max() <= 1
    assert torch.equal(r1.x_adv, r2.x_adv)  # same seed, same result
    assert not torch.equal(r1.x_adv, r3.x_adv)
    assert len(r1.trajectory) == 4 and r1.trajectory[0].mask.shape == (1, 1, 256, 256)
    assert r1.trajectory[-1].loss[0] > r1.trajectory[0].loss[0]  # the objective went up
    assert float(r1.iou[0]) < 0.95  # four small steps already damage the mask
    f = r1.flipped
    assert int((f != 0).sum()) == int(((r1.adv_mask) != (r1.clean_mask)).sum())
    assert float(r1.pixel_accuracy[0]) == pytest.approx(1 - float((f != 0).float().mean()))


def test_targeted_erase_and_another_images_mask(model, portrait):
    tm = ThreatModel(norm="linf", eps=4 / 255, step=1 / 255, steps=6, random_start=True)
    r = SegmentationPGD(tm).run(model, portrait, torch.zeros(64, 64), seed=0)  # any resolution
    assert r.mode == "targeted" and r.target.shape == (1, 1, 256, 256) and r.target.sum() == 0
    assert float(r.adv_mask.float().mean()) < float(r.clean_mask.float().mean()) / 2
    assert float(r.target_reached[0]) > 0.8
    other = torch.from_numpy(np.load(REF)["general__grace_hopper__image"]).permute(2, 0, 1)[None].float() / 255
    tgt = mask_of_image(model, other)
    assert tgt.shape == (1, 1, 256, 256)
    r2 = SegmentationPGD(tm).run(model, portrait, tgt, seed=0)
    before = float(target_reached(r2.clean_mask, tgt.bool())[0])
    assert float(r2.target_reached[0]) > before


def test_l2_and_restarts_stay_in_ball(model, portrait):
    x = torch.nn.functional.interpolate(portrait, size=(64, 64), mode="bilinear", align_corners=False)
    tm = ThreatModel(norm="l2", eps=0.5, step=0.2, steps=2, random_start=True, restarts=2)
    r = SegmentationPGD(tm).run(model, x, seed=0)
    assert r.x_adv.shape == x.shape  # the perturbation lives at the image's resolution
    assert float(r.l2.max()) <= 0.5 + 1e-5
    assert len(r.trajectory) == 4


def test_refuses_bad_input(model, portrait):
    with pytest.raises(ValueError):
        SegmentationPGD().run(model, portrait * 2)
    with pytest.raises(ValueError):
        SegmentationPGD(ThreatModel(steps=10_000)).run(model, portrait)


def test_keep_best_returns_the_best_evaluated_iterate(model, portrait):
    from core.attacks.dense.segmentation import seg_objective
    tm = ThreatModel(norm="linf", eps=4 / 255, step=1 / 255, steps=5, random_start=True)
    r = SegmentationPGD(tm).run(model, portrait, torch.zeros(256, 256), seed=1)
    with torch.no_grad():
        final_obj = seg_objective(model.forward_logits(r.x_adv), r.target, "targeted")
    assert float(final_obj) >= max(float(s.loss[0]) for s in r.trajectory) - 1e-4
    r_last = SegmentationPGD(tm, keep_best=False).run(model, portrait, torch.zeros(256, 256), seed=1)
    assert torch.equal(r_last.trajectory[0].loss, r.trajectory[0].loss)  # same path, other pick
