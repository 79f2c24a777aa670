"""One-click presets for every page, as data (no Streamlit here).

A :class:`Preset` is a set of widget values (session-state key -> value) for one page, with a
title, a one-line blurb and a "what to notice" line. The page's preset bar (``ui/presets.py``)
writes the values into ``st.session_state`` before the page's widgets are created (the way
Streamlit lets a program set widget values) and, when ``autorun`` is set, presses the page's
Run button for the user. The guided tour (``core/teaching/tour.py``) refers to presets by id.

Every preset starts from the page's ``BASE`` values (the widgets' own defaults, written out) and
overrides a few, so a preset gives the same view whatever the user touched before.

Presets marked ``surprising`` (listed on the home page) make a claim that
``tests/test_teach_claims*.py`` check by running the underlying core computation with exactly
these settings (the "what to notice" lines of the others are checked on the rendered pages by
``tests/test_teach_presets_*.py`` where they state a result):

* ``lab/jpeg_holds`` and ``lab/jpeg_falls``: on the coffee photo, EfficientNet-Lite0, PGD L∞
  ε = 4/255 (10 steps of 1/255, random start, seed 0) — JPEG at quality 25 keeps "espresso" (p ≈ 0.57 vs 0.27; at quality 50 the margin was a few hundredths and flipped with the thread count)
  against the attacker who ignores it, and loses it to the BPDA attacker.
* ``lab/bits_falls``: the same with 3-bit colour depth; ``def/transforms_nonadaptive`` and
  ``def/transforms_bpda``: both defenses side by side at ε = 2/255 (at 4/255 the 3-bit verdict against the
  non-adaptive attacker depended on the CPU's code path).
* ``cert/coffee_certified`` and ``def/smoothing_holds``: σ = 0.25, n = 128, α = 0.001 certifies
  "espresso" with radius R ≈ 0.405 (the ceiling for n = 128), and PGD with L2 ε = 0.25 < R fools the
  bare model (→ consomme) but not the smoothed one, even when it attacks the vote through EOT.
* ``cert/too_much_noise``: σ = 1.0 on the cat photo: the vote is split and smoothing abstains.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from collections.abc import Mapping

from core.attacks.specs import attack_base
from core.teaching.pages import PAGE_PATHS, PAGE_TITLES  # noqa: F401  (re-exported: the pages the presets name)

# The page list (keys, files, titles) is core/teaching/pages.py; keys double as widget-key prefixes.

LITE0 = "EfficientNet-Lite0"
BUNDLED = "Bundled photo"

# The clean top-1 class of EfficientNet-Lite0 on the bundled photos used by presets (the
# "correct class" widgets default to it; presets set it explicitly because a select box keeps its
# old value when the photo changes). Checked by tests/teaching/test_teach_core.py.
CLEAN_TOP1: dict[tuple[str, str], int] = {
    ("coffee", LITE0): 967,  # espresso
    ("chelsea", LITE0): 282,  # tiger cat
}


def _attack_base(p: str) -> dict[str, Any]:
    """The widget defaults of ``ui.common.attack_picker(p)`` for PGD, from the attack's description."""
    return attack_base(p, "PGD")


def _image(p: str, sample: str) -> dict[str, Any]:
    return {f"{p}_src": BUNDLED, f"{p}_sample": sample}


BASE: dict[str, dict[str, Any]] = {
    "lab": {**_image("lab", "chelsea"), "lab_model": LITE0, **_attack_base("lab"), "lab_defense": "None",
            "lab_adaptive": False, "lab_label": CLEAN_TOP1[("chelsea", LITE0)]},
    "def": {**_image("def", "chelsea"), "def_model": LITE0, **_attack_base("def"), "def_mode": "Non-adaptive",
            "def_clean": False, "def_names": ["JPEG", "Bit-depth reduction"], "def_jpeg_quality": 75,
            "def_bit_depth_reduction_bits": 5, "def_label": CLEAN_TOP1[("chelsea", LITE0)]},
    "cert": {**_image("cert", "chelsea"), "cert_model": LITE0, "cert_sigma": 0.25, "cert_alpha": 0.001,
             "cert_n0": 16, "cert_n": 128, "cert_sr": True, "cert_sr_n0": 8, "cert_sr_n": 64, "cert_red": "mean",
             "cert_stride": 32, "cert_seed": 0},
    "sal": {**_image("sal", "chelsea"), "sal_model": LITE0, **_attack_base("sal"),
            "sal_methods": ["saliency", "gradcam"], "sal_target": "own", "sal_defense": "JPEG re-encoding",
            "sal_frac": 10, "sal_opacity": 0.9},
    "ch": {**_image("ch", "chelsea"), "ch_model": LITE0, **_attack_base("ch"), "ch_stage": "head",
           "ch_rel": "clean", "ch_k": 6, "ch_by": "impact", "ch_cifs": True, "ch_temp": 1.0, "ch_adaptive": True},
    "fm": {**_image("fm", "chelsea"), "fm_model": LITE0, "fm_up": [1.0, 2.0], "fm_stride": [], "fm_sigma": 4,
           "fm_pgd_eps": 1.0, "fm_pgd_steps": 5, "fm_bisect": True, "fm_hi": 2},
    "seg": {**_image("seg", "astronaut"), "seg_model": "MediaPipe Selfie Segmentation", "seg_goal": "untargeted",
            "seg_eps": 4, "seg_steps": 10, "seg_step": 1.0, "seg_rs": True, "seg_seed": 0, "seg_on": True,
            "seg_psteps": 5, "seg_epsv": 6, "seg_adaptive": "none"},
    "cur": {**_image("cur", "chelsea"), "cur_model": LITE0, "cur_norm": "linf", "cur_attacks": ["FGSM", "PGD"],
            "cur_eps_linf": "0, 0.25, 0.5, 1, 2, 4", "cur_steps": 10, "cur_ratio": 0.25, "cur_rs": True,
            "cur_goal": "untargeted", "cur_seed": 0, "cur_def_names": [], "cur_adaptive": False,
            "cur_bisect": True, "cur_cert": False, "cur_label": CLEAN_TOP1[("chelsea", LITE0)]},
    "bat": {"bat_src": "Bundled photos", "bat_max": 50, "bat_model": LITE0, "bat_attack": "FGSM", "bat_norm": "linf",
            "bat_eps_linf": "1, 2, 4, 8", "bat_steps": 10, "bat_ratio": 0.25, "bat_rs": True, "bat_seed": 0,
            "bat_def_names": [], "bat_adaptive": False},
    "zoo": {"zoo_models": ["fmnist-standard", "fmnist-pgd-at"], "zoo_cls": 0, "zoo_k": 0,
            "zoo_attack": "PGD", "zoo_eps": 0.1, "zoo_steps": 20, "zoo_seed": 0, "zoo_sal": "saliency"},
    # the Claims page's verdict filter (core.evaluation.claims.rows.VERDICTS; literal here: core.evaluation.claims.rows imports this module)
    "claims": {"claims_verdicts": ["holds here", "contradicted here", "inconclusive", "holds only against weak attacks",
                                   "gradient masking found", "not measured yet"]},
    "audit": {"audit_model": "fmnist-cifs", "audit_through": False, "audit_labelled": False, "audit_defense": "none",
              "audit_adaptive": True,
              "audit_surrogate": "fmnist-pgd-at", "audit_n": 100, "audit_eps": 0.1, "audit_steps": 20,
              "audit_queries": 1000, "audit_seed": 0},
}


@dataclass(frozen=True)
class Preset:
    """One-click settings for one page. ``values`` override the page's ``BASE``."""

    id: str  # unique within the page
    page: str  # a key of PAGE_PATHS
    title: str  # button label
    blurb: str  # what it shows (tooltip)
    values: Mapping[str, Any] = field(default_factory=dict)
    notice: str = ""  # "what to notice" once it has run
    autorun: bool = True  # press the page's Run button after loading
    surprising: bool = False  # a claim checked by tests/teaching/test_teach_claims.py

    @property
    def ref(self) -> str:
        return f"{self.page}/{self.id}"

    def widget_values(self) -> dict[str, Any]:
        """The full set of widget values to write: the page's BASE, then this preset's values."""
        return {**BASE.get(self.page, {}), **self.values}


COFFEE = {"coffee": CLEAN_TOP1[("coffee", LITE0)]}


def _p(page: str, id: str, title: str, blurb: str, values: Mapping[str, Any], notice: str = "", **kw) -> Preset:
    return Preset(id=id, page=page, title=title, blurb=blurb, values=dict(values), notice=notice, **kw)


_LAB_COFFEE = {**_image("lab", "coffee"), "lab_label": CLEAN_TOP1[("coffee", LITE0)]}
_LAB_JPEG = {**_LAB_COFFEE, "lab_defense": "JPEG", "lab_def_quality": 25}
_LAB_BITS = {**_LAB_COFFEE, "lab_defense": "Bit-depth reduction", "lab_def_bits": 3}
_DEF_COFFEE = {**_image("def", "coffee"), "def_label": CLEAN_TOP1[("coffee", LITE0)]}
# ε = 2/255: at 4/255 the 3-bit defense's verdict against the non-adaptive attacker sat on an edge (p 0.61 right
# on AVX-512 kernels, 0.42 wrong on the baseline kernels with 2 threads; scripts/cross_code_paths.sh); at 2/255
# both defenses hold non-adaptively (p ≥ 0.56 and ≥ 0.78 on every code path tried) and both fall to BPDA.
_DEF_TRANSFORMS = {**_DEF_COFFEE, "def_names": ["JPEG", "Bit-depth reduction"], "def_jpeg_quality": 25,
                   "def_bit_depth_reduction_bits": 3, "def_eps_linf": 2}

PRESETS: dict[str, list[Preset]] = {
    "lab": [
        _p("lab", "fgsm_tiny", "One step, one level", "FGSM with ε = 1/255 on the coffee cup: the smallest step an "
           "8-bit image allows.", {**_LAB_COFFEE, "lab_attack": "FGSM", "lab_eps_linf": 1},
           "Every pixel moved by at most 1/255 (PSNR ≈ 48 dB, invisible), yet the model no longer says espresso."),
        _p("lab", "pgd_cat", "PGD on the cat", "PGD with the default budget ε = 4/255, 10 steps, on the cat photo.",
           {}, "Scroll to the replay: follow the correct class's probability over the ten steps while the "
           "perturbation stays inside the ε-ball."),
        _p("lab", "targeted_goldfish", "Espresso → goldfish", "A targeted PGD attack that must make the model say "
           "'goldfish'.", {**_LAB_COFFEE, "lab_goal": "targeted", "lab_target": 1},
           "The attack reaches the class it chose, not just any wrong one, with the same tiny budget."),
        _p("lab", "jpeg_holds", "⚡ JPEG seems to hold", "JPEG (quality 25) against an attacker who ignores it.",
           _LAB_JPEG, "The bare model is fooled, but after JPEG the answer is espresso again — against an attacker "
           "who did not know about JPEG.", surprising=True),
        _p("lab", "jpeg_falls", "⚡ …and falls to BPDA", "The same JPEG defense against the adaptive BPDA attacker.",
           {**_LAB_JPEG, "lab_adaptive": True}, "Same ε, same steps: once the attacker differentiates through JPEG "
           "as if it were the identity (BPDA), the defense gets nothing right.", surprising=True),
        _p("lab", "bits_falls", "⚡ 3-bit colour vs BPDA", "Bit-depth reduction to 3 bits against the adaptive "
           "BPDA attacker.", {**_LAB_BITS, "lab_adaptive": True},
           "Rounding to 8 levels per channel has a zero gradient, yet BPDA walks straight through it.",
           surprising=True),
    ],
    "def": [
        _p("def", "transforms_nonadaptive", "⚡ Two defenses that look fine", "JPEG (q 25) and 3-bit colour against "
           "PGD (ε = 2/255) made on the bare model (non-adaptive).", {**_DEF_TRANSFORMS, "def_mode": "Non-adaptive"},
           "Both defenses classify the attacked cup correctly — but read the warning: the attacker ignored them.",
           surprising=True),
        _p("def", "transforms_bpda", "⚡ The same two, adaptive", "The same defenses against PGD through each "
           "defense with BPDA.", {**_DEF_TRANSFORMS, "def_mode": "Adaptive"},
           "With the same budget both fall once the attacker knows them: their robustness was gradient masking.",
           surprising=True),
        _p("def", "smoothing_holds", "⚡ A certificate that holds", "Randomized smoothing (σ = 0.25, n = 128) against "
           "PGD with L2 ε = 0.25 that attacks the vote through EOT.",
           {**_DEF_COFFEE, "def_norm": "l2", "def_eps_l2": 0.25, "def_step_l2": 0.0625, "def_mode": "Adaptive",
            "def_names": ["Randomized smoothing"], "def_randomized_smoothing_sigma": 0.25,
            "def_randomized_smoothing_n0": 16, "def_randomized_smoothing_n": 128,
            "def_randomized_smoothing_alpha": 0.001, "def_randomized_smoothing_eot_samples": 8},
           "PGD fools the bare model, but the smoothed vote stays 'espresso': ε = 0.25 is inside the certified "
           "radius (≈ 0.405), so no attack of that size can succeed — with probability ≥ 99.9 %.",
           surprising=True),
    ],
    "cert": [
        _p("cert", "coffee_certified", "⚡ Certify the coffee cup", "σ = 0.25, 128 noisy copies: a unanimous vote.",
           {**_image("cert", "coffee"), "cert_sr": False},
           "All 128 noisy copies say espresso, so R reaches the ceiling R_max ≈ 0.405: no L2 change smaller than "
           "that can change the smoothed answer.", surprising=True),
        _p("cert", "too_much_noise", "⚡ Too much noise: abstain", "σ = 1.0 on the cat: the copies are too noisy "
           "for a model never trained on noise.", {"cert_sigma": 1.0, "cert_n": 64, "cert_sr": False},
           "Under this much noise the copies no longer look like a cat to the model, and no class wins clearly "
           "enough: the smoothed classifier abstains instead of guessing.",
           surprising=True),
        _p("cert", "smooth_reduce", "Smoothing vs Smooth-Reduce", "Both certificates on the coffee cup, with the "
           "same small number of noisy copies (n = 32).",
           {**_image("cert", "coffee"), "cert_n0": 8, "cert_n": 32, "cert_sr_n0": 4, "cert_sr_n": 32},
           "The same n gives both the same ceiling R_max: compare their vote counts, p̲A and radii — and their "
           "cost (Smooth-Reduce classifies four patches per copy)."),
    ],
    "sal": [
        _p("sal", "coffee_gradcam", "Where it looks, before and after", "Gradient and Grad-CAM maps of the coffee "
           "cup, its PGD version and the JPEG-defended view.", _image("sal", "coffee"),
           "Spearman ρ and top-k IoU in the tables: how far the attack moved the evidence."),
    ],
    "ch": [
        _p("ch", "coffee_channels", "PR and NR channels", "Channel relevance of the last map for the coffee cup, plain "
           "and with CIFS-lite.", _image("ch", "coffee"),
           "Compare Σ PR and Σ NR: by the CIFS observation the attack weakens the evidence for the class and "
           "strengthens the evidence against it (Σ NR more negative). Which of the two does most of the work here?"),
    ],
    "fm": [
        _p("fm", "upsample_quick", "×1 against ×2", "Input upsampled ×2 inside the model against the plain model, "
           "without the slow bisection.", {**_image("fm", "coffee"), "fm_bisect": False},
           "The last map grows from 7×7 to 14×14; compare the noise sensitivity and whether the short PGD flips."),
    ],
    "seg": [
        _p("seg", "erase_person", "Make the astronaut vanish", "Erase the person from the mask with ε = 4/255, "
           "defense on (reversal budget ε_v = 8/255), attacker ignores it.", {"seg_goal": "erase", "seg_epsv": 8},
           "The attacked mask loses the person (IoU near 0); purification restores most of it (IoU above one half) — against an "
           "attacker who ignores the defense. Switch the attacker to equivariance-aware before trusting it."),
        _p("seg", "break_no_defense", "Break the mask", "The untargeted attack on the mask, without a defense.",
           {"seg_on": False}, "The flipped-pixel map shows which pixels the attack turned from person to "
           "background and back."),
    ],
    "cur": [
        _p("cur", "fgsm_vs_pgd", "FGSM vs PGD against ε", "Confidence in 'espresso' as ε grows, one step against "
           "ten, without bisection.", {**_image("cur", "coffee"), "cur_label": CLEAN_TOP1[("coffee", LITE0)],
                                       "cur_bisect": False},
           "Where does each curve cross from ✓ to ✗? That ε is the smallest budget that fools the model on this "
           "photo."),
    ],
    "bat": [
        _p("bat", "bundled_fgsm", "All bundled photos, FGSM", "FGSM at ε = 1, 2, 4/255 on the seven bundled photos.",
           {"bat_eps_linf": "1, 2, 4"}, "The success rate against ε over several photos, not just one."),
    ],
    "zoo": [
        _p("zoo", "standard_vs_at", "Standard vs adversarial training", "PGD at ε = 0.1 on a standard and a "
           "PGD-trained Fashion-MNIST model.", {},
           "On this T-shirt the attack flips the standard model but not the adversarially trained one; the curves "
           "below show it is not a lucky image."),
    ],
    "audit": [
        _p("audit", "cifs_mask_blind", "Is CIFS really robust?", "The gradient-masking audit of the CIFS zoo model "
           "as shipped: its attacker treats the channel mask as a constant.", {}, 
           "Transfer from the PGD-AT model and the gradient-free Square Attack beat the white-box attack at 2ε: "
           "the card's PGD number was the attack failing, not the model holding.", autorun=False),
        _p("audit", "pgd_at_passes", "A real defense: PGD-AT", "The same audit on the PGD adversarially trained model.",
           {"audit_model": "fmnist-pgd-at", "audit_surrogate": "fmnist-trades"},
           "No check warns: the white-box attack is the strongest one, so its number can be trusted.", autorun=False),
    ],
    "claims": [
        _p("claims", "attack_failed", "Where the attack failed", "Only the claims whose robustness came from a weak, "
           "non-adaptive or gradient-masked attack.",
           {"claims_verdicts": ["gradient masking found", "holds only against weak attacks"]},
           "A single attack's number, or an attacker who ignores the defense, made these look robust; the worst case "
           "or the adaptive attacker says otherwise.", autorun=False),
        _p("claims", "holds", "What holds here", "Only the claims the project's numbers support.",
           {"claims_verdicts": ["holds here"]},
           "Each of these beats its matched control on the same images (a significant paired test), on the claim's "
           "own metric.", autorun=False),
        _p("claims", "contradicted", "What the numbers contradict", "Only the claims the paired results go against.",
           {"claims_verdicts": ["contradicted here"]},
           "Here the control is significantly better than the claimed model on the same images: a failed claim is a "
           "finding too.", autorun=False),
    ],
}


def get_preset(ref: str) -> Preset:
    """The preset ``"page/id"``."""
    page, _, pid = ref.partition("/")
    for p in PRESETS.get(page, []):
        if p.id == pid:
            return p
    raise KeyError(f"unknown preset {ref!r}")


def all_presets() -> list[Preset]:
    return [p for ps in PRESETS.values() for p in ps]
