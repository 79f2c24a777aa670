"""Dense prediction: the scene generator, mIoU, the dense attacks' budgets, the dense worst case,
ObsAtk's constraint set, SegPGD's weights and the dense-eval command's validation."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from core.attacks.base import ThreatModel
from core.attacks.dense.apgd import DenseAPGD
from core.attacks.dense.common import paint_target
from core.attacks.dense.metrics import confusion, dataset_miou, per_image_miou
from core.attacks.dense.pgd import DensePGD
from core.attacks.dense.square import DenseSquare
from core.attacks.dense.obsatk import ObsAtk, l2_budget, project_zero_mean_l2, random_zero_mean
from core.attacks.dense.segpgd import SegPGD, segpgd_lambda
from core.evaluation.dense.equivariance_eval import DefenseSettings, equivariance_aware_pgd
from core.evaluation.dense.worst_case import DenseWorstCaseConfig, dense_worst_case
from core.models.dense.unet import TinyUNet
from core.models.dense.dncnn import DnCNN
from core.data.scenes import NUM_CLASSES, make_scene, make_scenes


def _garments(n: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic 28×28 'garments' (blobs of varying intensity) and labels 0–9."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:28, 0:28]
    out = []
    for k in range(n):
        r = 6 + k % 7
        blob = np.clip(1.2 - np.hypot(yy - 14, xx - 14 + (k % 3)) / r, 0, 1)
        out.append((blob * rng.uniform(150, 255)).astype(np.uint8))
    return np.stack(out), np.arange(n) % 10


def test_scene_generator_is_deterministic_and_labels_match_pixels():
    imgs, labs = _garments()
    a, b = make_scene(imgs, labs, seed=3, index=7), make_scene(imgs, labs, seed=3, index=7)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.labels, b.labels)
    assert not np.array_equal(make_scene(imgs, labs, seed=3, index=8).image, a.image)
    assert not np.array_equal(make_scene(imgs, labs, seed=4, index=7).image, a.image)
    # a batch gives the same scenes as one-by-one generation (no dependence on the batch)
    xb, yb = make_scenes(imgs, labs, 3, 6, 3)
    assert np.array_equal(xb[1].numpy(), a.image) and np.array_equal(yb[1].numpy(), a.labels)
    for s in (a, make_scene(imgs, labs, seed=0, index=0), make_scene(imgs, labs, seed=11, index=5)):
        assert 2 <= len(s.placements) <= 5
        assert s.image.shape == (3, 96, 96) and s.labels.shape == (96, 96)
        # label of each pixel = 1 + class of the last garment that drew it; 0 where none did
        expect = np.zeros((96, 96), dtype=np.int64)
        for p, m in zip(s.placements, s.masks):
            expect[m] = 1 + p.cls
        assert np.array_equal(s.labels, expect)
        bg = s.labels == 0
        assert np.array_equal(s.image[:, bg], s.background[:, bg])  # background pixels untouched
        last = s.placements[-1]  # the top garment's pixels have its colour
        m = s.masks[-1]
        tint = np.asarray(last.tint, dtype=np.float32)[:, None]
        g = s.image[:, m] / tint
        assert np.all((g >= 0.35 - 1e-5) & (g <= 1.0 + 1e-5))
        assert set(np.unique(s.labels)) <= set(range(NUM_CLASSES))


def test_miou_matches_a_hand_computation():
    ref = torch.tensor([[[0, 0, 1], [1, 2, 2]]])
    pred = torch.tensor([[[0, 1, 1], [1, 2, 0]]])
    # class 0: TP 1, FP 1 (pixel 5), FN 1 (pixel 1) -> 1/3; class 1: TP 2, FP 1, FN 0 -> 2/3;
    # class 2: TP 1, FP 0, FN 1 -> 1/2; absent class 3 is left out
    miou, iou = dataset_miou(ref, pred, 4)
    assert iou[:3].tolist() == pytest.approx([1 / 3, 2 / 3, 1 / 2])
    assert math.isnan(float(iou[3]))
    assert miou == pytest.approx((1 / 3 + 2 / 3 + 1 / 2) / 3)
    assert per_image_miou(ref, pred, 4).tolist() == pytest.approx([(1 / 3 + 2 / 3 + 1 / 2) / 3])
    # the data-set mIoU sums confusion matrices first; it is not the mean of per-image mIoUs
    ref2 = torch.stack([ref[0], torch.zeros(2, 3, dtype=torch.long)])
    pred2 = torch.stack([pred[0], torch.zeros(2, 3, dtype=torch.long)])
    assert per_image_miou(ref2, pred2, 4)[1] == 1.0  # only class 0, predicted right
    m2, iou2 = dataset_miou(ref2, pred2, 4)
    assert float(iou2[0]) == pytest.approx(7 / 9)  # TP 7, FP 1, FN 1
    assert confusion(ref2, pred2, 4).sum() == 12


def _model() -> TinyUNet:
    torch.manual_seed(0)
    return TinyUNet(NUM_CLASSES, input_size=(32, 32)).eval()


def _scenes(n: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    imgs, labs = _garments()
    x, y = make_scenes(imgs, labs, 1, 0, n)  # 96 px, shrunk to 32 px for speed
    x = torch.nn.functional.interpolate(x, size=(32, 32), mode="bilinear", align_corners=False).clamp(0, 1)
    y = torch.nn.functional.interpolate(y[:, None].float(), size=(32, 32), mode="nearest")[:, 0].long()
    return x, y


THREAT = ThreatModel(norm="linf", eps=4 / 255, step=1 / 255, steps=3, random_start=True)


@pytest.mark.parametrize("make", [lambda: DensePGD(THREAT), lambda: DenseAPGD(THREAT), lambda: SegPGD(THREAT),
                                  lambda: DenseSquare(THREAT, n_queries=15),
                                  lambda: equivariance_aware_pgd(_model(), THREAT, DefenseSettings(steps=1))],
                         ids=["pgd", "apgd", "segpgd", "square", "equivariance-aware"])
@pytest.mark.parametrize("targeted", [False, True], ids=["untargeted", "targeted"])
def test_every_dense_attack_stays_in_its_eps_ball_and_the_box(make, targeted):
    model, (x, y) = _model(), _scenes()
    x = x.clone()
    x[0, :, :4] = 1.0  # saturated pixels: the box clip must hold
    target = paint_target(y, torch.ones(32, 32, dtype=torch.bool), 3) if targeted else None
    res = make().run(model, x, y, target, seed=1)
    d = res.x_adv - x
    assert float(d.abs().max()) <= THREAT.eps + 1e-6
    assert float(res.x_adv.min()) >= 0 and float(res.x_adv.max()) <= 1
    assert res.adv_pred.shape == y.shape and len(res.trajectory) >= 1
    # the returned example is the lowest-mIoU one the attack saw, never worse than its first step
    if not targeted:
        assert bool((res.miou <= res.trajectory[0].miou + 1e-6).all())


def test_dense_worst_case_is_no_higher_than_each_attack():
    model, (x, y) = _model(), _scenes(3)
    wc = dense_worst_case(model, x, y, DenseWorstCaseConfig(eps=4 / 255, steps=2, square_queries=10))
    wc.check()
    for name, m in wc.per_attack_miou.items():
        assert bool((wc.worst_miou <= m + 1e-6).all()), name
    # the worst example per image really has the reported mIoU
    with torch.no_grad():
        pred = model(wc.x_worst).argmax(1)
    assert torch.allclose(per_image_miou(y, pred, NUM_CLASSES), wc.worst_miou, atol=1e-6)
    assert float((wc.x_worst - x).abs().max()) <= 4 / 255 + 1e-6
    s = wc.summary()
    assert s["worst_case_miou"] <= min(v["miou"] for v in s["per_attack"].values()) + 1e-6 or \
        s["worst_case_mean_per_image_miou"] <= min(v["mean_per_image_miou"] for v in s["per_attack"].values()) + 1e-6
    assert sum(v["worst_for_images"] for v in s["per_attack"].values()) == 3


def test_segpgd_weights_shift_from_correct_to_wrong_pixels():
    assert [segpgd_lambda(t, 4) for t in range(4)] == [0, 0.125, 0.25, 0.375]
    logits = torch.tensor([[[[5.0, 0.0]], [[0.0, 5.0]]]])  # pixel 0 -> class 0, pixel 1 -> class 1
    labels = torch.tensor([[[0, 0]]])  # pixel 0 correct, pixel 1 wrong
    w0 = SegPGD(THREAT).pixel_weights(logits, labels, 0)
    w2 = SegPGD(THREAT).pixel_weights(logits, labels, 2)
    assert w0.flatten().tolist() == [1.0, 0.0]
    assert w2.flatten().tolist() == pytest.approx([1 - 2 / 6, 2 / 6])


def test_obsatk_perturbation_is_zero_mean_with_the_stated_l2_norm():
    torch.manual_seed(0)
    model = DnCNN().eval()
    x = torch.rand(3, 1, 28, 28)
    y = x + 25 / 255 * torch.randn_like(x)
    eps_rms = 6 / 255
    budget = l2_budget(eps_rms, tuple(x.shape))
    assert budget == pytest.approx(6 / 255 * 28)
    d = ObsAtk(eps_rms, steps=4).perturb(model, y, x)
    assert d.flatten(1).mean(1).abs().max() < 1e-6
    assert d.flatten(1).norm(dim=1).tolist() == pytest.approx([budget] * 3, rel=1e-4)
    with torch.no_grad():  # it hurts more than random zero-mean noise of the same norm
        r = random_zero_mean(tuple(x.shape), budget, torch.Generator().manual_seed(0))
        err_a = (model(y + d) - x).pow(2).sum()
        err_r = (model(y + r) - x).pow(2).sum()
    assert err_a > err_r
    assert r.flatten(1).mean(1).abs().max() < 1e-6
    assert r.flatten(1).norm(dim=1).tolist() == pytest.approx([budget] * 3, rel=1e-5)
    # the projection: inside the set nothing changes; outside it lands on the sphere, zero mean
    inside = project_zero_mean_l2(r * 0.5, budget)
    assert torch.allclose(inside, r * 0.5, atol=1e-6)
    out = project_zero_mean_l2(torch.randn(2, 1, 28, 28) + 3.0, budget)
    assert out.flatten(1).mean(1).abs().max() < 1e-6
    assert out.flatten(1).norm(dim=1).tolist() == pytest.approx([budget] * 2, rel=1e-5)


def test_equivariance_evaluation_keeps_per_scene_miou_and_runs_bpda_through_the_purifier():
    """Each per-scene mIoU is the scene's own mIoU (the clean one checked against a direct computation), and
    the BPDA attacker runs through the purifier and is scored on the undefended model and after purification."""
    from core.evaluation.dense.equivariance_eval import evaluate_equivariance
    model, (x, y) = _model(), _scenes(2)
    threat = ThreatModel(norm="linf", eps=4 / 255, step=1 / 255, steps=2, random_start=True)
    out = evaluate_equivariance(model, x, y, threat=threat, defense=DefenseSettings(steps=1),
                                attackers=("bpda",), batch=2)
    assert set(out["per_image_miou"]) == {"clean", "clean, defended", "bpda: attacked", "bpda: defended"}
    with torch.no_grad():
        clean = per_image_miou(y, model(x).argmax(1), NUM_CLASSES)
    assert np.allclose(out["per_image_miou"]["clean"], clean.numpy(), atol=1e-4)
    assert all(len(v) == 2 and all(0 <= m <= 1 for m in v) for v in out["per_image_miou"].values())
