"""Few-shot segmentation: episodes, prototype decoder, ODE solver, R-PNODE regularizer, metrics,
the paper's attacks and the adaptive ones, on hand-made inputs and the shipped episodes."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from core.attacks.base import ThreatModel
from core.attacks.dense.fewshot import EpisodeAttackModel, fgsm_paper, pgd_paper, smia_paper
from core.attacks.dense.fewshot_square import DiceSquare
from core.data import fewshot_episodes as fe
from core.evaluation.dense.fewshot_eval import add_members, per_image_arrays, predict
from core.attacks.dense.fewshot_metrics import dice, iou, mean_ci
from core.models.fewshot.proto import PrototypeSeg, cosine_logits, masked_average_pooling
from core.models.fewshot.pnode import PNODE, rk4
from core.models.fewshot.rpnode import RPNODE, consistency_loss
from core.train import fewshot as tf


def _garments(n: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic 28×28 'garments' (discs) with labels 0–9 in turn."""
    yy, xx = np.mgrid[0:28, 0:28]
    out = [(np.clip(1.3 - np.hypot(yy - 14, xx - 14) / (7 + k % 6), 0, 1) * 220).astype(np.uint8) for k in range(n)]
    return np.stack(out), np.arange(n) % 10


def test_masked_average_pooling_and_cosine_decoder_exact():
    # 2 channels on a 2×2 map; mask = the left column
    f = torch.tensor([[[[1.0, 0.0], [3.0, 0.0]], [[0.0, 2.0], [0.0, 4.0]]]])  # (1, 2, 2, 2)
    m = torch.tensor([[[1.0, 0.0], [1.0, 0.0]]])
    fg, bg = masked_average_pooling(f, m)
    assert torch.allclose(fg, torch.tensor([[4.0 / (2 + 1e-5), 0.0]]))  # (1+3)/(2+1e-5), the code's ε
    assert torch.allclose(bg, torch.tensor([[0.0, 6.0 / (2 + 1e-5)]]))
    logits = cosine_logits(f, fg, bg)
    # left pixels point along channel 0 (cos 1 with fg, 0 with bg); right ones along channel 1
    expect = torch.tensor([[[[0.0, 20.0], [0.0, 20.0]], [[20.0, 0.0], [20.0, 0.0]]]])
    assert torch.allclose(logits, expect, atol=1e-5)
    # a pixel at 45° between the prototypes: cos = 1/√2 with both
    mixed = cosine_logits(torch.tensor([[[[1.0]], [[1.0]]]]), fg, bg)
    assert torch.allclose(mixed, torch.full((1, 2, 1, 1), 20 / math.sqrt(2)), atol=1e-5)


def test_map_upsamples_features_to_the_mask():
    f = torch.arange(4.0).view(1, 1, 2, 2)  # bilinear to 4×4, then the mean under a full mask
    fg, bg = masked_average_pooling(f, torch.ones(1, 4, 4))
    up = torch.nn.functional.interpolate(f, size=(4, 4), mode="bilinear", align_corners=False)
    assert torch.allclose(fg, up.sum() / (16 + 1e-5) * torch.ones(1, 1)) and torch.allclose(bg, torch.zeros(1, 1))


def test_consistency_regularizer_zero_when_features_agree():
    a = torch.randn(3, 8, 5, 5, generator=torch.Generator().manual_seed(0))
    assert float(consistency_loss(a, a)) == pytest.approx(0.0, abs=1e-6)
    assert float(consistency_loss(2.5 * a, a)) == pytest.approx(0.0, abs=1e-6)  # cosine: scale-free
    assert float(consistency_loss(-a, a)) == pytest.approx(2.0, abs=1e-6)
    # the model's loss with σ = 0: the regularizer part is exactly zero
    torch.manual_seed(0)
    m = RPNODE()
    x = torch.rand(2, 3, 16, 16)
    _, parts = m.regularized_loss(x, (x[:, 0] > 0.5).float(), x, (x[:, 0] > 0.5).long(), sigma=0.0)
    assert parts["reg"] == pytest.approx(0.0, abs=1e-5)
    _, parts = m.regularized_loss(x, (x[:, 0] > 0.5).float(), x, (x[:, 0] > 0.5).long(), sigma=0.5)
    assert parts["reg"] > 1e-3


def test_rk4_against_hand_computation():
    # linear field dz/dt = a·z: one RK4 step multiplies by 1 + ah + (ah)²/2 + (ah)³/6 + (ah)⁴/24
    a, h = -0.7, 0.5
    z0 = torch.tensor([1.0, -2.0])
    ah = a * h
    factor = 1 + ah + ah ** 2 / 2 + ah ** 3 / 6 + ah ** 4 / 24
    assert torch.allclose(rk4(lambda t, z: a * z, z0, 0.0, h, 1), z0 * factor, atol=1e-7)
    assert torch.allclose(rk4(lambda t, z: a * z, z0, 0.0, h, 4), z0 * factor ** 4, atol=1e-6)
    # a cubic in t is integrated exactly: ∫_1^3 t³ dt = (81 − 1)/4 = 20
    out = rk4(lambda t, z: torch.full_like(z, float(t) ** 3), torch.zeros(1), 1.0, 1.0, 2)
    assert float(out) == pytest.approx(20.0, abs=1e-6)


def test_dice_and_iou_on_hand_made_masks():
    g = torch.zeros(3, 4, 4, dtype=torch.bool)
    g[:, :2, :2] = True  # 4 pixels
    p = torch.zeros_like(g)
    p[0, :2, :2] = True  # perfect
    p[1, :2, :1] = True  # 2 of 4, nothing extra
    p[1, 3, 3] = True  # plus one false alarm
    # p[2] empty
    assert torch.allclose(dice(p, g), torch.tensor([1.0, 2 * 2 / (3 + 4), 0.0]))
    assert torch.allclose(iou(p, g), torch.tensor([1.0, 2 / 5, 0.0]))
    empty = torch.zeros(1, 4, 4, dtype=torch.bool)
    assert float(dice(empty, empty)) == 1.0 and float(iou(empty, empty)) == 1.0
    m, lo, hi = mean_ci(np.array([0.2, 0.4, 0.6, 0.8]))
    assert m == pytest.approx(0.5) and 0.2 <= lo < m < hi <= 0.8


def test_episodes_deterministic_and_training_never_sees_a_novel_class():
    imgs, labs = _garments()
    pool = fe.ScenePool("train", fe.BASE, seed=0, count=30, arrays=(imgs, labs))
    assert not np.isin(pool.labels, [1 + c for c in fe.NOVEL]).any()  # not even as background
    a, b = pool.episodes(0, 5, 6), pool.episodes(0, 5, 6)
    assert torch.equal(a.query, b.query) and torch.equal(a.support_mask, b.support_mask)
    assert set(a.classes.tolist()) <= set(fe.BASE)
    for k in range(len(a)):  # the support mask is its class; the query contains it
        assert a.support_mask[k].sum() >= fe.MIN_PIXELS and a.query_mask[k].sum() >= fe.MIN_PIXELS
        assert a.scenes[k, 0] != a.scenes[k, 1]
    # episode i does not depend on which episodes were made with it
    c = pool.episodes(0, 7, 1)
    assert torch.equal(c.query[0], a.query[2])
    # the shipped test episodes: novel classes only, in turn
    ep = fe.load_episodes()
    assert ep.classes.tolist() == [fe.NOVEL[i % 3] for i in range(len(ep))]
    assert ep.query.shape == (fe.TEST_EPISODES, 3, fe.SIZE, fe.SIZE) and ep.query.min() >= 0 and ep.query.max() <= 1


def _tiny_episode(n: int = 2):
    torch.manual_seed(0)
    x = torch.rand(n, 3, 16, 16)
    return x, (x[:, 0] > 0.5).float(), x.flip(-1), (x.flip(-1)[:, 0] > 0.5).long()


def test_paper_attacks_keep_the_codes_quirks():
    torch.manual_seed(0)
    model = PrototypeSeg().eval()
    s, sm, q, qm = _tiny_episode()
    f = EpisodeAttackModel(model, s, sm, q, "query").eval()
    eps = 0.035
    xf = fgsm_paper(f, q, qm, eps)
    assert torch.allclose((xf - q).abs().amax(), torch.tensor(eps), atol=1e-6)
    xp = pgd_paper(f, q, qm, eps)
    assert (xp - q).abs().max() <= eps + 1e-6
    assert xf.max() > 1 or xp.max() > 1 or xf.min() < 0 or xp.min() < 0  # no clip to [0, 1]
    xs = smia_paper(f, q, qm, eps)
    assert (xs - q).abs().max() > 3 * eps  # no projection: the steps add up
    assert xs.min() >= 0  # its only clamp


def test_dice_square_stays_in_the_ball_and_never_raises_dice():
    torch.manual_seed(0)
    model = PrototypeSeg().eval()
    s, sm, q, qm = _tiny_episode()
    f = EpisodeAttackModel(model, s, sm, q, "query").eval()
    eps = 0.05
    tm = ThreatModel(norm="linf", eps=eps, step=eps, steps=1)
    res = DiceSquare(tm, n_queries=20).run(f, q, qm, num_classes=2)
    start = DiceSquare(tm, n_queries=1).run(f, q, qm, num_classes=2)  # the same seed: only the stripes
    assert (res.x_adv - q).abs().max() <= eps + 1e-6 and res.x_adv.min() >= 0 and res.x_adv.max() <= 1
    with torch.no_grad():
        d_start = dice(f(start.x_adv).argmax(1) == 1, qm == 1)
        d_end = dice(f(res.x_adv).argmax(1) == 1, qm == 1)
    assert (d_end <= d_start + 1e-6).all()  # a candidate is kept only when its Dice is not higher


def test_per_image_format():
    per = {"clean__dice": np.array([0.9, 0.3], dtype=np.float32), "clean__iou": np.array([0.8, 0.2], dtype=np.float32)}
    out = per_image_arrays(per, np.array([1, 5]))
    assert out["format_version"] == np.int32(1) and out["image_index"].dtype == np.int32
    assert out["labels"].dtype == np.int64 and out["clean__correct"].tolist() == [True, False]


def test_dopri5_variant_agrees_with_the_fixed_step_model_on_shipped_episodes():
    path = tf.weights_path("rpnode", 0)
    if not path.exists():
        pytest.skip("R-PNODE weights not shipped yet")
    ep = fe.load_episodes().subset(slice(0, 12))
    model = tf.load("rpnode", 0)
    assert isinstance(model, PNODE) and model.solver == "rk4"
    fixed = predict(model, ep, 12)
    adaptive = predict(model.with_solver("dopri5"), ep, 12)
    # stated tolerance: at most 1 % of the query pixels change between the two solvers
    assert (fixed != adaptive).float().mean() <= 0.01
    assert (dice(fixed, ep.query_mask) - dice(adaptive, ep.query_mask)).abs().max() <= 0.05


def test_added_erase_attack_only_lowers_the_worst_case():
    torch.manual_seed(0)
    model = PrototypeSeg().eval()
    s, sm, q, qm = _tiny_episode(3)
    ep = fe.Episodes(s, sm, q, qm, torch.tensor([1, 5, 8]), torch.zeros(3, 2, dtype=torch.long))
    clean = dice(predict(model, ep, 3), qm).numpy()
    per = {"q_worst_case__dice": clean.copy(), "q_worst_case__iou": clean.copy(),
           "q_worst_case__found_by": np.asarray(["clean"] * 3, dtype="<U32")}
    out = add_members(model, ep, per, ["Dense PGD (erase)"])
    assert (out["q_worst_case__dice"] <= clean + 1e-7).all()
    lowered = out["q_dense_pgd_erase__dice"] < clean
    assert (out["q_worst_case__found_by"][lowered] == "q_dense_pgd_erase").all()
    assert (out["q_worst_case__found_by"][~lowered] == "clean").all()


# ---------------------------------------------------------------- the page's own support and live view
def test_bounding_box_and_box_mask_exact():
    from core.evaluation.dense.fewshot_page import bounding_box, box_mask
    m = torch.zeros(8, 8)
    m[2:5, 3:7] = 1
    assert bounding_box(m) == (2, 5, 3, 7)
    assert torch.equal(box_mask((2, 5, 3, 7), (8, 8)), m)
    assert bounding_box(torch.zeros(8, 8)) == (0, 8, 0, 8)
    with pytest.raises(ValueError, match="empty"):
        box_mask((3, 3, 0, 8), (8, 8))
    with pytest.raises(ValueError):
        box_mask((0, 9, 0, 8), (8, 8))


@pytest.mark.skipif(not fe.EPISODES_PATH.exists(), reason="episodes not shipped")
def test_support_options_show_the_same_class_and_make_episode_swaps_only_the_support():
    from core.evaluation.dense.fewshot_page import episodes, make_episode, scene, support_options
    ep = episodes()
    opts = support_options(4)
    assert opts[0] == (4, "support") and (4, "query") not in opts and len(opts) > 1
    assert all(int(ep.classes[j]) == int(ep.classes[4]) for j, _ in opts)
    custom = make_episode(4, opts[1], (8, 40, 0, 64))
    img, _ = scene(opts[1])
    assert torch.equal(custom.support[0], img) and torch.equal(custom.query, ep.query[4:5])
    assert torch.equal(custom.query_mask, ep.query_mask[4:5])
    assert custom.support_mask[0].sum() == 32 * 64 and custom.support_mask[0, 8:40].min() == 1
    assert torch.equal(make_episode(4).support, ep.support[4:5])  # nothing chosen: the shipped episode
    other = next(j for j in range(len(ep)) if int(ep.classes[j]) != int(ep.classes[4]))
    with pytest.raises(ValueError, match="class"):
        make_episode(4, (other, "support"))


@pytest.mark.skipif(not tf.weights_path("proto", 0).exists(), reason="few-shot weights not shipped")
def test_live_watch_sees_the_attack_without_changing_it():
    from core.evaluation.dense.fewshot_page import make_episode, run_demo
    ep = make_episode(4)
    models = {"cnn": tf.load("proto", 0)}
    seen = []
    watched = run_demo(4, "query", "Dense PGD", 0.035, models, steps=3, episode=ep,
                       watch=lambda t, x, lg: seen.append((t, x.shape, lg.shape)))
    plain = run_demo(4, "query", "Dense PGD", 0.035, models, steps=3, episode=ep)
    assert len(seen) >= 3 and all(t == "cnn" and s[1:] == ep.query.shape[1:] and lg[1] == 2 for t, s, lg in seen)
    assert torch.equal(watched.x_adv["cnn"], plain.x_adv["cnn"])
    assert watched.attacked_dice == plain.attacked_dice
