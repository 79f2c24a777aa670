"""Issue 22's recipes on tiny hand-made batches (IAT, DIAL, cost-sensitive, LADDER, the kernel-distilled
dataset), the NTK against finite wide networks, and the per-class tables of the zoo's cards."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from core.models.zoo.catalogue import ZOO, build, get_entry, load_card, load_zoo_model
from core.models.zoo.net import build_model
from core.models.zoo.kernel import build_kernel_model, nngp, ntk, one_hot_targets, ridge_coefficients
from core.train.common import TrainConfig, fit
from core.train.adversarial.cost_sensitive import PROTECTED, CostSensitiveAT, class_weights, cost_sensitive_ce
from core.train.adversarial.dial import DIAL, dial_kl_loss, domain_head, grad_reverse, reversal_weight
from core.train.adversarial.iat import IAT, mixup, mixup_lambda, mixup_loss
from core.train.kernel_distill import KernelDistill, KernelDistilledCNN, kernel_predict
from core.train.adversarial.ladder import LADDER, boundary_step
from core.evaluation.zoo.per_class import per_class_block, per_class_table, push_in
from core.train.recipes import RECIPES

torch.set_num_threads(1)
NEW = ("fmnist-iat", "fmnist-cost-sensitive", "fmnist-dial", "fmnist-ladder", "fmnist-ntk-kernel", "fmnist-ntk-cnn")


def tiny_batch(n: int = 8, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 28, 28, generator=g), torch.arange(n) % 10


def test_every_new_model_is_registered_with_its_recipe():
    for name in NEW:
        e = get_entry(name)
        assert e.recipe in RECIPES
    names = [e.name for e in ZOO]
    start = names.index(NEW[0])
    assert tuple(names[start:start + len(NEW)]) == NEW  # one block, in this order
    assert get_entry("fmnist-ntk-kernel").arch_family.offers == frozenset({"saliency"})


# ------------------------------------------------------------------ IAT
def test_mixup_weights_are_exact():
    x = torch.tensor([[1.0], [3.0], [5.0]])
    y = torch.tensor([0, 1, 2])
    perm = torch.tensor([2, 0, 1])
    xm, ya, yb = mixup(x, y, 0.25, perm)
    torch.testing.assert_close(xm, torch.tensor([[0.25 * 1 + 0.75 * 5], [0.25 * 3 + 0.75 * 1], [0.25 * 5 + 0.75 * 3]]))
    assert ya.tolist() == [0, 1, 2] and yb.tolist() == [2, 0, 1]
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 0.0], [0.0, 1.0, 3.0]])
    soft = 0.25 * F.one_hot(ya, 3) + 0.75 * F.one_hot(yb, 3)
    torch.testing.assert_close(mixup_loss(logits, ya, yb, 0.25), -(soft * F.log_softmax(logits, 1)).sum(1).mean())
    assert mixup_lambda(0.0, torch.Generator()) == 1.0
    g = torch.Generator().manual_seed(3)
    lams = [mixup_lambda(1.0, g) for _ in range(200)]
    assert all(0 <= v <= 1 for v in lams) and abs(sum(lams) / 200 - 0.5) < 0.06  # Beta(1, 1) = uniform
    lams2 = [mixup_lambda(2.0, g) for _ in range(200)]
    assert abs(sum(lams2) / 200 - 0.5) < 0.06 and all(0 < v < 1 for v in lams2)


def test_iat_loss_is_the_mean_of_the_clean_and_adversarial_mixup_losses():
    torch.manual_seed(0)
    model = build("fmnist-iat").train()
    x, y = tiny_batch()
    loss, stats = IAT(steps=2).loss(model, x, y, torch.arange(8), torch.Generator().manual_seed(1))
    assert float(loss.detach()) == pytest.approx(0.5 * (stats["clean_mix"] + stats["adv_mix"]), rel=1e-6)
    assert 0 <= stats["lambda"] <= 1
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())


# ------------------------------------------------------------------ DIAL
def test_gradient_reversal_flips_and_scales_the_gradient():
    h = torch.randn(4, 3, requires_grad=True)
    w = torch.randn(3)
    (grad_plain,) = torch.autograd.grad((h * w).sum(), h)
    out = grad_reverse(h, 0.3)
    torch.testing.assert_close(out, h)  # identity forward
    (grad_rev,) = torch.autograd.grad((out * w).sum(), h)
    torch.testing.assert_close(grad_rev, -0.3 * grad_plain)
    assert reversal_weight(0.0) == 0.0
    assert reversal_weight(1.0) == pytest.approx(2 / (1 + math.exp(-10)) - 1)
    assert reversal_weight(0.5) == pytest.approx(2 / (1 + math.exp(-5)) - 1)
    ps = [reversal_weight(p / 10) for p in range(11)]
    assert all(a < b for a, b in zip(ps, ps[1:]))


def test_domain_head_pushes_the_features_the_opposite_way():
    torch.manual_seed(0)
    head = domain_head(5, 7).train()
    h = torch.randn(6, 5, requires_grad=True)
    dom_y = torch.tensor([0, 0, 0, 1, 1, 1])
    (g_plain,) = torch.autograd.grad(F.cross_entropy(head(h), dom_y), h)
    (g_rev,) = torch.autograd.grad(F.cross_entropy(head(grad_reverse(h, 0.7)), dom_y), h)
    torch.testing.assert_close(g_rev, -0.7 * g_plain)


def test_dial_kl_loss_by_hand():
    g = torch.Generator().manual_seed(0)
    logits, logits_adv = torch.randn(4, 10, generator=g), torch.randn(4, 10, generator=g)
    dom, dom_adv = torch.randn(4, 2, generator=g), torch.randn(4, 2, generator=g)
    y = torch.tensor([1, 2, 3, 4])
    loss, _ = dial_kl_loss(logits, logits_adv, dom, dom_adv, y, beta=6.0, domain_weight=0.1)
    p = F.softmax(logits, 1)
    kl = (p * (p.log() - F.log_softmax(logits_adv, 1))).sum(1).mean()
    want = (F.cross_entropy(logits, y) + 0.1 * F.cross_entropy(dom, torch.zeros(4, dtype=torch.long))
            + 6.0 * kl + 0.1 * F.cross_entropy(dom_adv, torch.ones(4, dtype=torch.long)))
    torch.testing.assert_close(loss, want)


def test_dial_trains_a_plain_cnn_and_its_schedule_advances():
    torch.manual_seed(0)
    model = build_model()
    x, y = tiny_batch(16)
    cfg = TrainConfig(batch_size=8, epochs=1)
    recipe = DIAL(steps=1, cfg=cfg)
    fit(model, recipe, x, y, cfg)
    assert recipe.done == recipe.total == 2
    head_before = [p.detach().clone() for p in recipe.head.parameters()]
    assert set(model.state_dict()) == set(build("fmnist-standard").state_dict())  # no domain head in the model
    fresh = build("fmnist-standard")
    fresh.load_state_dict(model.state_dict(), strict=True)
    assert any(p.abs().sum() > 0 for p in head_before)


# ------------------------------------------------------------------ cost-sensitive
def test_protected_class_weighting_is_exact():
    y = torch.tensor([4, 0, 6, 1])
    torch.testing.assert_close(class_weights(y, (4, 6), 5.0), torch.tensor([5.0, 1.0, 5.0, 1.0]))
    logits = torch.randn(4, 10, generator=torch.Generator().manual_seed(0))
    ce = F.cross_entropy(logits, y, reduction="none")
    want = (5 * ce[0] + ce[1] + 5 * ce[2] + ce[3]) / 12
    torch.testing.assert_close(cost_sensitive_ce(logits, y, (4, 6), 5.0), want)
    torch.testing.assert_close(cost_sensitive_ce(logits, y, (4, 6), 1.0), F.cross_entropy(logits, y))
    assert PROTECTED == (4, 6) and CostSensitiveAT().params()["protected_names"] == ["Coat", "Shirt"]


# ------------------------------------------------------------------ LADDER
def test_boundary_step_moves_along_the_normal_to_just_short_of_the_boundary():
    w = torch.tensor([[1.0, 0.0], [0.0, 2.0], [-1.0, -1.0]])
    b = torch.tensor([0.0, 0.5, 0.0])
    z = torch.tensor([[3.0, 0.5], [0.2, 2.0], [1.0, 1.0]])
    y = torch.tensor([0, 1, 2])  # the third is misclassified by the SVM: not moved
    z2, d = boundary_step(z, y, w, b, rho=0.9)
    s, s2 = z @ w.T + b, z2 @ w.T + b
    for i in range(2):
        k = int(s[i].clone().scatter(0, y[i:i + 1], float("-inf")).argmax())
        assert float(s2[i, y[i]] - s2[i, k]) == pytest.approx(0.1 * float(s[i, y[i]] - s[i, k]), rel=1e-5)
        step = z2[i] - z[i]
        normal = w[k] - w[y[i]]
        assert float(torch.linalg.vector_norm(torch.linalg.cross(
            torch.cat([step, torch.zeros(1)]), torch.cat([normal, torch.zeros(1)])))) == pytest.approx(0.0, abs=1e-5)
        assert int(s2[i].argmax()) == int(y[i])  # still the source class
    assert d[2] < 0 and torch.equal(z2[2], z[2])


def test_ladder_adds_decoded_examples_to_each_batch():
    torch.manual_seed(0)
    model = build_model()
    x, y = tiny_batch(40)
    recipe = LADDER(ae_epochs=1)
    recipe.prepare(model, x, y)
    assert recipe.x_gen.shape == x.shape and 0 <= float(recipe.x_gen.min()) and float(recipe.x_gen.max()) <= 1
    idx = torch.arange(8)
    loss, _ = recipe.loss(model.train(), x[idx], y[idx], idx, torch.Generator())
    logits = model(torch.cat([x[idx], recipe.x_gen[idx]]))
    torch.testing.assert_close(loss, F.cross_entropy(logits, torch.cat([y[idx], y[idx]])), rtol=1e-4, atol=1e-5)
    assert {"svm_train_accuracy", "mean_linf_to_clean"} <= set(recipe.params())


# ------------------------------------------------------------------ NTK
def _empirical_ntk(x: torch.Tensor, width: int, depth: int, sw2: float, sb2: float, seed: int) -> torch.Tensor:
    """Σ_θ ∂f(x_i)/∂θ·∂f(x_j)/∂θ of a finite network in the NTK parameterisation, one draw."""
    g = torch.Generator().manual_seed(seed)
    dims = [x.shape[1]] + [width] * depth + [1]
    params = []
    for a, b in zip(dims, dims[1:]):
        params += [torch.randn(b, a, generator=g).requires_grad_(True), torch.randn(b, generator=g).requires_grad_(True)]

    def f(v: torch.Tensor) -> torch.Tensor:
        h = v
        for i in range(len(dims) - 1):
            w, bb = params[2 * i], params[2 * i + 1]
            h = math.sqrt(sw2 / w.shape[1]) * h @ w.T + math.sqrt(sb2) * bb
            if i < len(dims) - 2:
                h = torch.relu(h)
        return h[:, 0]

    grads = []
    for i in range(x.shape[0]):
        gi = torch.autograd.grad(f(x[i:i + 1]).sum(), params)
        grads.append(torch.cat([t.flatten() for t in gi]))
    jac = torch.stack(grads)
    return jac @ jac.T


def test_ntk_closed_form_matches_wide_finite_networks():
    """The arc-cosine recursion against the empirical NTK of width-1024 networks (mean of 4 draws):
    within 8 % of the largest entry (the finite-width fluctuation is O(1/√width))."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 6, generator=g)
    x[2] = -0.5 * x[0] + 0.1 * x[1]  # an obtuse pair too
    want = ntk(x, x, depth=2, sigma_w2=2.0, sigma_b2=0.1)
    got = torch.stack([_empirical_ntk(x, 1024, 2, 2.0, 0.1, s) for s in range(4)]).mean(0)
    assert float((got - want).abs().max()) < 0.08 * float(want.abs().max()), (got, want)
    # and the NNGP output covariance against Monte Carlo of one ReLU layer's E[relu(u) relu(v)]
    k1 = nngp(x, x, depth=1, sigma_w2=2.0, sigma_b2=0.0)
    u = torch.randn(200_000, 6, generator=g) @ x.T * math.sqrt(2.0 / 6)  # pre-activations, Σ¹ = 2⟨x, x'⟩/d
    mc = 2.0 * (torch.relu(u).T @ torch.relu(u)) / u.shape[0]
    torch.testing.assert_close(mc, k1, rtol=0.03, atol=0.01)


def test_kernel_model_interpolates_its_support_and_has_buffers():
    model = build_kernel_model(support_size=10)
    x, y = tiny_batch(10)
    with torch.no_grad():
        model.net.support.copy_(x)
        model.net.targets.copy_(one_hot_targets(y))
    model.net.ridge = 1e-8
    model.net.fit_coefficients()
    with torch.no_grad():
        torch.testing.assert_close(model(x), model.net.targets, atol=1e-3, rtol=0)
        assert model(x).argmax(1).tolist() == y.tolist()
        torch.testing.assert_close(model(x.expand(-1, 3, -1, -1)), model(x), atol=1e-3, rtol=1e-3)
    assert set(model.state_dict()) == {"net.support", "net.targets", "net.coef"}
    k = model.net.kernel(x, x)
    torch.testing.assert_close(k, k.T, rtol=1e-4, atol=1e-4)
    assert float(torch.linalg.eigvalsh(k).min()) > -1e-4


def test_kernel_distill_loss_reaches_the_support_images():
    model = build_kernel_model(support_size=10)
    x, y = tiny_batch(20)
    recipe = KernelDistill(attack_steps=1, per_class=1)
    recipe.init_support(model, x, y, seed=0)
    loss, _ = recipe.loss(model, x[:6], y[:6], torch.arange(6), torch.Generator().manual_seed(0))
    out = kernel_predict(model, x[:6])
    assert float(loss) >= 0 and out.shape == (6, 10)
    loss.backward()
    assert model.net.support.grad is not None and float(model.net.support.grad.abs().sum()) > 0
    alpha = ridge_coefficients(model.net.kernel(model.net.support, model.net.support), model.net.targets, model.net.ridge)
    torch.testing.assert_close(kernel_predict(model, x[:2]), model.net.kernel(x[:2], model.net.support) @ alpha)
    log = recipe.train_model(model, x, y, TrainConfig(), max_steps=2)
    assert len(log.losses) == 2 and 0 <= float(model.net.support.min()) and float(model.net.support.max()) <= 1
    cnn_recipe = KernelDistilledCNN(teacher=model, batch=4)
    assert cnn_recipe.labels.tolist() == model.net.targets.argmax(1).tolist()
    with pytest.raises(ValueError):
        KernelDistilledCNN(teacher=None)


# ------------------------------------------------------------------ per class
def test_per_class_table_sums_to_the_overall_accuracy():
    labels = torch.tensor([0, 0, 1, 1, 1, 2, 4, 6, 6, 3])
    clean = torch.tensor([1, 1, 1, 0, 1, 1, 1, 1, 0, 1]).bool()
    robust = torch.tensor([1, 0, 1, 0, 0, 1, 1, 0, 0, 0]).bool()
    t = per_class_table(labels, clean, robust)
    rows = t["classes"]
    assert [r["n"] for r in rows[:7]] == [2, 3, 1, 1, 1, 0, 2]
    assert rows[0]["clean_correct"] == 2 and rows[0]["robust"] == 1 and rows[1]["attacked_accuracy"] == pytest.approx(1 / 3)
    assert rows[5]["clean_accuracy"] is None
    assert sum(r["clean_correct"] for r in rows) == t["overall"]["clean_correct"] == 8
    assert sum(r["robust"] for r in rows) == t["overall"]["robust"] == 4
    with pytest.raises(ValueError):
        per_class_table(labels, ~clean, robust | ~clean)
    # attacks pushing other classes into Coat (4) / Shirt (6)
    final = torch.tensor([0, 6, 1, 4, 4, 2, 4, 0, 4, 6])
    p = push_in(labels, clean, final)
    assert p["other_images"] == 7 and p["attacked_other_images"] == 6
    assert p["clean_into_protected"] == 1  # the clean-wrong Trouser predicted Coat
    assert p["attack_into_protected"] == 3  # T-shirt→Shirt, Trouser→Coat, Dress→Shirt
    assert p["attack_push_in_rate"] == pytest.approx(3 / 6) and p["total_into_protected_rate"] == pytest.approx(4 / 7)
    assert per_class_block(labels, clean, robust, final, "pgd20", "tiny")["push_in"] == p


CARDS = [e for e in ZOO if e.card_path.exists() and "per_class" in load_card(e.name)]


@pytest.mark.parametrize("entry", CARDS, ids=lambda e: e.name)
def test_card_per_class_tables_add_up(entry):
    card = load_card(entry.name)
    pc = card["per_class"]
    rows, o = pc["classes"], pc["overall"]
    assert sum(r["n"] for r in rows) == o["n"]
    assert sum(r["clean_correct"] for r in rows) == o["clean_correct"]
    assert sum(r["robust"] for r in rows) == o["robust"]
    assert o["attacked_accuracy"] == pytest.approx(o["robust"] / o["n"])
    if pc["source"] == "worst_case":
        wc = card["worst_case"]
        assert o["n"] == wc["n"] and o["robust"] == wc[wc["quoted_view"]]["robust"]
        assert o["clean_correct"] == wc[wc["quoted_view"]]["clean_correct"]
    else:
        sub = card["evaluation"]["subset"]
        assert o["n"] == sub["clean"]["n"] and o["clean_correct"] == sub["clean"]["correct"]
        assert abs(o["robust"] - sub["pgd20"]["correct"]) <= 3  # a re-run of the card's own PGD-20


@pytest.mark.parametrize("name", [n for n in NEW if get_entry(n).weights_path.exists()])
def test_new_models_load_strictly(name):
    model = load_zoo_model(name)
    sd = torch.load(get_entry(name).weights_path, map_location="cpu", weights_only=True)
    assert set(sd) == set(build(name).state_dict())
    x, _ = tiny_batch(2)
    with torch.no_grad():
        assert model(x).shape == (2, 10)
