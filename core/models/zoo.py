"""The model zoo's catalogue: which models exist, what each one is, where its weights and card live.

Every entry names an architecture family (:mod:`core.models.zoo_families`: the CNN of
:mod:`core.models.zoo_net` unless it says otherwise), its variant (``arch``) and its training
recipe; all share the training budget of :class:`core.train.common.TrainConfig` unless the
card says otherwise. The recipe itself (the training loss) lives in :mod:`core.train` and is found by the
entry's ``recipe`` key (:func:`core.train.recipes.recipe_class`): loading and describing a zoo
model never imports the training code. Weights are ``assets/zoo/<name>.pt`` (a state dict),
model cards ``assets/zoo/<name>.json``; both are made by ``tools/train_zoo.py`` and re-checked
by ``tools/evaluate_zoo.py``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from torch import nn

from core.models.zoo_families import Family, get_family

ZOO_DIR = Path(__file__).resolve().parents[2] / "assets" / "zoo"


@dataclass(frozen=True)
class ZooEntry:
    """One zoo model: registry name, the method that trained it, its architecture variant, an
    explanation for the page."""

    name: str
    recipe: str  # key of the training recipe (core.train.recipes.RECIPES)
    title: str  # the method, as the page and the card name it
    paper: str  # where the method comes from
    about: str
    arch_overrides: tuple[tuple[str, Any], ...] = ()  # build_model arguments that differ from the default
    teacher: str | None = None  # zoo model whose outputs the recipe needs (J-SIGR's saliency)
    short: str = ""  # a label for narrow places (figure titles)
    family: str = "cnn"  # architecture family (core.models.zoo_families.FAMILIES)
    claim: str = ""  # what the paper claims, in a sentence, with its published number and setting
    here: str = ""  # what we see here, in plain words (the card and docs/models/zoo.md show both)
    weights_from: str | None = None  # the entry whose weights file this one loads (a test-time variant, not trained)

    @property
    def arch_family(self) -> Family:
        return get_family(self.family)

    @property
    def randomized(self) -> bool:
        """The model's prediction is random (a new draw per forward pass)."""
        return self.arch_family.randomized

    @property
    def arch(self) -> dict:
        """The family's ``build`` arguments of this model's variant."""
        return dict(self.arch_overrides)

    @property
    def weights_path(self) -> Path:
        return ZOO_DIR / f"{self.weights_from or self.name}.pt"

    @property
    def card_path(self) -> Path:
        return ZOO_DIR / f"{self.name}.json"


# issue 21: the neural-ODE entries share the paper's claim
CLAIM_ODE = ("Yan et al. (ICLR 2020) report that neural ODEs trained without adversarial training, only with "
             "Gaussian-noise augmentation, resist a two-step sign attack on MNIST at ε = 0.3 better than a CNN: "
             "TisODE ≈ 75–79 %, ODENet 70–72 %, CNN 52–55 % (their public code; its PGD and black-box evaluations "
             "are switched off). Huang et al. (2020) found that the robustness of stabilized ODE networks largely "
             "comes from adaptive-step solvers masking gradients.")

VIT_CLAIM = ("TrustAI's ODE4RobustViT: a ViT is Lipschitz, and multi-head self-attention helps under weak attacks "
             "(FGSM) but hurts under strong ones (PGD); its released CIFAR-10 logs (ViTs of depth 4, width 128, "
             "patch 16, 1 vs 4 heads) differ by about ±3 points, with one training seed per setting.")
VIT_HERE = ("Three seeds each (0 shipped, 1, 2; 1,000 subset images). Clean: 1 head 75.1 / 63.5 / 74.3 %, 4 heads "
            "79.8 / 79.8 / 77.8 % — the one difference larger than the spread between seeds (4 heads are more "
            "accurate). FGSM at ε = 0.1: 1 head 2.2 / 6.0 / 1.0 %, 4 heads 1.6 / 0.4 / 0.2 %: the seed ranges "
            "overlap (5.0 and 1.4 points), so 'multi-head attention helps under FGSM' is not supported here. PGD-20 "
            "and the worst case: 0.0–0.1 % for every seed of both — no difference to find under strong attacks "
            "either. Trained with the zoo's standard SGD recipe unchanged (it trains a ViT, to 75–80 % in 3 "
            "epochs); the audit raises no flag.")

ZOO: list[ZooEntry] = [
    ZooEntry("fmnist-standard", short="Standard", recipe="standard", title="Standard training", paper="—",
             about="Plain cross-entropy on clean images. Accurate on clean images and the reference point: "
             "a perturbation of ε = 0.1 usually flips its prediction."),
    ZooEntry("fmnist-pgd-at", short="PGD-AT", recipe="pgd_at", title="PGD adversarial training",
             paper="Madry et al., ICLR 2018",
             about="Madry et al.'s adversarial training: every batch is replaced by its PGD-5 adversarial "
             "examples, so the model learns on the worst case it can find in the ε-ball. It gives up some clean "
             "accuracy for robustness; the other adversarial recipes are variations on this trade."),
    ZooEntry("fmnist-trades", short="TRADES", recipe="trades", title="TRADES (β = 6)", paper="Zhang et al., ICML 2019",
             about="TRADES keeps the clean cross-entropy and adds β = 6 times the KL divergence between the "
             "predictions on the clean image and on a nearby adversarial one: a tunable trade-off between "
             "accuracy and smoothness around each image."),
    ZooEntry("fmnist-nfgsm", short="N-FGSM", recipe="nfgsm", title="N-FGSM training",
             paper="de Jorge et al., NeurIPS 2022",
             about="N-FGSM: one gradient step from a strongly noised image (noise up to 2ε, step ε, no projection). "
             "Costs two passes per batch instead of six, and the noise prevents the single-step training "
             "from collapsing (catastrophic overfitting)."),
    ZooEntry("fmnist-fgsm-tricks", short="FGSM tricks", recipe="fgsm_tricks",
             title="FGSM-AT + bag of tricks (masking, SiLU)", paper="Li et al., arXiv 2209.02684 (2022)",
             arch_overrides=(("activation", "silu"),),
             about="Single-step FGSM training with two tricks from the 'bag of tricks' paper: 40 % of the pixels "
             "are masked when the attack gradient is taken, and SiLU replaces ReLU. The trick settings are "
             "our reading of the paper's abstract (unverified); in this short run it is the least robust of "
             "the adversarially trained models (see its card)."),
    ZooEntry("fmnist-jsigr", short="J-SIGR", recipe="jsigr", title="J-SIGR (reconstruction)",
             paper="Liu et al., arXiv 2207.13036 (2022) — our reconstruction",
             about="J-SIGR (our reconstruction of it): cross-entropy plus a penalty on the network's Jacobian and "
             "on input gradients outside the region that a blur-perturbation map calls salient. It aims at "
             "saliency maps that stay on the object and at robustness to transferred attacks, not at "
             "white-box PGD; here the Jacobian penalty still buys some white-box robustness (see its card).", teacher="fmnist-standard"),
    ZooEntry("fmnist-cifs", short="CIFS", recipe="cifs", title="CIFS + PGD-AT", paper="Yan et al., ICML 2021",
             arch_overrides=(("cifs", True),),
             about="CIFS: small probes after the last two blocks score each channel's relevance to the top two "
             "classes, and a softmax mask re-weights the channels, damping those that do not support the "
             "prediction; trained with PGD-5 adversarial training. As in the paper's code, the model's own "
             "gradient treats the mask as constant, and single white-box attacks that use it overstate its "
             "robustness: the gradient-masking audit flags it (transfer from PGD-AT and the gradient-free Square "
             "Attack beat white-box PGD at ε = 0.2), even when the attack differentiates through the mask. Its "
             "card quotes the worst-case ensemble, well below the PGD-20 figure."),
    ZooEntry("fmnist-feature-size", short="Feature size", recipe="feature_size",
             title="Larger feature map (stride) + PGD-AT", paper="Xu et al., arXiv 2202.12435",
             arch_overrides=(("strides", (2, 1, 1, 1)),),
             about="Same network with block 3's stride set to 1, so the last feature map is 14×14 instead of 7×7 "
             "before the average pooling; trained with PGD-5. The paper argues that averaging over more "
             "positions damps perturbations."),
    # --- issue 21: neural ODEs ---
    ZooEntry("fmnist-odenet", short="ODENet", recipe="odenet", family="ode", arch_overrides=(("variant", "odenet"),),
             title="ODENet (Euler, Gaussian-noise training)", paper="Yan et al., ICLR 2020",
             about="A neural ODE: a two-conv stem, then the state evolves by dz/dt = f(t, z) (two 3×3 convs with "
             "GroupNorm, t as an extra input channel) from t = 0 to 1 in 10 Euler steps of 0.1, then average pooling "
             "and a linear head (16 channels: the paper's MNIST model at a quarter of its width). Trained as the paper trains it: "
             "cross-entropy on images that get Gaussian noise (σ = 50–100/255) half of the time, no adversarial "
             "training. Evaluated on the 1,000-image subset only (the full test set is too slow for ODE nets here).",
             claim=CLAIM_ODE),
    ZooEntry("fmnist-odenet-dopri5", short="ODENet dopri5", recipe="odenet", family="ode",
             arch_overrides=(("variant", "odenet"), ("solver", "dopri5")), weights_from="fmnist-odenet",
             title="ODENet solved by dopri5 at test time", paper="Yan et al., ICLR 2020; Huang et al. 2020",
             about="The same trained ODENet weights (assets/zoo/fmnist-odenet.pt, not retrained), but the ODE block is "
             "solved by the adaptive Dormand–Prince solver (torchdiffeq dopri5, rtol = atol = 1e-3, the paper code's "
             "tolerances) instead of fixed Euler steps: the attacker differentiates through an adaptive solver, the "
             "setting in which Huang et al. saw gradients masked. Evaluated on the 1,000-image subset only.",
             claim=CLAIM_ODE),
    ZooEntry("fmnist-tisode", short="TisODE", recipe="tisode", family="ode", arch_overrides=(("variant", "tisode"),),
             title="TisODE (time-invariant, steady-state penalty)", paper="Yan et al., ICLR 2020",
             about="The time-invariant steady neural ODE: f(z) without the time input, and a training penalty on how "
             "far the state still moves between t = 0.9 and 1.5 (weight 0.01), so that nearby inputs end near the same "
             "steady state. Same stem, head, Euler steps and Gaussian-noise training as ODENet, no adversarial "
             "training. Evaluated on the 1,000-image subset only.",
             claim=CLAIM_ODE),
    ZooEntry("fmnist-ltnode", short="LT-NODE", recipe="ltnode", family="lt-node",
             title="LT-NODE (random end time)", paper="Anumasa & Srijith, AAAI 2022",
             about="ODENet with a random end time: every forward pass draws T per image from a Gamma distribution whose "
             "two parameters are learned (variational posterior, KL to a Gamma(4, 4) prior), solves the ODE to T in 10 "
             "Euler steps of T/10 and averages the class probabilities over 2 draws. A randomized model: the same "
             "image can get different outputs, so it is attacked with EOT gradients and majority-vote verdicts (the "
             "'rand' worst case). Gaussian-noise training like the other ODE models, no adversarial training.",
             claim="Anumasa & Srijith (AAAI 2022) report that treating the end time of a neural ODE as a latent "
             "Gamma-distributed variable improves uncertainty estimates and robustness to noisy and adversarially "
             "perturbed inputs compared with a fixed-T neural ODE; a randomized prediction is exactly where gradients "
             "must be averaged (EOT) before a robustness claim can stand."),
    # --- issue 21: ZeroSNet, ResNet, ViT ---
    ZooEntry("fmnist-resnet", short="ResNet", recipe="standard", family="resnet",
             title="ResNet (pre-activation blocks, Euler steps)", paper="He et al., ECCV 2016 (pre-activation)",
             about="A small residual network: a two-conv stem, six pre-activation blocks of 32 channels on the 7×7 "
             "map, each adding its output to its input (x_{n+1} = x_n + F(x_n), the forward-Euler step of an "
             "ODE), trained with plain cross-entropy. The baseline of ZeroSNet: the same blocks, parameters and "
             "cost, only the update rule differs."),
    ZooEntry("fmnist-zerosnet", short="ZeroSNet", recipe="standard", family="zerosnet",
             title="ZeroSNet (zero-stable three-step update)", paper="Chen, Jin & Shang, AAAI 2022",
             about="The ResNet's blocks combined by a zero-stable three-step rule, x_{n+1} = ⅓x_n + ⁵⁄₉x_{n−1} + "
             "⅑x_{n−2} + ¹⁶⁄₉F(x_n) (the paper's 'Opt' coefficients; the first two blocks are Euler steps, as "
             "in its code), trained with plain cross-entropy. Zero stability means small changes to the state "
             "do not grow through the recursion — an argument about random noise, not about an adversary.",
             claim="Chen, Jin & Shang report that ZeroSNets keep more accuracy than ResNets of the same depth when "
             "random noise is added to the CIFAR-10/100 test images (Gaussian, uniform or constant perturbations of "
             "size 0.1, their robustness_eval.py); they publish no adversarial evaluation.",
             here="Both kinds of robustness apart, on the same 1,000 images (one training seed each): under random "
             "Gaussian noise ZeroSNet keeps more accuracy than the ResNet with the same blocks (σ = 0.1: 82.0 vs "
             "77.4 %, σ = 0.2: 55.4 vs 47.2 %, σ = 0.3: 31.3 vs 24.6 %; clean 87.5 vs 87.2 %), in the direction "
             "the paper claims. Against an adversary neither holds anything: FGSM at ε = 0.1 leaves 2.6 vs 2.1 %, "
             "PGD-20 and the worst case 0 % for both. The audit raises no flag. Noise robustness is not "
             "adversarial robustness."),
    ZooEntry("fmnist-vit-1head", short="ViT 1 head", recipe="standard", family="vit", arch_overrides=(("heads", 1),),
             title="ViT, 1 attention head", paper="Dosovitskiy et al., ICLR 2021 (claim: TrustAI ODE4RobustViT)",
             about="A small vision transformer: 4×4 patches of the 28×28 image (49 tokens), width 64, four pre-norm "
             "blocks with one attention head, mean pooling, trained with plain cross-entropy. Three training "
             "seeds (the card reports each and the spread); seed 0 is the shipped model.",
             claim=VIT_CLAIM, here=VIT_HERE),
    ZooEntry("fmnist-vit-4head", short="ViT 4 heads", recipe="standard", family="vit", arch_overrides=(("heads", 4),),
             title="ViT, 4 attention heads", paper="Dosovitskiy et al., ICLR 2021 (claim: TrustAI ODE4RobustViT)",
             about="The same vision transformer with four attention heads of 16 dimensions instead of one of 64: "
             "exactly the same parameters (torch's attention projections do not depend on the head count) and "
             "budget. Three training seeds; seed 0 is the shipped model.",
             claim=VIT_CLAIM, here=VIT_HERE),
]
ZOO_BY_NAME = {e.name: e for e in ZOO}


def get_entry(name: str) -> ZooEntry:
    try:
        return ZOO_BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown zoo model {name!r}; known: {', '.join(ZOO_BY_NAME)}") from None


def build(name: str) -> nn.Module:
    """A freshly initialised network of zoo model ``name`` (its family and variant)."""
    entry = get_entry(name)
    return entry.arch_family.build(name=name, **entry.arch)


def load_zoo_model(name: str, path: Path | None = None) -> nn.Module:
    """Zoo model ``name`` with its shipped weights (``torch.load(weights_only=True)``,
    ``load_state_dict(strict=True)``), in eval mode on the CPU."""
    entry = get_entry(name)
    p = Path(path) if path is not None else entry.weights_path
    if not p.exists():
        raise FileNotFoundError(f"{p} is missing; train the zoo with tools/train_zoo.py")
    model = build(name)
    sd = torch.load(p, map_location="cpu", weights_only=True)
    model.load_state_dict(sd, strict=True)
    return model.eval()


def load_card(name: str) -> dict:
    """The model card (JSON) of zoo model ``name``."""
    with open(get_entry(name).card_path, encoding="utf-8") as f:
        return json.load(f)


def available() -> list[ZooEntry]:
    """Zoo entries whose weights and card are present."""
    return [e for e in ZOO if e.weights_path.exists() and e.card_path.exists()]
