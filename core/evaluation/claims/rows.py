"""Claims, checked: every paper behind the explorer, its headline claim beside what the project
measured, how sure that number is, and a verdict computed from the data by fixed rules.

One :class:`ClaimRow` per paper or zoo model. The **claim sentences** of the papers that are not
zoo entries (equivariance purification, randomized smoothing, Smooth-Reduce) and of the first
zoo entries whose catalogue entry has no ``claim`` yet are data here (:data:`PAPER_CLAIMS`,
:data:`DEFENSE_CLAIMS`); every **measured number, interval and verdict** is read from the files
the project ships — the zoo cards (``assets/zoo/<name>.json``) and the audits of the ImageNet
defenses (``docs/audits/*.json``) — so a changed card changes its row. Zoo rows are generated
from :data:`core.models.zoo.catalogue.ZOO`, so a new entry appears by itself (with "not measured yet" until
its card has an evaluation).

Numbers. A zoo row quotes the card's **worst case** (the AutoAttack-style ensemble of
:mod:`core.evaluation.ensemble` on the card's images, its quoted view) with its exact 95 % interval
(:mod:`core.judging.stats`), and the strongest **single attack** of the card's subset evaluation (PGD-20 or
APGD-CE, same images). A defense row quotes the robust accuracy of EfficientNet-Lite0 behind the defense at
the audit's ε: per photo, right before the attack and fooled by none of the audit's attacks (white-box through
the defense's adaptive route, transfer from the undefended model, Square — Square-EOT for randomized defenses —
and the iterations check's stronger PGD runs), with its interval; older audit files without per-image
outcomes give the strongest single attack's rate. Smooth-Reduce's claim is about certified radii, so its row
quotes the photos certified for their true class (``docs/audits/certify/``, :func:`_certified_radii`).

Verdicts: each claim names its matched control and its own metric (:data:`COMPARISONS`, :class:`Condition`,
:class:`DefenseClaim`), and the verdict words come from the rules of :mod:`core.judging.claims`, applied to
**paired per-image outcomes** of the claimed model and its control on the same images (the cards' per-image
files, :mod:`core.evaluation.per_image`; the audits' ``robust_per_image``): exact McNemar for accuracies,
non-inferiority for "as good as" claims, the signed-rank test on each image's smallest flipping ε where both
models sit at the floor (or on certified radii), the training-seed spread for worst-case conditions, the
gradient-masking audit (a flagged masking sign whose predicted gap is real → ``gradient masking found``; a
single or non-adaptive attack that overstates the worst case → ``holds only against weak attacks``), and a
power statement with every inconclusive verdict. A file the rules need that is missing gives ``not measured
yet``; defense audit files without per-image outcomes fall back to comparing intervals.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal
from collections.abc import Callable

from core.evaluation.audit.checks import AUDITS_DIR, WARNING_SIGNS
import numpy as np
from scipy import stats as sps

from core.models.zoo.catalogue import ZOO, ZOO_DIR, ZooEntry
from core.teaching.presets import LITE0, Preset, get_preset
from core.judging.stats import Interval, accuracy_interval, count_of, spread_from_dict
from core.runtime.paths import ROOT
from core.evaluation.dense.equivariance_eval import scene_key
from core.evaluation.distributions import paired_distribution, robust_beyond
from core.evaluation.claims.systems import FEWSHOT, rpnode_verdict, sequence_certificate_verdict
from core.evaluation.per_image import DISTRIBUTION_KEYS, PerImage, align, paired_values, path_for
from core.judging.claims import (ALPHA, CONTRADICTED, HOLDS, INCONCLUSIVE, MASKING, NOT_MEASURED, VERDICT_ICON, VERDICTS,
                                 WEAK_ONLY, Paired, Verdict, combine, fmt_p, non_inferiority, paired, superiority,
                                 unpaired_n, weak_only)


# The verdict words and rules live in core/judging/claims.py (one place, with their tests).
NOT_REPRODUCED = INCONCLUSIVE  # the old word of an inconclusive row (kept for callers)

# Audit flags that say the attack, not the model, failed (core.evaluation.audit.checks); "randomness" says the
# verdict is random, which the rand worst case and majority votes already handle.
MASKING_SIGNS = ("transfer", "square", "gradients", "large_eps", "targeted", "iterations")

Relation = Literal["above", "matches", "below"]


@dataclass(frozen=True)
class Condition:
    """One measurable condition of a claim: the per-image evaluation it is judged on and its direction."""

    metric: str  # "worst_case" (per-image robust at the card's ε, from the distribution), or a per-image key
    relation: Relation = "above"  # claimed model above / as good as / below its control
    label: str = ""  # words for the page
    classes: tuple[int, ...] = ()  # only the images of these classes (protected classes)
    control: str = ""  # a control of its own for this condition (default: the comparison's baseline)
    control_metric: str = ""  # the control's per-image key, where it differs (same model, another attack)


@dataclass(frozen=True)
class Comparison:
    """What a zoo model's claim compares it with: its matched ``baseline`` (the control that differs only in the
    claimed ingredient) and the conditions, judged on the claim's own metric(s)."""

    baseline: str = "fmnist-standard"
    relation: Relation = "above"
    conditions: tuple[Condition, ...] = (Condition("worst_case"),)
    effect: float | None = None  # the difference the paper claims (for the power statement)
    control_note: str = ""  # why this control


_WC = Condition("worst_case", "above", "worst case at the card's ε")
_WC_SAME = Condition("worst_case", "matches", "worst case at the card's ε (as good as)")
_ODE_NOTE = ("the CNN trained the ODE recipes' way (Gaussian-noise augmentation, no adversarial training, same budget "
             "and seed policy): what the papers compare with, so that the ODE block, not the noise, is what is judged")
# The comparison each zoo claim makes (entries not listed: better than standard training on the worst case).
COMPARISONS: dict[str, Comparison] = {
    "fmnist-pgd-at": Comparison("fmnist-standard", "above", (_WC,)),
    "fmnist-trades": Comparison("fmnist-pgd-at", "above", (_WC,), effect=0.108),
    "fmnist-nfgsm": Comparison("fmnist-pgd-at", "matches", (_WC_SAME,)),
    "fmnist-fgsm-tricks": Comparison("fmnist-pgd-at", "matches", (_WC_SAME,)),
    "fmnist-jsigr": Comparison("fmnist-standard", "above", (_WC,)),
    "fmnist-cifs": Comparison("fmnist-pgd-at", "above", (_WC,)),
    "fmnist-feature-size": Comparison("fmnist-pgd-at", "above", (_WC,)),
    "fmnist-iat": Comparison("fmnist-pgd-at", "matches", (Condition("clean", "above", "clean accuracy"), _WC_SAME)),
    "fmnist-dial": Comparison("fmnist-trades", "above", (_WC,), effect=0.018),
    "fmnist-cost-sensitive": Comparison("fmnist-pgd-at", "above", (
        Condition("worst_case", "above", "worst case on the protected classes' images", classes=(4, 6)),
        Condition("pgd20_not_into_protected", "matches", "other classes' images kept out of Coat/Shirt after PGD-20 "
                  "(as well as PGD-AT: protection not bought by moving the boundary)", classes=(0, 1, 2, 3, 5, 7, 8, 9)),
        Condition("clean", "matches", "clean accuracy over all classes (the average stays about the same)")),
        control_note="PGD-AT with the same attack, budget and seed policy, every class weighted alike"),
    "fmnist-zerosnet": Comparison("fmnist-resnet", "above", (Condition("noise_0.1", "above",
                                                                       "accuracy under Gaussian noise σ = 0.1"),),
                                  control_note="the same ResNet stages without the zero-stable multistep update"),
    "fmnist-vit-4head": Comparison("fmnist-vit-1head", "above", (
        Condition("fgsm_eps0.02", "above", "FGSM at ε = 0.02 (weak attack: heads help)"),
        Condition("pgd20_eps0.02", "below", "PGD-20 at ε = 0.02 (strong attack: heads hurt)")),
        control_note="the same ViT with one head at equal parameter count"),
    "fmnist-ntk-kernel": Comparison("fmnist-ntk-kernel", "below", (Condition(
        "transfer_any", "below", "robust accuracy against PGD-20 transferred from three surrogates (PGD-AT, standard, "
        "the CNN on the same support set) below white-box PGD-20's (the paper: the robustness is illusory)",
        control_metric="pgd20"),), control_note="the same kernel under white-box PGD-20 on the same images: the "
        "claim compares attacks, not models"),
    "fmnist-ntk-cnn": Comparison("fmnist-standard", "above", (_WC,),
                                 control_note="the same CNN trained the standard way on the real training set"),
    "fmnist-odenet": Comparison("fmnist-noise-cnn", "above", (_WC,), effect=0.17, control_note=_ODE_NOTE),
    "fmnist-odenet-dopri5": Comparison("fmnist-odenet", "matches", (_WC_SAME,),
                                       control_note="the same weights solved by fixed Euler steps"),
    "fmnist-tisode": Comparison("fmnist-noise-cnn", "above", (_WC, Condition(
        "worst_case", "above", "worst case at the card's ε, against ODENet (TisODE's own claim over ODENet)",
        control="fmnist-odenet")), effect=0.23, control_note=_ODE_NOTE + "; and ODENet for TisODE's claim over it"),
    "fmnist-ltnode": Comparison("fmnist-noise-cnn", "above", (_WC,), control_note=_ODE_NOTE),
    "fmnist-snode": Comparison("fmnist-snode-resnet", "above", (
        Condition("clean", "above", "clean accuracy"),
        Condition("min_norm_l2", "above", "smallest successful L2 perturbation per image (the paper's sensitivity "
                                          "DeepFool)")),
        control_note="the paper's 'ResNet analog' (three residual layers on the same 14×14 state; our reading)"),
}
CONTROLS_ONLY = ("fmnist-standard", "fmnist-noise-cnn", "fmnist-resnet", "fmnist-vit-1head", "fmnist-snode-adam",
                 "fmnist-snode-resnet")  # controls, not claims


# Claims of the zoo's first papers (used while the catalogue entry's own ``claim`` is empty).
# A published number is quoted only where the project has it from the paper; "" otherwise.
PAPER_CLAIMS: dict[str, str] = {
    "fmnist-pgd-at": "Madry et al. (ICLR 2018): adversarial training with PGD gives robustness to any first-order "
                     "attack; CIFAR-10, ε = 8/255 (L∞), wide ResNet: 87.3 % clean and 45.8 % against 20-step PGD; "
                     "MNIST, ε = 0.3: about 89 % against the strongest PGD.",
    "fmnist-trades": "Zhang et al. (ICML 2019): TRADES trades clean accuracy for smoothness better than PGD-AT; "
                     "CIFAR-10, ε = 0.031 (L∞), WRN-34-10, β = 6: 84.9 % clean and 56.6 % against 20-step PGD, "
                     "against 87.3 % / 45.8 % for Madry et al.",
    "fmnist-nfgsm": "de Jorge et al. (NeurIPS 2022): one FGSM step from a strongly noised point, without "
                    "clipping, avoids catastrophic overfitting (up to ε = 16/255 on CIFAR-10, PreAct ResNet-18) and "
                    "matches the robustness of multi-step PGD-AT at the cost of single-step training.",
    "fmnist-fgsm-tricks": "Li et al. (arXiv 2209.02684, 2022): FGSM adversarial training with a bag of tricks "
                          "(masking part of the image when taking the attack gradient, smooth activations) is "
                          "stable and comes close to PGD-AT's robustness at single-step cost (CIFAR-10, "
                          "ε = 8/255).",
    "fmnist-jsigr": "Liu et al. (arXiv 2207.13036, 2022): regularising the Jacobian and the input gradients "
                    "outside the salient region (J-SIGR) keeps saliency maps on the object and makes the model "
                    "more robust to adversarial (transferred) attacks than standard training (MNIST, CIFAR-10).",
    "fmnist-cifs": "Yan et al. (ICML 2021): suppressing negatively relevant channels (CIFS) on top of PGD-AT "
                   "raises robust accuracy above plain PGD-AT against PGD and C&W on CIFAR-10 (ResNet-18, "
                   "ε = 8/255).",
    "fmnist-feature-size": "Xu et al. (arXiv 2202.12435): larger final feature maps (a smaller stride, the same "
                           "pooling) make adversarially trained CNNs more robust (CIFAR-10, ε = 8/255).",
}


@dataclass(frozen=True)
class DefenseClaim:
    """A paper behind an ImageNet defense: its claim and the audit files that measure it here."""

    key: str
    title: str
    paper: str
    claim: str
    adaptive_audit: str  # docs/audits/<file>: the defense through its adaptive route (true labels)
    baseline_audit: str  # the undefended model on the same photos
    naive_audit: str = ""  # the same defense with naive gradients, if audited
    page: str = "def"  # where it is shown live
    preset: str = ""  # a registered preset ("page/id"), else a Claims preset is built
    binarization: str = ""  # docs/audits/binarization/<file>: the test through the adaptive route, where run
    segmentation: bool = False  # also claimed on segmentation: judged on the Garment U-Net card as well
    metric: str = ""  # what the row judges, in words
    control: str = ""  # the matched control and why (or why the right one cannot be had here)
    # docs/audits/certify/<claimed>, <control>: a claim about certified radii, judged per photo on them
    certify: tuple[str, str] = ()


DEFENSE_CLAIMS: tuple[DefenseClaim, ...] = (
    DefenseClaim("equivariance", "Equivariance purification",
                 "Mao, Zhang, Joshi, Yang, Wang, Vondrick, ICML 2023",
                 "Mao et al.: optimising a reversal vector at test time so that the feature maps of transformed "
                 "views agree again (no training) restores robust accuracy under attack, including attackers who "
                 "know the defense (ImageNet and segmentation; published numbers: the paper's tables, not copied "
                 "here).",
                 "labelled-equivariance-bpda.json", "labelled-undefended.json", naive_audit="equivariance-naive.json",
                 binarization="equivariance-bpda.json", segmentation=True,
                 metric="robust accuracy per photo at ε = 4/255 (L∞) against every attack of the audit, through the "
                        "defense's BPDA route; on segmentation, mIoU per scene",
                 control="the same EfficientNet-Lite0 without the defense on the same photos (the defense needs no "
                         "training, so this is the paper's own comparison); on segmentation the same Garment U-Net "
                         "without it"),
    DefenseClaim("smoothing", "Randomized smoothing", "Cohen, Rosenfeld, Kolter, ICML 2019",
                 "Cohen et al.: the smoothed classifier's prediction is certified within an L2 radius; ImageNet, "
                 "ResNet-50 trained with Gaussian noise: 49 % certified top-1 accuracy at radius 0.5, 37 % at 1.0 "
                 "and 19 % at 2.0 (best over σ ∈ {0.25, 0.5, 1}).",
                 "labelled-smoothing-eot.json", "labelled-undefended.json", preset="def/smoothing_holds",
                 binarization="smoothing-eot.json",
                 metric="robust accuracy per photo at ε = 4/255 (L∞) against every attack of the audit, EOT over the "
                        "noise (empirical: the paper's certified accuracy needs a base model trained with Gaussian "
                        "noise and n = 100,000 samples, neither possible here)",
                 control="the same EfficientNet-Lite0 without smoothing on the same photos; the paper's base model "
                         "(a ResNet-50 trained with Gaussian noise) cannot be trained here, so this measures smoothing "
                         "of a model never trained on noise"),
    DefenseClaim("smooth-reduce", "Smooth-Reduce", "Joshi, Pham, Cho, Boytsov, Condessa, Kolter, Hegde, 2022",
                 "Joshi et al.: smoothing an ensemble of patches (mean or max of the patches' logits) certifies "
                 "larger L2 radii than randomized smoothing of the whole image with the same base model (ImageNet, "
                 "CIFAR-10; published numbers: the paper's tables, not copied here).",
                 "labelled-smooth-reduce-eot.json", "labelled-undefended.json", page="cert",
                 preset="cert/smooth_reduce", binarization="smooth-reduce-eot.json",
                 metric="certified L2 radius per photo for its true class (0 where the smoothed classifier abstains "
                        "or certifies another class), σ = 0.12",
                 control="randomized smoothing of the same EfficientNet-Lite0 at the same σ, n0, n, α and noise draws "
                         "on the same photos (the paper's own comparison)",
                 certify=("labelled-smooth-reduce.json", "labelled-smoothing.json")),
)

DEFENSE_NAMES = {"equivariance": "Equivariance purification", "smoothing": "Randomized smoothing",
                 "smooth-reduce": "Smooth-Reduce"}


def short_audit(audit: str) -> str:
    """The audit's verdict in a few words, for a table cell ("no flag", "⚠️ 2 flags", …); the full
    words stay in :attr:`ClaimRow.audit`."""
    if audit.startswith("flagged:"):
        n = audit.split("(")[0].count(";") + 1
        return f"⚠️ {n} flag{'s' if n > 1 else ''}"
    if audit.startswith("no check warns"):
        return "no flag"
    return audit


def short_number(text: str) -> str:
    """"fmnist-pgd-at: 64.4 % (61.3–67.4, n = 1,000)" → "fmnist-pgd-at: 64.4 %" (a table cell; the
    interval stays in the row's own text)."""
    return text.split(" (")[0]


@dataclass
class ClaimRow:
    """One row of the Claims page (and of the snapshot test)."""

    key: str  # "zoo:<name>" or "defense:<key>"
    title: str
    paper: str
    claim: str
    reproduction: str  # model/defense, data, n, attack
    measured: str  # the number with its interval, in words
    measured_value: float | None
    measured_ci95: list[float] | None
    n: int | None
    baseline: str  # the compared number, in words
    single_attack: str  # the strongest single attack's number (zoo) or the non-adaptive audit (defense)
    audit: str  # the audit's verdict in words
    verdict: str  # one of VERDICTS
    reason: str  # which rule gave the verdict, with its numbers
    page: str  # page key of the live view
    preset: Preset | None
    source: str  # the file it reads, relative to the project root
    seeds: str = ""  # the seed spread, where the card has one
    extra_links: list[tuple[str, Preset]] = field(default_factory=list)
    metric: str = ""  # what the claim is judged on (its own metric or metrics)
    control: str = ""  # the matched control and why
    distribution: str = ""  # the per-image smallest-ε comparison (medians, signed-rank test)
    binarization: str = ""  # the binarization test's score, where run
    evidence: list[str] = field(default_factory=list)  # files and the commands that made them

    def snapshot(self) -> dict:
        """What the snapshot test keeps: the measured numbers and the verdicts."""
        return {"key": self.key, "measured_value": self.measured_value, "measured_ci95": self.measured_ci95,
                "n": self.n, "verdict": self.verdict, "audit": self.audit}

    def as_dict(self) -> dict:
        d = asdict(self)
        d["preset"] = None if self.preset is None else self.preset.ref
        d["extra_links"] = [(t, p.ref) for t, p in self.extra_links]
        return d


# -- reading the files ----------------------------------------------------------------------------

def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _rel(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def worst_case_interval(card: dict) -> Interval | None:
    """The card's quoted worst case (``worst_case[quoted_view]``; an L2 model's ``worst_case_l2``) as k of n
    with its interval."""
    wc = card.get("worst_case") or card.get("worst_case_l2") or {}
    view = wc.get(wc.get("quoted_view") or "as_shipped")
    if not view or "robust" not in view:
        return None
    return accuracy_interval(view["robust"], view["n"])


def single_attack_interval(card: dict) -> tuple[str, Interval] | None:
    """The strongest single attack of the card's subset evaluation (lowest accuracy of PGD-20 and
    APGD-CE), on the worst case's images."""
    sub = (card.get("evaluation") or {}).get("subset") or {}
    found = [(k, accuracy_interval(sub[k]["correct"], sub[k]["n"])) for k in ("pgd20", "apgd_ce") if k in sub]
    return min(found, key=lambda t: t[1].p) if found else None


def _seed_spread(card: dict):
    sp = ((card.get("seeds") or {}).get("spread") or {}).get("worst_case")
    return spread_from_dict(sp) if sp else None


def _above(a: Interval, b: Interval) -> bool:
    """a's interval lies wholly above b's."""
    return a.lo > b.hi


def audit_words(flags: list[str], flagged: bool) -> str:
    if not flagged:
        return "no check warns"
    return "flagged: " + "; ".join(WARNING_SIGNS.get(f, f) for f in flags)


def _card_audit(card: dict) -> tuple[list[str], bool, str]:
    """(flags, flagged, words) of the audit that goes with the card's quoted view."""
    wc = card.get("worst_case") or {}
    a = wc.get("audit_through_mask") if wc.get("quoted_view") == "through_mask" and wc.get("audit_through_mask") \
        else (wc.get("audit") or card.get("audit"))
    if not a:
        return [], False, "not audited"
    flags = list(a.get("flags") or [])
    return flags, bool(a.get("flagged")), audit_words(flags, bool(a.get("flagged"))) + f" ({a.get('n')} images)"


# -- presets the rows link to -----------------------------------------------------------------------

def zoo_preset(name: str, baseline: str | None) -> Preset:
    """The Model zoo page with the model beside its baseline."""
    models = [m for m in (baseline, name) if m]
    return Preset(id=f"claim_{name}", page="zoo", title=f"{name} vs {baseline}" if baseline else name,
                  blurb="From the Claims page.", values={"zoo_models": models})


def zoo_audit_preset(name: str, through_mask: bool = False) -> Preset:
    return Preset(id=f"claim_audit_{name}", page="audit", title=f"Audit {name}", blurb="From the Claims page.",
                  values={"audit_model": name, "audit_through": through_mask, "audit_defense": "none",
                          "audit_surrogate": "fmnist-trades" if name == "fmnist-pgd-at" else "fmnist-pgd-at"},
                  autorun=False)


def defense_audit_preset(spec: DefenseClaim, audit: dict) -> Preset:
    """The audit page set as the shipped audit file was run (labelled photos, its budget)."""
    cfg = audit.get("config") or {}
    return Preset(id=f"claim_audit_{spec.key}", page="audit", title=f"Audit {spec.title}",
                  blurb="From the Claims page.",
                  values={"audit_model": LITE0, "audit_defense": DEFENSE_NAMES[spec.key], "audit_adaptive": True,
                          "audit_labelled": True, "audit_n": max(4, int(audit.get("n") or 8)),
                          "audit_eps": round(float(cfg.get("eps", 4 / 255)), 4),
                          "audit_steps": int(cfg.get("steps", 5)), "audit_queries": int(cfg.get("square_queries", 100)),
                          "audit_surrogate": "(the undefended model)"},
                  autorun=False)


# -- rows -----------------------------------------------------------------------------------------------

def _condition_outcomes(cond: Condition, a: PerImage, b: PerImage, eps: float) -> tuple[np.ndarray, np.ndarray] | str:
    """Paired bool outcomes of a condition on the images both files measured, or the reason it cannot be judged."""
    ia, ib = align(a, b)
    if cond.classes:
        keep = np.isin(a.labels[ia], cond.classes)
        ia, ib = ia[keep], ib[keep]
    if cond.metric == "worst_case" and "worst_case" in a.correct and "worst_case" in b.correct:
        return a.correct["worst_case"][ia], b.correct["worst_case"][ib]  # the cards' own ensemble, per image
    if cond.metric == "worst_case":  # else each image's smallest flipping ε from the distribution, at the card's ε
        if "min_eps_linf" not in a.values or "min_eps_linf" not in b.values:
            return "no robustness distribution in the per-image file"
        va, vb = paired_values(a, b, "min_eps_linf", cond.classes)
        return robust_beyond(va, eps), robust_beyond(vb, eps)
    mb = cond.control_metric or cond.metric
    if cond.metric not in a.correct or mb not in b.correct:
        return f"no per-image '{cond.metric if cond.metric not in a.correct else mb}' results"
    return a.correct[cond.metric][ia], b.correct[mb][ib]


def judge_condition(cond: Condition, a: PerImage, b: PerImage, name: str, base: str, eps: float,
                    effect: float | None, seeds) -> Verdict:
    """One condition of a claim on paired per-image outcomes (core.judging.claims's rules). A worst-case
    condition where both models sit at the floor (≤ 1 % robust) is judged on the per-image smallest ε
    instead: one ε cannot tell them apart."""
    what = cond.label or cond.metric
    if cond.metric in DISTRIBUTION_KEYS:  # a claim about each image's smallest flipping budget: signed-rank test
        if cond.metric not in a.values or cond.metric not in b.values:
            return Verdict(NOT_MEASURED, f"{what}: no per-image '{cond.metric}'")
        d = paired_distribution(*paired_values(a, b, cond.metric))
        line = f"{what}: {d.line(name, base)}; medians {d.median_a:.3f} vs {d.median_b:.3f}"
        if d.wilcoxon_p >= 0.05:
            return Verdict(INCONCLUSIVE, line + "; no significant difference")
        return Verdict(HOLDS if (d.a_larger > d.b_larger) == (cond.relation != "below") else CONTRADICTED, line)
    got = _condition_outcomes(cond, a, b, eps)
    if isinstance(got, str):
        return Verdict(NOT_MEASURED, f"{what}: {got}")
    oa, ob = got
    if cond.metric == "worst_case" and oa.mean() <= 0.01 and ob.mean() <= 0.01:
        d = paired_distribution(*paired_values(a, b, "min_eps_linf"))
        line = f"both at the floor at ε = {eps:g}; {d.line(name, base)}"
        if d.wilcoxon_p < 0.05:
            better = d.a_larger > d.b_larger
            want = cond.relation != "below"
            return Verdict(HOLDS if better == want and cond.relation != "matches" else
                           (CONTRADICTED if better != want else INCONCLUSIVE), line)
        return Verdict(INCONCLUSIVE, line + "; no significant difference")
    t = paired(oa, ob)
    if cond.relation == "matches":
        return non_inferiority(t, name, base, what)
    if cond.relation == "below":
        v = superiority(paired(ob, oa), base, name, what, effect=effect)
        return v
    return superiority(t, name, base, what, effect=effect, seeds=seeds)


def _eps_text(v) -> str:
    return v if isinstance(v, str) else f"{float(v):.3g}"


def _distribution_words(card: dict, base_card: dict | None, a: PerImage | None, b: PerImage | None,
                        name: str, base: str) -> str:
    dist = card.get("distribution")
    if not dist:
        return "not measured yet (tools/per_image_zoo.py)"
    def med(d: dict) -> str:
        m = d["median"]
        return f"{_eps_text(m['value'])} (95 % {_eps_text(m['interval95'][0])}–{_eps_text(m['interval95'][1])})"

    words = f"{name}: median smallest ε {med(dist)} on {dist['n']} images"
    bd = (base_card or {}).get("distribution")
    if bd:
        words += f"; {base}: {med(bd)}"
    if a is not None and b is not None and "min_eps_linf" in a.values and "min_eps_linf" in b.values:
        va, vb = paired_values(a, b, "min_eps_linf")
        if len(va):
            words += "; " + paired_distribution(va, vb).line(name, base)
    return words


def _binarization_text(r: dict | None) -> str:
    """One binarization result (its first attack) in words."""
    if not isinstance(r, dict):
        return "not run"
    a = next(iter((r.get("attacks") or {}).values()), None)
    if not a or not a.get("feasible"):
        return "no feasible case"
    ci = a.get("ci95") or ["?", "?"]
    return (f"{a['found']} of {a['feasible']} feasible cases found, score {a['score']:.2f} (95 % {ci[0]:.2f}–{ci[1]:.2f}; "
            f"pass mark 0.9); a random point on the ε-surface already wins {a.get('random_found', '?')} of them")


def _binarization_words(name: str) -> str:
    """The binarization test's score for a zoo model (docs/audits/binarization/zoo.json; the CIFS model through
    its mask where run), in words."""
    data = _read_json(AUDITS_DIR / "binarization" / "zoo.json") or {}
    models = data.get("models") or {}
    return _binarization_text(models.get(f"{name} through-mask") or models.get(name))


def zoo_row(entry: ZooEntry, read_card: Callable[[str], dict | None],
            read_per_image: Callable[[str], PerImage | None] | None = None) -> ClaimRow:
    """The row of one zoo entry, from its card, its matched control's card and both per-image files."""
    card = read_card(entry.name) or {}
    cmp_ = COMPARISONS.get(entry.name, Comparison())
    self_control = cmp_.baseline == entry.name  # a claim about attacks on one model (transfer vs white-box)
    base_card = None if self_control else read_card(cmp_.baseline)
    per_a = read_per_image(entry.name) if read_per_image else None
    per_b = per_a if self_control else (read_per_image(cmp_.baseline) if read_per_image else None)
    claim = entry.claim or card.get("claim") or PAPER_CLAIMS.get(entry.name, "")
    wc = worst_case_interval(card)
    single = single_attack_interval(card)
    flags, flagged, audit = _card_audit(card)
    w = card.get("worst_case") or {}
    source = _rel(entry.card_path)
    eps = w.get("eps") or 0.1
    reproduction = (f"{entry.title} ({entry.name}), Fashion-MNIST: {w.get('data', 'the shipped test subset')}; "
                    f"worst case at ε = {eps} ({w.get('norm', 'linf')}): {w.get('attacks', 'the ensemble')}"
                    + (f"; quoted view: {w['quoted_view'].replace('_', ' ')}" if w.get("quoted_view") not in
                       (None, "as_shipped") else "")) if wc else f"{entry.title} ({entry.name}), Fashion-MNIST"
    base_wc = worst_case_interval(base_card) if base_card else None
    baseline = f"{cmp_.baseline}: {base_wc.pct()}" if base_wc else f"{cmp_.baseline}: not measured"
    if self_control:
        keys = [c.control_metric for c in cmp_.conditions if c.control_metric]
        baseline = "; ".join(f"{entry.name} under {k}: " + (accuracy_interval(*per_a.accuracy(k)).pct() if per_a is not None
                                                            and k in per_a.correct else "not measured") for k in keys)
    single_words = f"{single[0].replace('pgd20', 'PGD-20').replace('apgd_ce', 'APGD-CE')}: {single[1].pct()}" \
        if single else "—"
    spread = _seed_spread(card)
    base_spread = _seed_spread(base_card) if base_card else None
    seeds = f"worst case over seeds: {spread.pct()}" if spread else "one training seed"
    if base_spread:
        seeds += f"; {cmp_.baseline}: {base_spread.pct()}"
    live = zoo_preset(entry.name, cmp_.baseline if base_card else None)
    extra = [("audit it", zoo_audit_preset(entry.name, w.get("quoted_view") == "through_mask"))]
    evidence = [f"{source} ({w.get('command', 'tools/train_zoo.py')})"]
    for nm, c in ((entry.name, card),) + (() if self_control else ((cmp_.baseline, base_card or {}),)):
        pi = c.get("per_image")
        if isinstance(pi, str):  # a card that names only its per-image file
            evidence.append(f"{pi} ({c.get('evaluation_command', '')})")
        elif pi:
            evidence.append(f"{pi['file']} ({pi.get('command', '')})")
        elif nm:
            evidence.append(f"assets/zoo/{nm}.per_image.npz: not made yet (tools/per_image_zoo.py {nm})")
    row = ClaimRow(key=f"zoo:{entry.name}", title=entry.title, paper=entry.paper, claim=claim,
                   reproduction=reproduction, measured=wc.pct() if wc else "—",
                   measured_value=round(wc.p, 4) if wc else None, measured_ci95=wc.as_list() if wc else None,
                   n=wc.n if wc else None, baseline=baseline, single_attack=single_words, audit=audit,
                   verdict=NOT_MEASURED, reason="", page="zoo", preset=live, source=source, seeds=seeds,
                   extra_links=extra, metric="; ".join(c.label or c.metric for c in cmp_.conditions),
                   control=cmp_.baseline + (f" — {cmp_.control_note}" if cmp_.control_note else ""),
                   distribution=_distribution_words(card, base_card, per_a, per_b, entry.name, cmp_.baseline),
                   binarization=_binarization_words(entry.name), evidence=evidence)
    needs_wc = any(c.metric == "worst_case" for c in cmp_.conditions)
    if wc is None and needs_wc:
        row.reason = f"{source} has no worst case yet (train and evaluate the model with tools/train_zoo.py)."
        return row
    masked = [f for f in flags if f in MASKING_SIGNS] if flagged else []
    gap = single is not None and wc is not None and weak_only(single[1], wc)
    if masked and gap and needs_wc:  # a claim on another metric (transfer) is judged on it; the audit note follows
        row.verdict = MASKING
        row.reason = (f"the audit warns ({audit}) and the single attack's interval ({single[1].short()} %) lies "
                      f"above the worst case's ({wc.short()} %): the gradients hid adversarial examples.")
        return row
    if gap and needs_wc:
        row.verdict = WEAK_ONLY
        row.reason = (f"the single attack ({single[1].short()} %) overstates the worst case ({wc.short()} %); "
                      "no audit warning.")
        return row
    if per_a is None or per_b is None:
        missing = [n for n, p in ((entry.name, per_a), (cmp_.baseline, per_b)) if p is None]
        row.reason = (f"no per-image results for {', '.join(missing)} yet: the paired rules need them "
                      f"(tools/per_image_zoo.py); the cards' numbers are shown for reference.")
        return row
    seed_pair = (spread, base_spread) if spread is not None and base_spread is not None else None
    parts = []
    for c in cmp_.conditions:
        if c.control and c.control != cmp_.baseline:  # a condition with a control of its own
            per_c = read_per_image(c.control) if read_per_image else None
            if per_c is None:
                parts.append(Verdict(NOT_MEASURED, f"{c.label}: no per-image results for {c.control}"))
                continue
            c_spread = _seed_spread(read_card(c.control) or {})
            pair = (spread, c_spread) if spread is not None and c_spread is not None and c.metric == "worst_case" \
                else None
            parts.append(judge_condition(c, per_a, per_c, entry.name, c.control, eps, None, pair))
        else:
            # the cards' seed spreads are of the worst case: they bound only a worst-case condition
            a_name, b_name = ((f"{entry.name} under {c.metric}", f"{entry.name} under {c.control_metric}") if self_control
                              else (entry.name, cmp_.baseline))
            parts.append(judge_condition(c, per_a, per_b, a_name, b_name, eps, cmp_.effect,
                                         seed_pair if c.metric == "worst_case" else None))
    v = combine(parts)
    row.verdict, row.reason = v.word, v.reason + "."
    if masked and not needs_wc:
        row.reason += (f" (The audit warns on the white-box evaluation — {audit}; the claim is judged on its own "
                       "metric above.)")
    elif masked:
        row.reason += f" (The audit warns — {audit} — but the worst case is within the single attack's interval.)"
    return row


def audit_robust(audit: dict) -> tuple[Interval, str] | None:
    """Robust accuracy behind the audited defense at the audit's ε against the strongest attack. Where the audit
    kept per-image outcomes (``robust_per_image``) it is the per-image worst case: right before the attack and
    fooled by none of white-box, transfer, Square (and Square-EOT); older files give only each attack's rate, and
    the strongest single attack stands in: (clean-correct − fooled) / n."""
    row = _audit_row_at_eps(audit)
    n, cc = audit.get("n"), audit.get("clean_correct")
    if row is None or n is None or cc is None:
        return None
    per = row.get("robust_per_image")
    if per is not None and len(per) == n:
        return accuracy_interval(min(int(sum(per)), _stronger_runs_cap(audit)), n), "any of the attacks, per image"
    cand = {k: row[k] for k in ("white_box", "transfer", "square", "square_eot") if k in row and row[k] == row[k]}
    best = max(cand, key=lambda k: cand[k]) if cand else "white_box"
    fooled = count_of(cand.get(best, 0.0), cc) if cc else 0
    return accuracy_interval(cc - fooled, n), best.replace("_", "-")


def _stronger_runs_cap(audit: dict) -> int:
    """At most this many images can be robust at the audit's ε: its iterations check ran PGD with 5× the steps
    and with 3 restarts at ε (rates over the clean-correct images). Files made before the audit folded those runs
    into ``robust_per_image`` keep only their rates, so they bound the per-image count from above."""
    cc = int(audit.get("clean_correct") or 0)
    it = next((c for c in audit.get("checks") or [] if c.get("key") == "iterations"), None)
    nums = (it or {}).get("numbers") or {}
    rates = [v for k, v in nums.items() if k in ("five_times_steps", "three_restarts") and v == v]
    return cc - max((count_of(v, cc) for v in rates), default=0)


def _audit_row_at_eps(audit: dict | None) -> dict | None:
    eps = ((audit or {}).get("config") or {}).get("eps")
    rows = [c for c in (audit or {}).get("comparison") or [] if eps is not None and abs(c["eps"] - eps) < 1e-9]
    return rows[0] if rows else None


def audit_paired(audit: dict | None, base: dict | None) -> Paired | None:
    """The defended and the undefended model's per-image robust outcomes on the same photos (both audits at the
    same ε, same data, per-image outcomes kept), else None."""
    a, b = _audit_row_at_eps(audit), _audit_row_at_eps(base)
    if a is None or b is None or audit.get("data") != base.get("data") or abs(a["eps"] - b["eps"]) > 1e-9:
        return None
    ra, rb = a.get("robust_per_image"), b.get("robust_per_image")
    if ra is None or rb is None or len(ra) != len(rb):
        return None
    va, vb = _capped(ra, rb, _stronger_runs_cap(audit)), _capped(rb, ra, _stronger_runs_cap(base))
    return paired(va, vb)


def _capped(robust: list[int], other: list[int], cap: int) -> list[bool]:
    """``robust`` with all but ``cap`` of its robust images dropped (see :func:`_stronger_runs_cap`): which images
    the stronger runs fooled is not stored, so the dropped ones are those where the other model is not robust
    first — the choice that weighs against this model in the paired test."""
    v = [bool(x) for x in robust]
    excess = sum(v) - max(cap, 0)
    for i in sorted((i for i, x in enumerate(v) if x), key=lambda i: bool(other[i])):
        if excess <= 0:
            break
        v[i], excess = False, excess - 1
    return v


def defense_row(spec: DefenseClaim, audits_dir: Path) -> ClaimRow:
    """The row of an ImageNet defense (its audit files); a claim made on segmentation too is judged there as well
    (:func:`segmentation_verdict`) and both settings combine by the rules of :mod:`core.judging.claims`."""
    audit = _read_json(audits_dir / spec.adaptive_audit)
    row = _audit_row(spec, audits_dir, audit)
    row.metric, row.control = spec.metric, spec.control
    if spec.certify:
        _certified_radii(row, spec, audits_dir / "certify", (audit or {}).get("data", ""))
    seg = segmentation_verdict() if spec.segmentation else None
    if seg is not None and row.verdict in (HOLDS, CONTRADICTED, INCONCLUSIVE):
        v = combine([Verdict(row.verdict, "ImageNet photos: " + row.reason.rstrip(".")), seg])
        row.verdict, row.reason = v.word, v.reason + "."
    elif seg is not None:
        row.reason += f" {seg.reason}."
    return row


def _certified_radii(row: ClaimRow, spec: DefenseClaim, folder: Path, audited: str) -> None:
    """Judge a claim about certified radii on them: per photo, the radius certified for the true class (0 where the
    smoothed classifier abstains or certifies another class), claimed method against its control on the same photos
    and noise draws (Wilcoxon signed-rank, as the zoo's per-image smallest ε). The empirical audit stays in the
    reproduction text (``audited``: the photos its audit covered); the verdict is the certificate's."""
    docs = [_read_json(folder / f) for f in spec.certify]
    paths = [_rel(folder / f) for f in spec.certify]
    if any(d is None for d in docs):
        row.verdict, row.reason = NOT_MEASURED, f"{' or '.join(paths)} is missing (tools/certify_labelled.py)."
        return
    a, b = docs
    ra = np.array([ph["radius_true_class"] for ph in a["photos"]])
    rb = np.array([ph["radius_true_class"] for ph in b["photos"]])
    if a["data"] != b["data"] or len(ra) != len(rb) or a["params"].get("sigma") != b["params"].get("sigma"):
        row.verdict, row.reason = NOT_MEASURED, "the two certification files do not cover the same photos at one σ."
        return
    n = len(ra)
    ka, kb = int((ra > 0).sum()), int((rb > 0).sum())
    iv, base_iv = accuracy_interval(ka, n), accuracy_interval(kb, n)
    d = paired_distribution(ra, rb)
    at_cap = [int((r >= doc["max_radius"] - 1e-6).sum()) for r, doc in ((ra, a), (rb, b))]
    line = (f"certified radius for the true class per photo, σ = {a['params']['sigma']:g}, n = {a['params']['n']:,}: "
            f"{a['method']} larger on {d.a_larger}, {b['method']} larger on {d.b_larger}, {d.ties} tied of {n} "
            f"(Wilcoxon signed-rank p = {fmt_p(d.wilcoxon_p)}); medians {d.median_a:.3f} vs {d.median_b:.3f}; certified "
            f"for the true class {ka} vs {kb} of {n}; at the largest radius n allows ({a['max_radius']:.3f}) "
            f"{at_cap[0]} vs {at_cap[1]}")
    if d.wilcoxon_p < ALPHA:
        row.verdict = HOLDS if d.a_larger > d.b_larger else CONTRADICTED
        row.reason = line + "."
    else:
        row.verdict = INCONCLUSIVE
        row.reason = line + "; no significant difference" + (
            " (photos at the ceiling tie whatever the methods' true margins: a larger n would separate them)"
            if min(at_cap) > 0 else "") + "."
    row.reproduction = (f"{a['method']} and {b['method']} of {a['model']}, {a['data']}, CERTIFY with n0 = "
                        f"{a['params']['n0']}, n = {a['params']['n']:,}, α = {a['params']['alpha']:g}; also audited "
                        f"under attack ({audited}, through EOT at ε = 4/255): robust {row.measured}")
    row.measured, row.measured_value, row.measured_ci95, row.n = (f"certified {iv.pct()}", round(iv.p, 4),
                                                                  iv.as_list(), n)
    row.baseline = f"{b['method']}: {base_iv.pct()} certified"
    row.source = paths[0]
    row.evidence = [f"{pth} ({doc['command']})" for pth, doc in zip(paths, docs)] + row.evidence


def _audit_row(spec: DefenseClaim, audits_dir: Path, audit: dict | None) -> ClaimRow:
    """The row from the defense's audit files (``audit``: its adaptive audit, already read)."""
    path = audits_dir / spec.adaptive_audit
    base = _read_json(audits_dir / spec.baseline_audit)
    naive = _read_json(audits_dir / spec.naive_audit) if spec.naive_audit else None
    bin_doc = _read_json(AUDITS_DIR / "binarization" / spec.binarization) if spec.binarization else None
    registered = get_preset(spec.preset) if spec.preset else None
    live = registered or Preset(id=f"claim_{spec.key}", page="def", title=spec.title, blurb="From the Claims page.",
                                values={"def_names": [DEFENSE_NAMES[spec.key]], "def_mode": "Adaptive"})
    row = ClaimRow(key=f"defense:{spec.key}", title=spec.title, paper=spec.paper, claim=spec.claim, reproduction="",
                   measured="—", measured_value=None, measured_ci95=None, n=None, baseline="—", single_attack="—",
                   audit="not audited", verdict=NOT_MEASURED, reason="", page=live.page, preset=live,
                   source=_rel(path), binarization=_binarization_text(bin_doc) if spec.binarization else "not run")
    if audit is None:
        row.reason = f"{row.source} is missing."
        return row
    row.extra_links = [("audit it", defense_audit_preset(spec, audit))]
    row.evidence = [f"{_rel(audits_dir / f)} ({d.get('command', '')})" for f, d in
                    ((spec.adaptive_audit, audit), (spec.baseline_audit, base), (spec.naive_audit, naive)) if d]
    if bin_doc:
        row.evidence.append(f"docs/audits/binarization/{spec.binarization} ({bin_doc.get('command', '')})")
    cfg = audit.get("config") or {}
    eps = cfg.get("eps", 0.0)
    measured = audit_robust(audit)
    row.reproduction = (f"{audit.get('description', spec.title)}; {audit.get('data', '')}; PGD {cfg.get('steps')} "
                        f"steps through the adaptive route, transfer and Square ({cfg.get('square_queries')} queries"
                        + (", and Square-EOT" if any("square_eot" in c for c in audit.get("comparison") or []) else "")
                        + f") at ε = {eps * 255:.0f}/255 (L∞)")
    row.audit = audit_words(list(audit.get("flags") or []), bool(audit.get("flagged"))) + f" ({audit.get('n')} images)"
    if measured is None:
        row.reason = f"{row.source} has no comparison at its ε."
        return row
    iv, by = measured
    row.measured = iv.pct()
    row.reproduction += ("; a photo counts as robust only if none of them fools it (nor PGD with 5× the steps or 3 "
                         "restarts)" if by.startswith("any")
                         else f"; robust accuracy against the strongest of them (here: {by})")
    row.measured_value, row.measured_ci95, row.n = round(iv.p, 4), iv.as_list(), iv.n
    base_robust = audit_robust(base) if base else None
    base_iv = base_robust[0] if base_robust else None
    row.baseline = f"undefended: {base_iv.pct()}" if base_iv else "undefended: not audited"
    if naive is not None:
        naive_iv = audit_robust(naive)
        naive_masked = [f for f in naive.get("flags") or [] if f in MASKING_SIGNS]
        row.single_attack = (f"naive gradients: {audit_words(naive_masked, bool(naive_masked))}"
                             + (f", robust {naive_iv[0].pct()} ({naive.get('data', '')})" if naive_iv else ""))
    masked = [f for f in audit.get("flags") or [] if f in MASKING_SIGNS]
    if masked:
        row.verdict = MASKING
        row.reason = f"the adaptive attack's audit warns: {audit_words(masked, True)}."
        return row
    if base_iv is None:
        row.reason = f"no audit of the undefended model ({spec.baseline_audit}) to compare with."
        return row
    pair = audit_paired(audit, base)
    if pair is not None:  # the same photos, per-image worst case of each: the paired rules of core.judging.claims
        v = superiority(pair, "defended", "undefended", f"robust accuracy at ε = {eps * 255:.0f}/255 against every "
                        "attack of the audit, per photo")
        if v.word == HOLDS:
            row.verdict, row.reason = v.word, v.reason + "."
            return row
    elif _above(iv, base_iv):
        row.verdict, row.reason = HOLDS, (f"robust {iv.short()} % against the strongest attack lies above the "
                                          f"undefended model's {base_iv.short()} %.")
        return row
    naive_masked = [f for f in (naive or {}).get("flags") or [] if f in MASKING_SIGNS]
    if naive_masked:
        row.verdict = WEAK_ONLY
        row.reason = (f"with naive gradients the audit warns ({audit_words(naive_masked, True)}); through the "
                      f"adaptive route the robust accuracy ({iv.short()} %) is not above the undefended model's "
                      f"({base_iv.short()} %).")
        return row
    if pair is not None:
        row.verdict, row.reason = v.word, v.reason + f" ({audit.get('clean_correct')} of {iv.n} photos right " \
            "behind the defense without attack)."
        return row
    if base_iv.lo > iv.hi:
        row.verdict = CONTRADICTED
        row.reason = (f"robust {iv.short()} % behind the defense vs undefended {base_iv.short()} % on {iv.n} photos: "
                      "the undefended model's interval lies above.")
        return row
    row.verdict = INCONCLUSIVE
    power = (f"; about {unpaired_n(iv.p, base_iv.p):,} photos per arm would tell this observed difference apart"
             if abs(iv.p - base_iv.p) >= 0.01 else "; the two numbers are equal here")
    row.reason = (f"robust {iv.short()} % vs undefended {base_iv.short()} % on {iv.n} photos: the intervals "
                  f"overlap ({audit.get('clean_correct')} of {iv.n} photos right without attack){power}.")
    return row


def claim_rows(zoo_dir: Path | None = None, audits_dir: Path | None = None) -> list[ClaimRow]:
    """Every row: the ImageNet defenses' papers, then one per zoo entry (catalogue order), the
    rows not measured yet last.
    ``zoo_dir``/``audits_dir``: where the cards and audit files are (default: the shipped ones)."""
    zd = Path(zoo_dir) if zoo_dir is not None else ZOO_DIR
    ad = Path(audits_dir) if audits_dir is not None else AUDITS_DIR
    cache: dict[str, Any] = {}

    def read_card(name: str) -> dict | None:
        if name not in cache:
            cache[name] = _read_json(zd / f"{name}.json")
        return cache[name]

    per_cache: dict[str, PerImage | None] = {}

    def read_per_image(name: str) -> PerImage | None:
        if name not in per_cache:
            path = zd / f"{name}.per_image.npz"
            per_cache[name] = PerImage.load(path) if path.exists() else None
        return per_cache[name]

    rows = [defense_row(spec, ad) for spec in DEFENSE_CLAIMS]
    for e in ZOO:
        if e.name in CONTROLS_ONLY:
            continue  # reference points, not claims
        row = zoo_row(e, read_card, read_per_image)
        if zd != ZOO_DIR:
            row.source = _rel(zd / f"{e.name}.json")
        rows.append(row)
    rows += system_rows()
    return [r for r in rows if r.verdict != NOT_MEASURED] + [r for r in rows if r.verdict == NOT_MEASURED]


def _fewshot_measured() -> str:
    f = FEWSHOT / "rpnode-s0.per_image.npz"
    if not f.exists():
        return "—"
    per = PerImage.load(f)
    v = per.values.get("q_worst_case__dice")
    return "—" if v is None else f"worst-case Dice {float(v.mean()):.3f} (seed 0, {per.n} episodes)"


SEG_ADAPTIVE = (("equivariance-aware", "the paper's equivariance-aware attacker"),
                ("bpda", "BPDA through the purifier"))


def segmentation_verdict(path: Path | None = None) -> Verdict | None:
    """The equivariance claim's segmentation setting (Garment U-Net, the shipped test scenes): each scene's mIoU
    with the defense, against each adaptive attacker the card measured (the paper's equivariance-aware one;
    BPDA through the purifier), against the same scene without the defense under the plain attack (the
    control: what one gets without the defense), by the Wilcoxon signed-rank test on the same scenes
    (per-scene file beside the card, ``python -m core dense-eval --what equivariance --card``). The claim holds
    here when purification raises the mIoU against every adaptive attacker. None when the card has no
    equivariance block."""
    card_path = path or ROOT / "assets" / "dense" / "garment-unet.json"
    card = _read_json(card_path) or {}
    eq = card.get("equivariance") or {}
    res = eq.get("results") or {}
    if "clean" not in res or "clean, defended" not in res:
        return None
    head = (f"Segmentation, the claim's other setting (Garment U-Net, {eq.get('images', '?')} scenes): clean mIoU "
            f"{res['clean']['miou']:.3f} → {res['clean, defended']['miou']:.3f} with the defense on")
    per_path = path_for(card_path)
    per = PerImage.load(per_path) if per_path.exists() else None
    parts = []
    base = "none: attacked" if "none: attacked" in res else None  # the undefended model under the plain attack
    for key, words in SEG_ADAPTIVE:
        if f"{key}: attacked" not in res:
            continue
        ctrl = base or f"{key}: attacked"
        a, d = res[ctrl]["miou"], res[f"{key}: defended"]["miou"]
        line = (f"{words}: dataset mIoU {d:.3f} with the defense against {a:.3f} without it"
                + (" (the undefended model under Dense PGD)" if base else " (the same examples, undefended)"))
        ka, kd = f"{scene_key(ctrl)}__miou", f"{scene_key(key + ': defended')}__miou"
        if per is None or ka not in per.values or kd not in per.values:
            parts.append(Verdict(NOT_MEASURED, line + "; no per-scene mIoU for a paired test"))
            continue
        va, vd = per.values[ka].astype(float), per.values[kd].astype(float)
        diff = vd - va
        p = float(sps.wilcoxon(vd, va, zero_method="wilcox").pvalue) if np.any(diff != 0) else 1.0
        line += (f"; per scene, defended higher on {int((diff > 0).sum())}, lower on {int((diff < 0).sum())} of "
                 f"{len(diff)}, Wilcoxon p = {fmt_p(p)}")
        parts.append(Verdict(HOLDS if p < 0.05 and diff.mean() > 0 else CONTRADICTED if p < 0.05 else INCONCLUSIVE,
                             line))
    if not parts:
        return None
    v = combine(parts)
    return Verdict(v.word, f"{head}; " + "; ".join(f"[{p.word}] {p.reason}" for p in parts))


def system_rows() -> list[ClaimRow]:
    """The rows of the few-shot segmenter and of Smooth-Reduce on frame sequences (core.evaluation.claims.systems)."""
    card = _read_json(FEWSHOT / "rpnode-s0.json") or {}
    block = card.get("claim") or {}
    verdict, reason, evidence = rpnode_verdict()
    fs = Preset(id="claim_rpnode", page="seg", title="Few-shot segmentation", blurb="From the Claims page.",
                values={"seg_task": "fewshot"})
    rows = [ClaimRow(key="system:rpnode", title="R-PNODE few-shot segmentation",
                     paper="Pandey, Chasmai, Sur, Lall, IEEE TMI 2023 (arXiv 2208.12428)",
                     claim=block.get("claim", "R-PNODE is much more robust to adversarial attacks than CNN-based "
                                              "prototype few-shot segmenters."),
                     reproduction="60 garment-scene episodes (3 novel classes never seen in training), 64×64, "
                                  "ε = 0.035; the paper's attacks and an adaptive worst case per episode "
                                  "(tools/eval_fewshot.py)",
                     measured=_fewshot_measured(),
                     measured_value=None, measured_ci95=None, n=None, baseline="prototype CNN (PANet style)",
                     single_attack="the paper's PGD on the query (see the cards)", audit="compact audit on the cards",
                     verdict=verdict, reason=reason + ".", page="seg", preset=fs, source="assets/fewshot/rpnode-s0.json",
                     seeds="three training seeds of each model", metric="worst-case Dice of the query mask, per episode",
                     control="the prototype CNN of the same seed (R-PNODE = its encoder + the ODE block + the "
                             "regularizer)", evidence=evidence)]
    verdict, reason = sequence_certificate_verdict()
    seq = Preset(id="claim_sequences", page="cert", title="Certificates on frame sequences",
                 blurb="From the Claims page.", values={"cert_mode": "Frame sequence"})
    rows.append(ClaimRow(key="system:smooth-reduce-video", title="Smooth-Reduce certificates on video",
                         paper="Joshi, Pham, Cho, Boytsov, Condessa, Kolter, Hegde, 2022 (arXiv 2205.06154)",
                         claim="Splitting a clip into overlapping sub-clips, adding independent Gaussian noise to each "
                               "and reducing their scores by max or mean certifies an L2 radius as Cohen et al. do.",
                         reproduction="16-frame Fashion-MNIST sequences, 5 sub-sequences of 8 frames (stride 2), "
                                      "σ = 0.25; the certificate audit attacks the smoothed classifier inside each "
                                      "certified radius (EOT, soft and vote PGD) and confirms flips with a fresh sample",
                         measured="—", measured_value=None, measured_ci95=None, n=None,
                         baseline="one noise draw split afterwards; plain smoothing of the whole sequence",
                         single_attack="—", audit="the certificate audit", verdict=verdict, reason=reason + ".",
                         page="cert", preset=seq, source="assets/sequences/certificate_audit.json",
                         metric="certified predictions that flip inside their radius (confirmed)",
                         control="the one-draw variant, for which Cohen's guarantee plainly holds",
                         evidence=["assets/sequences/certificate_audit.json (tools/audit_certificates.py)"]))
    return rows


def verdict_counts(rows: list[ClaimRow]) -> dict[str, int]:
    return {v: sum(r.verdict == v for r in rows) for v in VERDICTS if any(r.verdict == v for r in rows)}


__all__ = ["COMPARISONS", "ClaimRow", "Comparison", "DEFENSE_CLAIMS", "DefenseClaim", "HOLDS", "MASKING",
           "MASKING_SIGNS", "NOT_MEASURED", "NOT_REPRODUCED", "CONTRADICTED", "INCONCLUSIVE", "PAPER_CLAIMS", "VERDICTS", "VERDICT_ICON", "WEAK_ONLY",
           "audit_robust", "claim_rows", "defense_row", "single_attack_interval", "verdict_counts",
           "worst_case_interval", "zoo_row"]
