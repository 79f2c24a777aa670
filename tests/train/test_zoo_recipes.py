"""Zoo recipes and architecture: each recipe's loss falls on a tiny batch; CIFS relevance in
closed form equals autograd; the batched J-SIGR saliency equals the shared Greydanus map; the
3-channel input is the grey input; photo conversion."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from core.explain.perturbation import perturbation_saliency
from core.models.zoo.catalogue import ZOO, build
from core.models.zoo.net import CIFSModule, build_model
from core.data import fashion_mnist as zdata
from core.train.cifs import cifs_loss
from core.train.jsigr import GRID_STRIDE, MASK_RADIUS, JSIGR, perturbation_maps
from core.train.recipes import recipe_class

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def batch():
    x, y, _ = zdata.load_test_subset()
    sel = torch.arange(0, 1000, 1000 // 48)[:48]  # 48 images, several of every class
    return zdata.to_float(x[sel]), y[sel]


# Recipes whose loss need not fall within a few steps of this generic check, tested in their own files:
# the kernel distillation runs its own loop and the CNN on its support set needs the kernel model as
# teacher (tests/train/test_zoo_recipes_extra.py); TisODE's noise-augmented loss with its steady-state
# penalty is checked term by term (tests/models/test_zoo_ode.py).
OWN_TESTS = {"fmnist-ntk-kernel", "fmnist-ntk-cnn", "fmnist-tisode"}
GENERIC = [e for e in ZOO if e.name not in OWN_TESTS]


@pytest.mark.parametrize("entry", GENERIC, ids=[e.name for e in GENERIC])
def test_recipe_loss_falls(entry, batch):
    x, y = batch
    torch.manual_seed(0)
    model = build(entry.name)
    recipe = recipe_class(entry)()  # J-SIGR without a teacher: saliency from the model itself
    idx = torch.arange(len(y))
    recipe.prepare(model, x, y)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)

    def measured() -> float:
        model.train()
        loss, _ = recipe.loss(model, x, y, idx, torch.Generator().manual_seed(123))
        return float(loss.detach())

    before = measured()
    gen = torch.Generator().manual_seed(0)
    for _ in range(8):
        model.train()
        loss, stats = recipe.loss(model, x, y, idx, gen)
        assert torch.isfinite(loss) and "correct" in stats
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = measured()
    assert after < 0.9 * before, (entry.name, before, after)


def test_cifs_relevance_closed_form_matches_autograd():
    torch.manual_seed(1)
    for hidden in (None, 7):
        mod = CIFSModule(12, 10, hidden=hidden).double()
        z = torch.randn(3, 12, 4, 5, dtype=torch.float64)
        cls = torch.tensor([[1, 4], [0, 9], [3, 3]])
        zz = z.clone().requires_grad_(True)
        p = mod.probe(zz.mean(dim=(2, 3)))
        (g,) = torch.autograd.grad(p.gather(1, cls).sum(), zz)
        ref = g.sum(dim=(2, 3))  # Σ_hw ∂s/∂z_chw, the paper's g_c
        got = mod.relevance(z.mean(dim=(2, 3)), cls)
        torch.testing.assert_close(got, ref, rtol=1e-10, atol=1e-12)


def test_cifs_mask_classes_and_loss():
    torch.manual_seed(2)
    mod = CIFSModule(8, 10, hidden=None)
    z = torch.rand(4, 8, 3, 3)
    y = torch.tensor([0, 1, 2, 3])
    out, p, mask = mod(z, y)
    torch.testing.assert_close(mask.sum(1), torch.full((4,), 8.0))  # C·softmax: mean multiplier 1
    torch.testing.assert_close(out, z * mask[:, :, None, None])
    # Exact values on a hand-made probe: class k's weight row is ln(3)·e_k (k < 8), no bias; channel 5
    # has the largest mean, so with label 2 the classes are {2 (true), 5 (best other)} and
    # g = ln3·(e_2 + e_5): mask = 8·[1, 1, 3, 1, 1, 3, 1, 1]/12.
    hm = CIFSModule(8, 10, hidden=None)
    with torch.no_grad():
        hm.fc1.weight.zero_()
        hm.fc1.weight[:8] = math.log(3) * torch.eye(8)
        hm.fc1.bias.zero_()
    zh = torch.full((1, 8, 3, 3), 0.1)
    zh[:, 5] = 1.0
    _, _, mh = hm(zh, torch.tensor([2]))
    torch.testing.assert_close(mh[0], torch.tensor([2 / 3, 2 / 3, 2, 2 / 3, 2 / 3, 2, 2 / 3, 2 / 3]))
    # at test time (no label) the probe's top-2 are used: classes 5 and the tie-broken next; with
    # channel 3 raised to 0.5 they are {5, 3}
    zh[:, 3] = 0.5
    _, _, mt = hm(zh)
    torch.testing.assert_close(mt[0], torch.tensor([2 / 3, 2 / 3, 2 / 3, 2, 2 / 3, 2, 2 / 3, 2 / 3]))
    # loss: 3/(β+1)·[CE + (β/L)·Σ CE_probe]
    logits = torch.randn(4, 10)
    ce = torch.nn.functional.cross_entropy
    expect = 3 / 3 * (ce(logits, y) + 1.0 * (ce(p, y) + ce(p, y)))
    torch.testing.assert_close(cifs_loss(logits, [p, p], y, beta=2.0), expect)


def test_jsigr_terms_on_a_linear_model():
    """On f(x) = W·x the Jacobian is W everywhere, so the penalty's estimate of ‖J‖_F² (C·‖vᵀJ‖²
    with a random unit v, averaged over images) approaches ‖W‖_F², the loss adds ½·λ_J·‖W‖_F²;
    with a constant saliency map (Ŝ = 1) the selective input-gradient term vanishes."""
    torch.manual_seed(0)
    lin = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 10))
    n = 3000
    x, y = torch.rand(n, 1, 28, 28), torch.randint(0, 10, (n,))
    r = JSIGR(lambda_j=0.1, lambda_s=1.0)
    r.maps = torch.ones(n, 28, 28)  # a constant map, normalised by its maximum
    loss, stats = r.loss(lin, x, y, torch.arange(n), torch.Generator().manual_seed(1))
    w2 = float(lin[1].weight.detach().pow(2).sum())
    assert stats["sigr"] == 0.0
    assert stats["jac"] == pytest.approx(w2, rel=0.05)  # unbiased estimate, 3000 projections
    assert float(loss) == pytest.approx(stats["ce"] + 0.5 * 0.1 * stats["jac"], rel=1e-5)


def test_jsigr_maps_equal_shared_perturbation_saliency(batch):
    torch.manual_seed(3)
    model = build_model().eval()
    x = batch[0][:3]
    ours = perturbation_maps(model, x)
    ref = perturbation_saliency(model, x, stride=GRID_STRIDE, radius=MASK_RADIUS)
    ref = (ref / ref.flatten(1).amax(1)[:, None, None]).float()
    torch.testing.assert_close(ours, ref, rtol=1e-4, atol=1e-5)


def test_jsigr_teacher_maps_are_used(batch):
    x, y = batch
    torch.manual_seed(4)
    teacher = build_model().eval()
    r = JSIGR(teacher=teacher)
    r.prepare(build_model(), x, y)
    assert r.maps.shape == (len(y), 28, 28)
    torch.testing.assert_close(r.maps[5:7], perturbation_maps(teacher, x[5:7]))
    assert float(r.maps.amax()) == pytest.approx(1.0)


@pytest.mark.parametrize("kw", [{}, {"cifs": True}, {"strides": (2, 1, 1, 1), "activation": "silu"}])
def test_three_channel_input_is_grey(kw, batch):
    torch.manual_seed(5)
    m = build_model(**kw).eval()
    x = batch[0][:4]
    with torch.no_grad():
        a = m(x)
        b = m(x.expand(-1, 3, -1, -1))
        rgb = torch.cat([x, x * 0.5, x * 1.5], 1).clamp(0, 1)
        c = m(rgb)
        d = m(rgb.mean(1, keepdim=True))
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(c, d)
    fmap, feats = m.forward_features(x, (m.stage_names[0],))
    torch.testing.assert_close(m.forward_head(fmap), a)
    assert m.stage_names[-1] == "head" and feats[m.stage_names[0]].shape[1] == 16
    assert m.classifier_weight.shape == (10, 128)
    with pytest.raises(ValueError):
        m(torch.rand(1, 2, 28, 28))


def test_subset_is_stratified_and_matches_indices():
    x, y, idx = zdata.load_test_subset()
    assert x.shape == (1000, 1, 28, 28) and x.dtype == torch.uint8
    assert torch.bincount(y, minlength=10).tolist() == [100] * 10
    assert len(set(idx.tolist())) == 1000 and int(idx.max()) < 10000
