"""The computations the pages used to do themselves, now in core: the Attack Lab's run and its
summary (shared with the report), predict, the Channels experiment, the zoo's saliency pair,
Smooth-Reduce's patch view and multi-stage progress. Tiny hand-made models, exact expectations
or an independent reference computed here."""
from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from core.explain.analysis import predict
from core.attacks import PGD, Goal, ThreatModel
from core.defenses import DefenseOutput
from core.defenses.smoothing import PatchEnsemble
from core.explain.channel_experiment import channel_experiment
from core.explain.channels import analyse_channels, cifs_lite_transform
from core.explain.defended import HeadTransformed
from core.explain.saliency import compute_map, spearman
from core.evaluation.lab import UNSURE_BELOW, LabRun, run_attack_lab, summarize
from core.runtime.progress import stage
from core.viz.report import attack_report
from core.evaluation.zoo.page import SAL_PARAMS, saliency_pair
from explain_tiny import LinearImageModel, TinyNet

torch.set_num_threads(1)
NAMES = ["a", "b", "c", "d"]


def _model(bias=(0.0, 0.0, 0.0, 0.0), scale=1.0) -> nn.Module:
    w = torch.zeros(4, 3, 4, 4)
    w[0, 0], w[1, 1], w[2, 2], w[3] = scale, scale, scale, -scale  # class k looks at channel k
    m = LinearImageModel(3, 4, 4, 4, weight=w)
    with torch.no_grad():
        m.bias.copy_(torch.tensor(bias))
    return m


def _x(channel: int, level: float = 0.6) -> torch.Tensor:
    x = torch.full((1, 3, 4, 4), 0.2)
    x[0, channel] = level
    return x


def test_predict_is_the_models_logits_without_gradients():
    m = _model()
    x = _x(1)
    z = predict(m, x)
    assert not z.requires_grad and z.dtype == torch.float32
    assert torch.allclose(z, m(x))
    assert int(z.argmax()) == 1


def test_attack_lab_run_and_summary_on_a_hand_made_model():
    m = _model(scale=1.0)
    x = _x(0, 0.3)  # class a leads by 16·0.1 = 1.6 logits; FGSM at ε = 0.2 moves every pixel by 0.2
    run = run_attack_lab(m, x, 0, "FGSM", ThreatModel(eps=0.2, step=0.2, steps=1, random_start=False))
    s = summarize(run, NAMES)
    assert s.clean.top1 == 0 and not s.clean_wrong and s.defense is None
    # the gradient of the loss lowers channel 0 and raises the others: a falls by 3.2, b and c rise by 3.2
    assert s.succeeded and s.adv.top1 in (1, 2) and s.verdict == "succeeded"
    assert s.stats["linf"] == pytest.approx(0.2, abs=1e-6)
    assert s.p_label_clean == pytest.approx(float(m(x).softmax(1)[0, 0]), abs=1e-6)
    assert s.notes() == []


def test_summary_flags_a_clean_image_the_model_already_gets_wrong_and_an_unsure_one():
    m = LinearImageModel(3, 4, 4, 8, weight=torch.zeros(8, 3, 4, 4))  # flat logits but for a bias
    with torch.no_grad():
        m.bias.copy_(torch.tensor([0.3, 0, 0, 0, 0, 0, 0, 0]))  # top-1 “a” at e^0.3 / (e^0.3 + 7) ≈ 0.16
    x = _x(0)
    run = run_attack_lab(m, x, 2, "FGSM", ThreatModel(eps=0.01, step=0.01, steps=1, random_start=False))
    s = summarize(run, [*NAMES, "e", "f", "g", "h"])
    assert s.clean.top1 == 0 and s.label == 2 and s.clean_wrong
    assert s.clean.probs[0] < UNSURE_BELOW and s.unsure
    notes = " ".join(s.notes())
    assert "already gets the clean image wrong" in notes and "unsure" in notes


def _defended(logits_clean, logits_adv) -> tuple[DefenseOutput, DefenseOutput]:
    x = torch.zeros(1, 3, 4, 4)
    return (DefenseOutput(torch.tensor([logits_clean]), x), DefenseOutput(torch.tensor([logits_adv]), x))


@pytest.mark.parametrize("eps,clean,adv,verdict,worse", [
    (0.2, [5.0, 0, 0, 0], [-5.0, 5.0, 0, 0], "gets through the defense", False),  # both wrong, P(a) ≈ 0 for both
    (0.01, [5.0, 0, 0, 0], [0, 5.0, 0, 0], "gets through the defense", True),  # the bare model is still right
    (0.01, [5.0, 0, 0, 0], [5.0, 0, 0, 0], "the defense holds", False),  # P(a) 0.98 > the bare model's 0.64
    (0.2, [0, 5.0, 0, 0], [5.0, 0, 0, 0], "the defense already misclassifies the clean image", False),
])
def test_defended_verdicts(eps, clean, adv, verdict, worse):
    m = _model()
    x = _x(0, 0.3)
    base = run_attack_lab(m, x, 0, "FGSM", ThreatModel(eps=eps, step=eps, steps=1, random_start=False))
    run = LabRun(base.result, base.bare, _defended(clean, adv), "JPEG", {}, False)
    s = summarize(run, NAMES)
    assert s.verdict == verdict
    assert s.defense_worse is worse  # bare adversarial P(a) vs the defended one
    assert s.gets_through is (verdict == "gets through the defense")


def test_the_report_carries_the_same_verdicts_as_the_page():
    m = _model()
    x = _x(0, 0.3)
    base = run_attack_lab(m, x, 0, "FGSM", ThreatModel(eps=0.2, step=0.2, steps=1, random_start=False))
    defended = _defended([0, 5.0, 0, 0], [0, 5.0, 0, 0])
    s = summarize(LabRun(base.result, base.bare, defended, "JPEG", {}, False), NAMES)
    rep = attack_report(base.result, NAMES, model_name="tiny", image_label="x", seed=0, bare=base.bare,
                        defended=defended, defense_name="JPEG", defense_params={}, adaptive=False)
    doc = json.loads(rep.to_json())
    nums = next(it["values"] for sec in doc["sections"] for it in sec["items"] if it["type"] == "numbers")
    assert nums["verdict"] == s.verdict == "the defense already misclassifies the clean image"
    assert nums["defended_clean_wrong"] is True and nums["clean_already_wrong"] is False
    assert any("costs accuracy" in n for n in doc["notes"])


def test_channel_experiment_equals_the_steps_done_by_hand():
    net = TinyNet(k=4, seed=3).float().eval().requires_grad_(False)
    x = torch.rand(1, 3, 10, 10, generator=torch.Generator().manual_seed(2))
    threat = ThreatModel(eps=0.05, step=0.02, steps=3, random_start=False)
    out = channel_experiment(net, x, "PGD", threat, seed=0, stage="head", cifs=True, temperature=1.0, adaptive=True)
    label = int(net(x).argmax())
    adv = PGD(threat).run(net, x, torch.tensor([label]), Goal(), seed=0).x_adv
    ref = analyse_channels(net, x, adv, "head", label)
    assert torch.equal(out.plain.x_adv, adv)
    assert torch.allclose(out.plain.analysis.act_adv, ref.act_adv)
    assert torch.allclose(out.plain.analysis.relevance, ref.relevance)
    tf = cifs_lite_transform(net, 1.0)
    masked = HeadTransformed(net, tf, name="CIFS-lite")
    adv2 = PGD(threat).run(masked, x, torch.tensor([label]), Goal(), seed=0).x_adv
    assert torch.equal(out.cifs.x_adv, adv2)
    assert torch.allclose(out.cifs.clean_logits, masked(x)[0].float())
    with pytest.raises(ValueError):
        channel_experiment(net, x, "PGD", threat, relevance_to="nonsense")


def test_zoo_saliency_pair_is_scaled_and_reports_the_gradient_blur_agreement():
    m = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 10)).eval().requires_grad_(False)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, 1, 28, 28, generator=g)
    xa = (x + 0.05).clamp(0, 1)
    mc, ma, rho = saliency_pair(m, x, xa, 3, "saliency")
    assert mc.max() == pytest.approx(1.0) and ma.max() == pytest.approx(1.0) and mc.min() >= 0
    grad = compute_map(m, x, "saliency", 3)[0]
    pert = compute_map(m, x, "perturbation", 3, **SAL_PARAMS["perturbation"])[0]
    assert rho == pytest.approx(spearman(grad, pert))


def test_patch_view_gives_each_patchs_prediction():
    m = _model()
    m.input_size = 4
    ens = PatchEnsemble(m, patch=4, stride=2, resize=6)
    x = _x(1)
    big, probs = ens.patch_view(x)
    assert big.shape == (3, 6, 6)
    assert probs.shape == (len(ens.grid((6, 6))), 4)
    assert torch.allclose(probs, ens.patch_logits(x).softmax(-1)[0])


def test_stages_share_one_bar():
    seen = []
    p = stage(lambda d, t, msg: seen.append((d / t, msg)), 1, 4, "second")
    p(1, 2, "half")
    p(2, 2, "done")
    assert seen == [(pytest.approx(0.375), "second: half"), (pytest.approx(0.5), "second: done")]
    assert stage(None, 0, 2) is None
