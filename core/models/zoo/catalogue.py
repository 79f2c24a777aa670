"""The model zoo's catalogue: which models exist, what each one is, where its weights and card live.

Every entry names an architecture family (:mod:`core.models.zoo.families`: the CNN of
:mod:`core.models.zoo.net` unless it says otherwise), its variant (``arch``) and its training
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

from core.models.zoo.families import Family, get_family
from core.runtime.paths import ASSETS

ZOO_DIR = ASSETS / "zoo"


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
    family: str = "cnn"  # architecture family (core.models.zoo.families.FAMILIES)
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
            "epochs); the audit raises no flag. At ε = 0.02, where neither is at 0 % (shipped seed, the same 1,000 images, "
            "paired): FGSM leaves 4 heads 37.3 % against 1 head 41.6 % (McNemar p = 0.003), the opposite of 'heads "
            "help under weak attacks', while PGD-20 leaves 31.9 against 36.8 % (p = 0.001), as 'heads hurt under strong "
            "attacks' says. One seed at this ε, so the seed spread is not known there.")

SNODE_MODES = 6  # time modes kept in the shipped sNODE weights (core/models/zoo/snode.py: the file-size limit)
SNODE_CLAIM = ("Jaroudi et al. (arXiv 2205.13933) report that standalone neural ODEs trained by their nonlinear "
               "conjugate-gradient scheme with Sobolev gradients are more robust and more accurate than ResNet models "
               "(14×14 MNIST; robustness as the smallest successful L2 perturbation of their sensitivity-based "
               "DeepFool attack, per image, against a 'ResNet analog'); we found no table of numbers to quote.")
SNODE_HERE = ("Not reproduced at this scale (4,000 training images, one epoch, seed 0; 1,000 subset images). The "
              "sNODE trained by Sobolev NCG is as accurate as its ResNet analog (76.8 vs 77.0 %) and less robust by the "
              "paper's own metric — median smallest successful L2 of the sensitivity DeepFool 0.75 vs 0.93 (28×28 "
              "pixels; 0.35 vs 0.44 in the paper's 14×14 space), larger for the ResNet analog on 554 images against "
              "219, Wilcoxon p below double precision — and by the project's L2 worst case at ε = 1 (34.3 vs 44.9 %). "
              "The training method does matter: the same network trained by plain Adam is less accurate (74.8 %) and "
              "less robust still (median 0.59, worst case 26.2 %; NCG larger on 533 images against 218, p = 1e-29). "
              "Seeds 1 and 2 (clean and DeepFool only) agree: sNODE clean 76.8 / 78.6 / 76.7 % and median 0.75 / 0.68 / "
              "0.54, ResNet analog 77.0 / 80.0 / 78.4 % and 0.93 / 1.00 / 0.82 — the ranges of the medians do not "
              "overlap. The audit flags Square on the NCG sNODE (14 vs 12 of 16 images at L∞ ε = 0.1): its squared-error "
              "outputs make cross-entropy gradients weak; the worst case's targeted DLR stage adds 104 flips.")

ZOO: list[ZooEntry] = [
    ZooEntry("fmnist-standard", short="Standard", recipe="standard", title="Standard training", paper="—",
             about="Plain cross-entropy on clean images. Accurate on clean images and the reference point: "
             "a perturbation of ε = 0.1 usually flips its prediction.",
             here="The reference the other rows are measured against: 86.3 % clean, 3.9 % under FGSM and 0 % under PGD-20, "
             "APGD-CE and the worst case at ε = 0.1 (1,000 images); in the median an image flips by ε = 0.05 (500 "
             "images). The audit raises no flag."),
    ZooEntry("fmnist-pgd-at", short="PGD-AT", recipe="pgd_at", title="PGD adversarial training",
             paper="Madry et al., ICLR 2018",
             about="Madry et al.'s adversarial training: every batch is replaced by its PGD-5 adversarial "
             "examples, so the model learns on the worst case it can find in the ε-ball. It gives up some clean "
             "accuracy for robustness; the other adversarial recipes are variations on this trade.",
             here="Holds here. Worst case 64.4 % at ε = 0.1 against the standard model's 0 % on the same 1,000 images (644 "
             "images robust only for PGD-AT, none the other way; McNemar p = 3e-194), for 8.6 points of clean accuracy "
             "(77.7 vs 86.3 %). In the median an image needs ε = 0.15 to flip (standard 0.05). The audit raises no "
             "flag. The most robust model of the zoo at ε = 0.1, and the control of most claims below."),
    ZooEntry("fmnist-trades", short="TRADES", recipe="trades", title="TRADES (β = 6)", paper="Zhang et al., ICML 2019",
             about="TRADES keeps the clean cross-entropy and adds β = 6 times the KL divergence between the "
             "predictions on the clean image and on a nearby adversarial one: a tunable trade-off between "
             "accuracy and smoothness around each image.",
             here="Contradicted here. TRADES is 2.4 points less robust than PGD-AT in the worst case on the same 1,000 "
             "images (62.0 vs 64.4 %; 10 against 34 discordant images, McNemar p = 4e-4), beyond the spread of three "
             "training seeds (62.0–63.1 vs 64.4–65.6 %), and 2.8 points more accurate clean (80.5 vs 77.7 %). Each "
             "image's smallest flipping ε does not differ (Wilcoxon p = 0.5). At this scale (3 epochs, ε = 0.1) TRADES "
             "buys clean accuracy with robustness; the paper's gain was on CIFAR-10 with a WRN-34-10. The audit raises "
             "no flag."),
    ZooEntry("fmnist-nfgsm", short="N-FGSM", recipe="nfgsm", title="N-FGSM training",
             paper="de Jorge et al., NeurIPS 2022",
             about="N-FGSM: one gradient step from a strongly noised image (noise up to 2ε, step ε, no projection). "
             "Costs two passes per batch instead of six, and the noise prevents the single-step training "
             "from collapsing (catastrophic overfitting).",
             here="Inconclusive at ε = 0.1, better at larger ε. Worst case 61.5 % against PGD-AT's 64.4 % on the same 1,000 "
             "images: 2.9 points lower (95 % −3.6 to −1.7), an interval that straddles the 3-point margin of 'as good "
             "as'. Yet each image's smallest flipping ε is larger for N-FGSM on 240 images against 54 (median 0.2 vs "
             "0.15, Wilcoxon p = 9e-30): one noisy FGSM step per batch trained without catastrophic overfitting and "
             "holds up at larger budgets. The audit flags that Square beats white-box PGD-20 on its 50 images; the "
             "worst case, which runs Square, already counts them."),
    ZooEntry("fmnist-fgsm-tricks", short="FGSM tricks", recipe="fgsm_tricks",
             title="FGSM-AT + bag of tricks (masking, SiLU)", paper="Li et al., arXiv 2209.02684 (2022)",
             arch_overrides=(("activation", "silu"),),
             about="Single-step FGSM training with two tricks from the 'bag of tricks' paper: 40 % of the pixels "
             "are masked when the attack gradient is taken, and SiLU replaces ReLU. The trick settings are "
             "our reading of the paper's abstract (unverified); in this short run it is the least robust of "
             "the adversarially trained models (see its card).",
             here="Contradicted here. Worst case 29.9 % against PGD-AT's 64.4 % on the same 1,000 images (345 images robust "
             "only for PGD-AT, none the other way): less than half of PGD-AT's robustness, far from 'comes close'. In "
             "the median an image flips at ε = 0.075 (PGD-AT 0.15). The audit raises no flag, so the gap is real, not "
             "masking: in our reading of the tricks and at this budget the single-step recipe does not approach multi- "
             "step training."),
    ZooEntry("fmnist-jsigr", short="J-SIGR", recipe="jsigr", title="J-SIGR (reconstruction)",
             paper="Liu et al., arXiv 2207.13036 (2022) — our reconstruction",
             about="J-SIGR (our reconstruction of it): cross-entropy plus a penalty on the network's Jacobian and "
             "on input gradients outside the region that a blur-perturbation map calls salient. It aims at "
             "saliency maps that stay on the object and at robustness to transferred attacks, not at "
             "white-box PGD; here the Jacobian penalty still buys some white-box robustness (see its card).", teacher="fmnist-standard",
             here="Holds here, against standard training. Worst case 46.8 % against the standard model's 0 % on the same "
             "1,000 images (468 against 0 discordant), clean 79.6 % (standard 86.3 %); in the median an image flips at "
             "ε = 0.1 (standard 0.05). The audit raises no flag. Less robust than PGD-AT (64.4 %), which the paper "
             "does not claim otherwise."),
    ZooEntry("fmnist-cifs", short="CIFS", recipe="cifs", title="CIFS + PGD-AT", paper="Yan et al., ICML 2021",
             arch_overrides=(("cifs", True),),
             about="CIFS: small probes after the last two blocks score each channel's relevance to the top two "
             "classes, and a softmax mask re-weights the channels, damping those that do not support the "
             "prediction; trained with PGD-5 adversarial training. As in the paper's code, the model's own "
             "gradient treats the mask as constant, and single white-box attacks that use it overstate its "
             "robustness: the gradient-masking audit flags it (transfer from PGD-AT and the gradient-free Square "
             "Attack beat white-box PGD at ε = 0.2), even when the attack differentiates through the mask. Its "
             "card quotes the worst-case ensemble, well below the PGD-20 figure.",
             here="Gradient masking found. As shipped, the attacks' gradient treats CIFS's channel mask as a constant: "
             "APGD-CE leaves 61.7 %, while the worst case (targeted APGD, Square, and the attacks through the mask) "
             "leaves 49.4 % on the same 1,000 images. The audit flags transfer beating white-box, Square beating "
             "white-box and a targeted attack missing its targets. Measured through its mask, CIFS on top of PGD-AT is "
             "15 points less robust than PGD-AT alone (49.4 vs 64.4 %; 16 against 166 discordant images, McNemar p = "
             "1e-32), not more, and 6.5 points less accurate clean (71.2 vs 77.7 %). The binarization test passes (19 "
             "of 20 feasible cases)."),
    ZooEntry("fmnist-feature-size", short="Feature size", recipe="feature_size",
             title="Larger feature map (stride) + PGD-AT", paper="Xu et al., arXiv 2202.12435",
             arch_overrides=(("strides", (2, 1, 1, 1)),),
             about="Same network with block 3's stride set to 1, so the last feature map is 14×14 instead of 7×7 "
             "before the average pooling; trained with PGD-5. The paper argues that averaging over more "
             "positions damps perturbations.",
             here="Contradicted here. A 14×14 instead of 7×7 last feature map (block 3's stride set to 1) leaves PGD-AT 1.8 "
             "points less robust in the worst case on the same 1,000 images, not more (62.6 vs 64.4 %; 6 against 24 "
             "discordant images, McNemar p = 0.001), beyond the spread of three training seeds (62.5–62.8 vs 64.4–65.6 "
             "%); clean 77.0 vs 77.7 %. In the median an image flips at ε = 0.15 for both. The audit raises no flag. "
             "At this scale (28×28 images, a small CNN, 3 epochs) the larger map does not help."),
    # --- issue 22: training recipes ---
    ZooEntry("fmnist-iat", short="IAT", recipe="iat", title="Interpolated adversarial training (mixup + PGD-AT)",
             paper="Lamb et al., AISec 2019",
             about="Interpolated adversarial training: each batch is used twice, once clean and once as its PGD-5 "
             "adversarial examples, and input mixup (λ ~ Beta(1, 1)) blends random pairs of images and their labels "
             "in both; the loss is the mean of the two mixup cross-entropies.",
             claim="Mixup inside adversarial training keeps the robustness while the clean error falls: CIFAR-10 "
             "(PreAct-ResNet18) clean error 12.32 % with PGD adversarial training against 6.45 % with IAT (input mixup), "
             "at similar PGD robustness.",
             here="Contradicted here. On the 1,000 shipped images IAT is 2.3 points more accurate clean than PGD-AT (80.0 "
             "vs 77.7 %, McNemar p = 0.006: that half of the claim holds) but clearly less robust: worst case 53.9 vs "
             "64.4 % (2 against 107 discordant images, p = 2e-29), in the same short budget; PGD-20 58.1 vs 65.8 %. "
             "The audit passes. Clean accuracy bought with robustness, not for free, at this scale."),
    ZooEntry("fmnist-cost-sensitive", short="Cost-sensitive", recipe="cost_sensitive",
             title="Cost-sensitive PGD-AT (protected: Coat, Shirt)", paper="Shen et al., arXiv 2101.12372 — our reading",
             about="Cost-sensitive adversarial training (our reading of Shen et al.): PGD-5 adversarial training whose "
             "loss counts the errors on two protected classes, Coat and Shirt (the two the zoo's models confuse most), "
             "five times. Whether that protects them or only moves the decision boundary towards them shows in the "
             "per-class numbers and in how often attacks push other classes' images into Coat or Shirt.",
             claim="Protected classes become much harder to attack than the others while the average accuracy stays "
             "about the same (MNIST / CIFAR-10; we had no table of the paper's numbers to quote).",
             here="Contradicted here, on the claim's own terms. Coat and Shirt do get harder to attack: the worst case on "
             "their 200 images is 50.0 % against PGD-AT's 19.5 % (63 against 2 discordant images, McNemar p = 1e-16). "
             "But the protection is bought by moving the boundary towards them: after PGD-20, 30.8 % of the other 800 "
             "images end in Coat or Shirt against PGD-AT's 7.8 % (209 of them already without any attack; PGD-AT 30), "
             "and the average accuracy does not stay the same: clean 69.1 vs 77.7 % (McNemar p = 9e-8), worst case "
             "55.3 vs 64.4 %; Pullover's clean accuracy drops to 0 % and T-shirt's to 34 %. The audit flags the "
             "targeted check."),
    ZooEntry("fmnist-dial", short="DIAL", recipe="dial", title="DIAL-KL (domain-invariant adversarial learning)",
             paper="Levi, Attias, Kontorovich, TMLR 2022",
             about="Domain-invariant adversarial learning: TRADES-style training (clean cross-entropy plus β = 6 "
             "times the KL to a 5-step adversarial example) and a small domain head that tries to tell clean from "
             "adversarial features, through a gradient-reversal layer, so the network learns features that do not "
             "change under attack. The head is removed at test time: the shipped model is the plain CNN.",
             claim="Making the features of clean and adversarial images indistinguishable adds robustness on top of "
             "TRADES: CIFAR-10 (WRN-34-10) natural / PGD-20 / AutoAttack 85.25 / 58.43 / 53.75 % for DIAL-KL "
             "against 84.92 / 56.60 / 53.08 % for TRADES.",
             here="Inconclusive, and the paper's gain is excluded. DIAL-KL lands on TRADES, not above it: worst case 61.6 "
             "vs 62.0 % on the same 1,000 images (2 against 6 discordant images, McNemar p = 0.29); the paired "
             "interval (−0.7 to +0.2 points) already excludes the +1.8 points the paper reports. Over three training "
             "seeds 61.6 / 63.0 / 62.8 % (TRADES 62.0 / 63.1 / 62.8 %), clean 80.3 / 79.0 / 80.5 % (TRADES 80.5 / 79.5 "
             "/ 79.9 %); on the full test set (seed 0) clean 78.46 % and PGD-20 63.08 % against TRADES' 78.46 % and "
             "63.09 %. The domain head's reversed gradient (weight r = 0.1) moves the weights without moving the "
             "accuracy. The audit raises no flag."),
    ZooEntry("fmnist-ladder", short="LADDER", recipe="ladder",
             title="LADDER (latent boundary examples) — our reading",
             paper="Zhou et al., Machine Learning 112 (2023) — our reading",
             about="LADDER (our reading): an autoencoder's latent codes are moved towards the boundary that a "
             "linear SVM draws between classes in latent space, just short of it, and decoded; the classifier "
             "trains on the clean images and these boundary examples with their labels. The examples are not "
             "ε-bounded, so the L∞ worst case is the test of what they buy.",
             claim="Training on latent boundary-guided examples improves robustness while keeping clean accuracy "
             "(MNIST / CIFAR-10 / SVHN; we had no table of the paper's numbers to quote).",
             here="The clean accuracy is kept (85.6 % on the 1,000 images, standard training 86.3 %), and so is the "
             "standard model's lack of robustness: FGSM at ε = 0.1 leaves 4.2 % (standard 3.9 %), PGD-20, APGD-CE and "
             "the worst case 0 % (95 % interval 0–0.4 %; full test set PGD-20 0.05 %). The decoded boundary examples "
             "lie far outside the ε-ball (mean L∞ distance 0.67 from their clean image), so they teach the model about "
             "other images, not about small perturbations of these. The audit raises no flag. Inconclusive by the "
             "Claims rule, and not reproduced: both models sit at the floor at ε = 0.1, and each image's smallest "
             "flipping ε does not differ either (LADDER larger on 56 images, standard training on 41 of 500; signed- "
             "rank p = 0.38) — in our reading of the method, at this scale."),
    ZooEntry("fmnist-ntk-kernel", short="NTK kernel", recipe="kernel_distill", family="ntk",
             arch_overrides=(("support_size", 300),),
             title="Kernel regression (NTK) on a robustly distilled support set",
             paper="Tsilivis, Su, Kempe, arXiv 2207.11727 (2022)",
             about="No network at all: kernel ridge regression with the closed-form neural tangent kernel of an "
             "infinitely wide fully connected ReLU network, over 300 support images. The images were learned (KIP "
             "dataset distillation with an inner PGD) so that this predictor classifies PGD examples of real training "
             "images correctly. Its gradients are exact, so white-box attacks see its real robustness to PGD; whether "
             "that robustness holds against attacks crafted elsewhere is the audit's transfer check.",
             claim="A kernel trained on an adversarially distilled dataset resists white-box PGD, but the paper itself "
             "finds the robustness largely illusory: transfer attacks from a surrogate model fool it.",
             here="Contradicted here: the kernel's robustness is not illusory at this scale. Clean 80.9 %, PGD-20 63.2 %, "
             "worst case 55.6 %, with exact gradients. PGD-20 crafted on three surrogates (PGD-AT, the standard CNN, "
             "the CNN trained on the same support set) and transferred leaves 71.0 % robust to all three, above white- "
             "box PGD-20's 63.2 % on the same 1,000 images (no image fooled by transfer that white-box PGD-20 missed; "
             "78 the other way; McNemar p = 7e-24): transfer does not beat white-box, which is what the paper's "
             "finding would need. The audit flags that Square beats white-box PGD-20 (28.9 % of its 50 images); the "
             "worst case, with APGD, is already lower and Square adds nothing there. The binarization test is not run "
             "(no final linear layer)."),
    ZooEntry("fmnist-ntk-cnn", short="NTK data → CNN", recipe="kernel_distilled_cnn", teacher="fmnist-ntk-kernel",
             title="CNN trained on the kernel-distilled support set",
             paper="Tsilivis, Su, Kempe, arXiv 2207.11727 (2022)",
             about="The zoo CNN trained with plain cross-entropy on nothing but the 300 distilled support images of the "
             "kernel model (the shared number of steps, each batch drawn from the support set): does robustness "
             "learned into a dataset carry over to a neural network?",
             claim="The paper asks whether robustness can come from the data alone, i.e. whether a network trained on "
             "the distilled set inherits the kernel's robustness.",
             here="Contradicted here: it does not inherit the kernel's robustness, and it is less robust than standard "
             "training. The CNN trained on the 300 distilled images reaches 71.2 % clean accuracy and 0 % under every "
             "attack at ε = 0.1 (FGSM, PGD-20, APGD-CE, worst case), and it flips at smaller budgets than the standard "
             "model: median smallest ε 0.02 against 0.05, the standard model needing the larger ε on 243 of 500 images "
             "against 36 (signed-rank p = 3e-31). The robustness lives in the kernel, not in the data."),
    # --- issue 21: ZeroSNet, ResNet, ViT ---
    ZooEntry("fmnist-resnet", short="ResNet", recipe="standard", family="resnet",
             title="ResNet (pre-activation blocks, Euler steps)", paper="He et al., ECCV 2016 (pre-activation)",
             about="A small residual network: a two-conv stem, six pre-activation blocks of 32 channels on the 7×7 "
             "map, each adding its output to its input (x_{n+1} = x_n + F(x_n), the forward-Euler step of an "
             "ODE), trained with plain cross-entropy. The baseline of ZeroSNet: the same blocks, parameters and "
             "cost, only the update rule differs.",
             claim="He et al. make no robustness claim; it is the baseline of ZeroSNet's claim (ZeroSNet keeps more "
             "accuracy under input noise than a ResNet of the same depth), so its row reports the same numbers.",
             here="Standard training: 87 % clean, 0 % under the worst case at ε = 0.1 (1,000 images), and "
             "47 % at Gaussian noise σ = 0.2, about 8 points below ZeroSNet: one seed each."),
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
             "adversarial robustness. Each image's smallest flipping ε tells the two apart only slightly: ZeroSNet needs the larger "
             "ε on 65 images, the ResNet on 36 (signed-rank p = 0.007), and both are flipped by ε = 0.075."),
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
    # --- issue 21: neural ODEs ---
    ZooEntry("fmnist-noise-cnn", short="Noise CNN", recipe="odenet",
             title="CNN with Gaussian-noise training (the ODE claims' control)", paper="control for Yan et al., ICLR 2020",
             about="The zoo's CNN trained exactly as the neural ODEs below are: cross-entropy on images that get Gaussian "
             "noise (σ = 50–100/255) half of the time, no adversarial training, the same budget and seed policy. The "
             "ODE papers compare their networks with a CNN trained this way; standard training would credit the ODE "
             "block with what the noise augmentation alone buys.",
             here="Clean 84.1 %, worst case 18.1 % on the 1,000 images (95 % interval 15.8–20.6 %; 18.1 / 18.8 / 19.3 % "
             "over three training seeds), noise σ = 0.3: 81.0 %. The Gaussian-noise augmentation alone keeps about a "
             "fifth of the images at ε = 0.1 with no ODE block — as much as the ODE networks keep. This is the control "
             "the ODE rows of the Claims page are judged against."),
    ZooEntry("fmnist-odenet", short="ODENet", recipe="odenet", family="ode", arch_overrides=(("variant", "odenet"),),
             title="ODENet (Euler, Gaussian-noise training)", paper="Yan et al., ICLR 2020",
             about="A neural ODE: a two-conv stem, then the state evolves by dz/dt = f(t, z) (two 3×3 convs with "
             "GroupNorm, t as an extra input channel) from t = 0 to 1 in 10 Euler steps of 0.1, then average pooling "
             "and a linear head (16 channels: the paper's MNIST model at a quarter of its width). Trained as the paper trains it: "
             "cross-entropy on images that get Gaussian noise (σ = 50–100/255) half of the time, no adversarial "
             "training. Evaluated on the 1,000-image subset only (the full test set is too slow for ODE nets here).",
             here="Measured here (subset, ε = 0.1): clean 70.5 %, PGD-20 27.5 %, APGD-CE 25.2 %, worst case 21.6 % on the "
             "1,000 images (95 % interval 19.1–24.3 %; APGD-CE fools 463 of the 705 correct images, targeted APGD-DLR "
             "26 more, Square none); Gaussian noise σ = 0.3 costs only 3 points (67.2 %). So without adversarial "
             "training this weak ODENet (trained for minutes, clean accuracy far below the CNN's 86 %) keeps about a "
             "fifth of the images at ε = 0.1, where the standard CNN keeps none. The audit (50 images) finds no sign "
             "of masked gradients: Square, transfer and more iterations do not beat white-box PGD. Smaller than the "
             "paper's claim and on another dataset and ε, but not an artefact of the attack. Holds here, at ε = 0.1 "
             "and by less than the paper says. Against the matched control — the same CNN trained with the same "
             "Gaussian noise, which keeps 18.1 % on its own (18.1–19.3 % over three seeds) — ODENet keeps 21.6 vs 18.1 "
             "% in the cards' worst case on the same 1,000 images (87 against 52 images only one of them keeps; exact "
             "McNemar p = 0.004): the ODE block adds about 3.5 points, not the 17–24 the paper reports. Across the "
             "whole robustness distribution the control needs the larger ε on more images (197 vs 133 of 500; signed- "
             "rank p = 0.2; median 0.075 vs 0.05), so the edge is at ε = 0.1 rather than everywhere.",
             claim=CLAIM_ODE),
    ZooEntry("fmnist-odenet-dopri5", short="ODENet dopri5", recipe="odenet", family="ode",
             arch_overrides=(("variant", "odenet"), ("solver", "dopri5")), weights_from="fmnist-odenet",
             title="ODENet solved by dopri5 at test time", paper="Yan et al., ICLR 2020; Huang et al. 2020",
             about="The same trained ODENet weights (assets/zoo/fmnist-odenet.pt, not retrained), but the ODE block is "
             "solved by the adaptive Dormand–Prince solver (torchdiffeq dopri5, rtol = atol = 1e-3, the paper code's "
             "tolerances) instead of fixed Euler steps: the attacker differentiates through an adaptive solver, the "
             "setting in which Huang et al. saw gradients masked. Evaluated on the 1,000-image subset only.",
             here='Measured here: the same weights solved by dopri5 give the same clean (70.4 %) and FGSM (46.7 %) accuracy as Euler and agree on 97 % of the clean predictions; PGD-20 28.2 % and APGD-CE 25.2 % (Euler: 27.5 % and 25.2 %); worst case 22.1 % on the 1,000 images (95 % interval 19.6–24.8 %; Euler 21.6 %, 19.1–24.3 %): the adaptive solver changes the number by half a point, inside both intervals. Attacking through dopri5 costs 4.3× an Euler pass (docs/BENCHMARKS.md). The audit (20 images, its default 20 PGD steps, Square with 1,000 queries; 350 s on one thread) warns once: 100 PGD steps fool fewer of the 12 clean-correct images than the base 20-step run (6 against 7, 50 % vs 58 %) — on 12 images a hint of an unstable, solver-dependent gradient, not a measurement, but the 1,000-image worst case, whose APGD adapts its step, finds no hidden robustness: at this tolerance the masking Huang et al. describe does not show here.',
             claim=CLAIM_ODE),
    ZooEntry("fmnist-tisode", short="TisODE", recipe="tisode", family="ode", arch_overrides=(("variant", "tisode"),),
             title="TisODE (time-invariant, steady-state penalty)", paper="Yan et al., ICLR 2020",
             about="The time-invariant steady neural ODE: f(z) without the time input, and a training penalty on how "
             "far the state still moves between t = 0.9 and 1.5 (weight 0.01), so that nearby inputs end near the same "
             "steady state. Same stem, head, Euler steps and Gaussian-noise training as ODENet, no adversarial "
             "training. Evaluated on the 1,000-image subset only.",
             here="Contradicted here. Clean 69.5 %, PGD-20 21.7 %, APGD-CE 19.3 %, worst case 16.4 % on the 1,000 images "
             "(95 % interval 14.2–18.8 %); noise σ = 0.3: 64.9 %. Against the matched control (the CNN trained with "
             "the same Gaussian noise) TisODE is no better on the same 1,000 images (16.4 vs 18.1 %, McNemar p = 0.18; "
             "the paired interval, −4.0 to +0.7 points, already excludes the 23-point gain the paper reports), and it "
             "is significantly less robust than ODENet, over which it claims a gain (16.4 vs 21.6 %; 21 against 73 "
             "discordant images, p = 7e-8): the steady-state penalty did not add robustness in this short run. The "
             "audit (50 images) passes every check.",
             claim=CLAIM_ODE),
    ZooEntry("fmnist-ltnode", short="LT-NODE", recipe="ltnode", family="lt-node",
             title="LT-NODE (random end time)", paper="Anumasa & Srijith, AAAI 2022",
             about="ODENet with a random end time: every forward pass draws T per image from a Gamma distribution whose "
             "two parameters are learned (variational posterior, KL to a Gamma(4, 4) prior), solves the ODE to T in 10 "
             "Euler steps of T/10 and averages the class probabilities over 2 draws. A randomized model: the same "
             "image can get different outputs, so it is attacked with EOT gradients and majority-vote verdicts (the "
             "'rand' worst case). Gaussian-noise training like the other ODE models, no adversarial training.",
             here="Measured here: clean 80.0 % (the model is random: 80.1 % on another run), FGSM 43.6 %, PGD-20 26.1 %, "
             "APGD-CE 25.4 % on the 1,000 images — single attacks on single draws of T, so an upper bound; Gaussian "
             "noise σ = 0.3: 76.8 %. The 'rand' worst case with EOT on the 1,000 images (APGD-CE and APGD-DLR with "
             "gradients averaged over 8 calls, Square-EOT, every verdict a majority of 5 calls; 4,559 s on 2 threads): "
             "22.1 % (95 % interval 19.6–24.8 %), about 3 points under the single-draw APGD-CE; APGD-CE (EOT) fooled "
             "565 of the 801 correct images, APGD-DLR 15 more, Square-EOT none. The audit treated it as randomized "
             "(EOT over 8 calls, verdicts repeated 5 times) on 20 images with its default 20 PGD steps and "
             "Square(-EOT) with 1,000 queries (881 s on one thread) and passed every check including randomness: of "
             "the 15 clean-correct images, white-box PGD fooled 47 % at ε = 0.1 (100 steps 60 %), Square 27 %, the "
             "transfer from PGD-AT 13 %; repeated evaluations agreed on every image. On 15 images this says the "
             "gradients are usable, not how robust the model is (that is the worst case above). Against the matched "
             "control (the CNN trained with the same Gaussian noise) the claim holds here, by a little: re-run to keep "
             "each image's verdict (2,512 s on one thread; 220 robust, one fewer than the card's run, as a random "
             "model's majority votes allow), LT-NODE keeps 22.0 vs 18.1 % on the same 1,000 images (76 against 37 "
             "discordant images, McNemar p = 3e-4), about 4 points, beyond the control's seed spread (18.1–19.3 %). "
             "Its worst case is that of ODENet (22.1 vs 21.6 %), with 10 points more clean accuracy: the random end "
             "time adds clean accuracy, not adversarial robustness, over the ODE block.",
             claim="Anumasa & Srijith (AAAI 2022) report that treating the end time of a neural ODE as a latent "
             "Gamma-distributed variable improves uncertainty estimates and robustness to noisy and adversarially "
             "perturbed inputs compared with a fixed-T neural ODE; a randomized prediction is exactly where gradients "
             "must be averaged (EOT) before a robustness claim can stand."),
    # --- issue 37: standalone neural ODE (sNODE), its Adam control and the ResNet analog ---
    ZooEntry("fmnist-snode", short="sNODE (NCG)", recipe="snode_ncg", family="snode", arch_overrides=(("modes", SNODE_MODES),),
             title="sNODE trained by Sobolev NCG", paper="Jaroudi et al., arXiv 2205.13933 (2022)",
             about="A standalone neural ODE: no layers around it, the 14×14 average-pooled image itself (196 values, "
             "background 0, garment −1) is the state of dx/dt = tanh(W(t)x + b(t)), solved by 150 Euler steps to "
             "T = 3, each step its own 196×196 weight matrix; the class is the largest of the first 10 values of x(T). "
             "Trained as the paper trains it: squared error to a one-hot target, adjoint gradients smoothed in time "
             "(Sobolev gradients), nonlinear conjugate gradients restarted on every mini-batch, step sizes from the "
             "sensitivity equation. Shipped with its weights reduced to 6 cosine modes in time (the card says what "
             "that costs).",
             claim=SNODE_CLAIM, here=SNODE_HERE),
    ZooEntry("fmnist-snode-adam", short="sNODE (Adam)", recipe="snode_adam", family="snode",
             arch_overrides=(("modes", SNODE_MODES),),
             title="sNODE trained by plain Adam (control)", paper="Jaroudi et al., arXiv 2205.13933 (2022) — control",
             about="The same standalone neural ODE, initialisation, loss, data and batches as the NCG model, trained by "
             "plain Adam (as many steps per batch as NCG's iterations): what the training method alone changes.",
             claim=SNODE_CLAIM, here=SNODE_HERE),
    ZooEntry("fmnist-snode-resnet", short="ResNet analog", recipe="snode_resnet_ce", family="snode-resnet",
             title="ResNet analog of the sNODE", paper="Jaroudi et al., arXiv 2205.13933 (2022) — comparison model",
             about="The paper's comparison model as we read it: the same residual form x + tanh(Wx + b) on the same "
             "14×14 image state, but three ordinary residual layers (unit steps) instead of 150 small Euler steps, "
             "trained the usual way (cross-entropy on the first 10 outputs, Adam).",
             claim=SNODE_CLAIM, here=SNODE_HERE),
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
