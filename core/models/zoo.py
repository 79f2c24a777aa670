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
