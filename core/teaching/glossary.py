"""The glossary: every term the pages use, with a definition and, where it helps, an equation.

Data only (no Streamlit). ``GLOSSARY`` maps a slug (the anchor of the term on the Glossary
page, e.g. ``glossary#pgd``) to a :class:`Term`. ``PAGE_TERMS`` lists, per page key (see
:data:`core.teaching.presets.PAGE_PATHS`), the terms that page uses, so each page can link them.
``link(slug)`` gives the markdown link to a term (relative, so it works under any base URL).

Definitions are written for a newcomer and follow the sources the pages cite: Goodfellow et al.
2015 (FGSM), Madry et al. 2018 (PGD), Athalye, Carlini & Wagner 2018 (BPDA, EOT, adaptive
attacks), Cohen, Rosenfeld & Kolter 2019 (randomized smoothing), Yan et al. 2021 (CIFS),
Mao et al. 2023 (equivariance purification), Xu et al. 2025 (feature-map size).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from core.judging import pages as pv


@dataclass(frozen=True)
class Term:
    """One glossary entry. ``body`` is markdown (inline ``$…$`` maths allowed); ``latex`` is an
    optional display equation for ``st.latex``; ``see`` lists related slugs."""

    term: str
    short: str  # one line, also used as a tooltip
    body: str
    latex: str = ""
    see: tuple[str, ...] = field(default_factory=tuple)


GLOSSARY: dict[str, Term] = {
    "adversarial-example": Term(
        "Adversarial example",
        "An input changed by a tiny, deliberately chosen amount so that a model changes its answer.",
        "A photo $x$ plus a perturbation $\\delta$ that is too small to notice (bounded by a budget "
        "$\\varepsilon$ in some norm) but chosen, usually with the model's own gradients, so that the model "
        "classifies $x+\\delta$ differently. The Attack Lab makes them.",
        r"f(x + \delta) \neq y \quad \text{with} \quad \|\delta\| \le \varepsilon",
        ("epsilon", "fgsm", "pgd")),
    "epsilon": Term(
        "ε (perturbation budget)",
        "How far the attacker may move the image: per pixel (L∞) or in total length (L2).",
        "The largest allowed size of the perturbation. Pixels are in $[0,1]$; under **L∞** the app shows "
        "$\\varepsilon$ as $k/255$ (one brightness level of an 8-bit image is $1/255$), so "
        "$\\varepsilon = 4/255$ lets every colour channel of every pixel move by at most four levels. "
        "Under **L2** it bounds the Euclidean length of the whole change.",
        r"\|\delta\|_\infty = \max_i |\delta_i| \le \varepsilon",
        ("linf", "l2")),
    "linf": Term(
        "L∞ norm",
        "The largest absolute change of any single pixel channel.",
        "$\\|\\delta\\|_\\infty = \\max_i |\\delta_i|$. An L∞ budget lets the attacker change *every* pixel a "
        "little. Projecting onto the L∞ ball is clipping each coordinate to $[-\\varepsilon, \\varepsilon]$.",
        r"\|\delta\|_\infty = \max_i |\delta_i|",
        ("epsilon", "l2")),
    "l2": Term(
        "L2 norm",
        "The Euclidean length of the whole change.",
        "$\\|\\delta\\|_2 = \\sqrt{\\sum_i \\delta_i^2}$. An L2 budget lets the attacker concentrate the change "
        "on a few pixels or spread it thinly. A 224×224 colour image has 150,528 numbers, so an L2 length "
        "of 0.5 is an average change of only about $0.5/\\sqrt{150528} \\approx 0.33/255$ per channel. "
        "Randomized smoothing certifies L2 radii.",
        r"\|\delta\|_2 = \Big(\sum_i \delta_i^2\Big)^{1/2}",
        ("epsilon", "linf", "certified-radius")),
    "fgsm": Term(
        "FGSM (Fast Gradient Sign Method)",
        "One step of size ε along the sign of the loss gradient.",
        "Goodfellow, Shlens & Szegedy (2015). Compute the gradient of the loss $L$ with respect to the "
        "input once and move every pixel by $\\varepsilon$ in the direction that raises the loss. Cheap, "
        "and often enough to fool an undefended model.",
        r"x' = \operatorname{clip}_{[0,1]}\big(x + \varepsilon \cdot \operatorname{sign}(\nabla_x L(f(x), y))\big)",
        ("pgd", "epsilon")),
    "pgd": Term(
        "PGD (Projected Gradient Descent)",
        "FGSM repeated in small steps, projected back into the ε-ball after each step.",
        "Madry et al. (2018). Start at $x$ (or a random point of the ε-ball), take steps of size $\\alpha$ "
        "along the gradient sign and project back onto the allowed set $B_\\varepsilon(x)$ after each. "
        "The standard strong first-order attack; the Attack Lab's replay shows each step.",
        r"x^{t+1} = \Pi_{B_\varepsilon(x)}\Big(x^t + \alpha \cdot \operatorname{sign}\big(\nabla_x L(f(x^t), y)\big)\Big)",
        ("fgsm", "apgd", "epsilon")),
    "apgd": Term(
        "APGD (Auto-PGD)",
        "PGD that picks its own step size and restarts from the best point.",
        "Croce & Hein (2020). Starts with a large step, halves it when progress stalls, uses momentum, and "
        "can use the scale-free DLR loss instead of cross-entropy. Part of AutoAttack.",
        "", ("pgd",)),
    "cw": Term(
        "CW-L2 (Carlini–Wagner)",
        "Searches for the smallest L2 change that flips the prediction.",
        "Carlini & Wagner (2017). Minimises $\\|\\delta\\|_2^2 + c\\cdot g(x+\\delta)$, where $g$ is a margin "
        "that becomes negative once the model is fooled, with Adam and a binary search over $c$.",
        r"\min_\delta \ \|\delta\|_2^2 + c \cdot \max\big(z_y(x+\delta) - \max_{j\neq y} z_j(x+\delta),\ -\kappa\big)",
        ("l2",)),
    "targeted": Term(
        "Targeted / untargeted attack",
        "Untargeted: any wrong answer. Targeted: a chosen wrong answer.",
        "An **untargeted** attack maximises the loss of the correct class $y$; a **targeted** attack "
        "minimises the loss of a chosen class $t$, which is harder and needs more budget or steps.",
        r"\text{untargeted: } \max_{\delta} L(f(x+\delta), y) \qquad \text{targeted: } \min_{\delta} L(f(x+\delta), t)",
        ("pgd",)),
    "adaptive-attack": Term(
        "Adaptive attack",
        "An attack designed against the defense itself, not against the bare model.",
        "A defense is only credible if it holds against an attacker who knows it (Athalye, Carlini & "
        "Wagner 2018; Tramèr et al. 2020). A **non-adaptive** attacker attacks the undefended model and "
        "hopes the result survives the defense; that overstates robustness. The adaptive attacker attacks "
        "the defended model, using **BPDA** through non-differentiable steps and **EOT** through randomness.",
        "", ("bpda", "eot", "gradient-masking")),
    "gradient-masking": Term(
        "Gradient masking (obfuscated gradients)",
        "A defense that breaks the attacker's gradients without making the model robust.",
        "Rounding, JPEG compression or randomness can give zero, useless or noisy gradients, so a "
        "gradient attack fails; the model is still vulnerable. Signs: a one-step attack beats many steps, "
        "or an adaptive attack (BPDA, EOT) suddenly succeeds. Athalye, Carlini & Wagner (2018).",
        "", ("bpda", "eot", "adaptive-attack")),
    "binarization-test": Term(
        "Binarization test",
        "A unit test for the attack: a copy of the model that provably has an adversarial example within ε.",
        "Zimmermann, Brendel, Tramèr & Carlini (NeurIPS 2022). For one test image, the model's last layer is "
        "replaced by a two-class linear readout of its features, fitted so that the image and hundreds of "
        "random points within $0.95\\,\\varepsilon$ of it fall in class 0 and one point at distance exactly "
        "$\\varepsilon$ falls in class 1. That binarized model has an adversarial example within ε by construction, "
        "so an attack that fails to find it is too weak for this model (its gradients are masked, or it is "
        "run wrongly). The **score** is the share of such images where the attack succeeds; well below 1, the "
        "attack's robustness number cannot be trusted.",
        "", ("gradient-masking", "adaptive-attack", "bpda", "eot")),
    "square-attack": Term(
        "Square Attack",
        "A black-box attack that only reads the model's scores: random square patches, kept when they help.",
        "Andriushchenko et al. (ECCV 2020). Each query changes one random square window of the image by "
        "$\\pm\\varepsilon$ (L∞) or moves perturbation mass between two windows (L2), and keeps the change if the "
        "margin of the true class went down. The squares shrink on a fixed schedule. It never uses gradients, so "
        "hiding or breaking gradients does not stop it: when it beats a gradient attack, the gradients were masked.",
        "", ("gradient-masking", "worst-case-ensemble")),
    "worst-case-ensemble": Term(
        "Worst-case ensemble (AutoAttack)",
        "Run several different attacks and count an image as robust only if all of them fail.",
        "Croce & Hein (ICML 2020). APGD with cross-entropy, then targeted APGD with the DLR loss towards the "
        "most likely wrong classes, then the Square Attack, each on the images the previous ones did not fool. "
        "The robust accuracy it reports is the number this project quotes: diverse attacks, one without "
        "gradients, remove most false robustness claims.",
        "", ("apgd", "square-attack", "gradient-masking")),
    "bpda": Term(
        "BPDA (Backward Pass Differentiable Approximation)",
        "Run the defense forward, but treat it as the identity when computing gradients.",
        "Athalye, Carlini & Wagner (2018). For a preprocessing defense $g$ (JPEG, bit-depth reduction, a "
        "purifier) that has no useful gradient, the attacker uses $g$ in the forward pass and replaces its "
        "Jacobian by the identity in the backward pass. Works whenever $g(x) \\approx x$.",
        r"\nabla_x\, L\big(f(g(x)), y\big) \;\approx\; \nabla_{\hat x}\, L\big(f(\hat x), y\big)\Big|_{\hat x = g(x)}",
        ("adaptive-attack", "eot", "input-transformation")),
    "eot": Term(
        "EOT (Expectation over Transformation)",
        "Average the gradient over the defense's randomness.",
        "Athalye et al. (2018). Against a randomised defense (noise, random crops) one noisy gradient "
        "points nowhere in particular; the attacker averages the loss over many draws $\\eta_i$ and "
        "follows the gradient of the average.",
        r"\nabla_x\, \mathbb{E}_{\eta}\big[L(f(x+\eta), y)\big] \;\approx\; \frac{1}{m}\sum_{i=1}^{m} \nabla_x L(f(x+\eta_i), y)",
        ("adaptive-attack", "randomized-smoothing")),
    "transfer": Term(
        "Transfer (transferability)",
        "An adversarial example made on one model that also fools another.",
        "Perturbations often carry over between models trained on the same task (Szegedy et al. 2014; "
        "Papernot et al. 2016), which makes black-box attacks possible. The Attack Lab checks the other "
        "bundled models on your adversarial image.",
        "", ("adversarial-example",)),
    "input-transformation": Term(
        "Input-transformation defenses (JPEG, bit-depth, median)",
        "Clean the image before classifying it.",
        "JPEG re-encoding (Dziugaite et al. 2016; Guo et al. 2018), bit-depth reduction (Xu et al. 2018, "
        "feature squeezing) and median filtering remove fine detail, hoping to remove the perturbation "
        "with it. They hold against a non-adaptive attacker on small budgets and fall to BPDA.",
        r"\text{bit-depth } b:\quad g(x) = \operatorname{round}\big(x\,(2^b-1)\big) / (2^b-1)",
        ("bpda", "gradient-masking")),
    "randomized-smoothing": Term(
        "Randomized smoothing",
        "Classify many noisy copies and take the majority vote; the vote can be certified.",
        "Cohen, Rosenfeld & Kolter (2019). The smoothed classifier $g$ returns the class the base model $f$ "
        "picks most often under Gaussian noise of size $\\sigma$. If that class wins often enough, no L2 "
        "perturbation smaller than the certified radius can change $g$'s answer.",
        r"g(x) = \arg\max_c \ \Pr_{\eta \sim \mathcal{N}(0, \sigma^2 I)}\big[f(x + \eta) = c\big]",
        ("certified-radius", "eot", "smooth-reduce")),
    "certified-radius": Term(
        "Certified radius",
        "A proven L2 distance within which the smoothed classifier cannot change its answer.",
        "From $n$ noisy samples, a Clopper–Pearson bound gives $\\underline{p_A}$, a lower bound on the top "
        "class's vote share that is wrong with probability at most $\\alpha$. If $\\underline{p_A} > 1/2$, "
        "the radius below holds for **every** perturbation, not only the ones an attack tries. If not, the "
        "classifier **abstains**. A unanimous vote of $n$ samples caps the radius at "
        "$R_{\\max} = \\sigma\\,\\Phi^{-1}(\\alpha^{1/n})$.",
        r"R = \sigma \cdot \Phi^{-1}\big(\underline{p_A}\big)",
        ("randomized-smoothing", "l2")),
    "smooth-reduce": Term(
        "Smooth-Reduce",
        "Randomized smoothing of a patch ensemble: average (or max) the logits of overlapping crops.",
        "Joshi et al. (2022). The noisy image is enlarged, cut into overlapping patches, and the patches' "
        "logits are reduced before the vote; a steadier vote gives fewer abstentions and larger radii.",
        "", ("randomized-smoothing", "certified-radius")),
    "equivariance": Term(
        "Equivariance",
        "Transform the input and the features transform the same way.",
        "A feature map $F$ is equivariant to a transform $T$ (a flip, a resize, a rotation) if transforming "
        "the image and then computing features equals computing features and then transforming them. "
        "Mao et al. (2023) observed that adversarial images break this agreement.",
        r"F(T x) \approx T\, F(x)",
        ("purification",)),
    "purification": Term(
        "Equivariance purification",
        "Nudge the image until its transformed views agree again.",
        "Mao et al. (ICML 2023): find a small reversal vector $v$ that minimises the disagreement between "
        "the features of transformed views warped back and the original features, then classify $x+v$. "
        "No training. Its adaptive attacker maximises $\\mathrm{CE} - \\lambda L_{\\mathrm{equi}}$.",
        r"v^\star = \arg\min_{\|v\|_\infty \le \varepsilon_v} \ \sum_{T} \Big(1 - \cos\big(T^{-1}F(T(x+v)),\ F(x+v)\big)\Big)",
        ("equivariance", "bpda")),
    "pr-nr-channels": Term(
        "PR / NR channels",
        "Channels that are evidence for (PR) or against (NR) a class.",
        "For a class $y$, channel $c$'s relevance $r_c = \\partial z_y / \\partial \\bar a_c$ (for the last "
        "map, exactly the classifier weight). Positive: **PR**; negative: **NR**. Yan et al. (CIFS, 2021) "
        "found that attacks switch PR channels off and NR channels on.",
        r"z_y = \sum_{c \in PR} r_c\,\bar a_c + \sum_{c \in NR} r_c\,\bar a_c + b_y",
        ("cifs",)),
    "cifs": Term(
        "CIFS (Channel-wise Importance-based Feature Selection)",
        "Re-weight channels by their relevance to the likely classes.",
        "Yan et al. (ICML 2021) train probes that rate each channel's relevance and mask the channels "
        "accordingly. The app's **CIFS-lite** reuses the classifier's weights without training and makes no "
        "robustness claim.",
        r"m = C \cdot \operatorname{softmax}(g / T)",
        ("pr-nr-channels",)),
    "saliency": Term(
        "Saliency map",
        "How much each pixel matters to the model's score.",
        "The simplest is the absolute input gradient $|\\partial z_y / \\partial x|$ (Simonyan et al. "
        "2014). Grad-CAM, integrated gradients, SmoothGrad, occlusion and blur-perturbation maps are "
        "variants; the Saliency page compares clean, attacked and defended maps on one colour scale.",
        r"S(x)_i = \Big|\frac{\partial z_y(x)}{\partial x_i}\Big|",
        ("grad-cam", "integrated-gradients")),
    "grad-cam": Term(
        "Grad-CAM",
        "A coarse map of where a class's evidence sits in a feature map.",
        "Selvaraju et al. (2017): weight each channel of a late feature map by the average gradient of the "
        "class score, sum, and keep the positive part.",
        r"\mathrm{CAM}_y = \operatorname{ReLU}\Big(\sum_c w_c^y A^c\Big), \quad w_c^y = \frac{1}{HW}\sum_{i,j} \frac{\partial z_y}{\partial A^c_{ij}}",
        ("saliency",)),
    "integrated-gradients": Term(
        "Integrated gradients",
        "Gradients averaged along a straight path from a reference image.",
        "Sundararajan et al. (2017). Attributions add up to the score difference between the image and the "
        "reference (black or blurred).",
        r"\mathrm{IG}_i(x) = (x_i - x'_i) \int_0^1 \frac{\partial z_y\big(x' + t(x - x')\big)}{\partial x_i}\, dt",
        ("saliency",)),
    "feature-map-size": Term(
        "Feature-map size and average pooling",
        "A larger last feature map, averaged, damps a perturbation's effect.",
        "Xu et al. (TNNLS 2025): averaging over $n \\times n$ positions divides a change at one position by "
        "$n^2$; the maximum does not. The Feature maps page enlarges the maps of a pretrained model.",
        r"\bar a = \frac{1}{n^2}\sum_{i,j} a_{ij}",
        ()),
    "psnr": Term(
        "PSNR (peak signal-to-noise ratio)",
        "How visible a change is, in decibels; above about 40 dB it is usually invisible.",
        "For images in $[0,1]$, with MSE the mean squared change.",
        r"\mathrm{PSNR} = 10 \log_{10} \frac{1}{\mathrm{MSE}(x, x')}",
        ()),
    "iou": Term(
        "IoU (intersection over union)",
        "Overlap of two masks divided by their union; 1 = identical.",
        "Used on the Segmentation page to say how much of the clean person mask survives an attack.",
        r"\mathrm{IoU}(A, B) = \frac{|A \cap B|}{|A \cup B|}",
        ()),
    "adversarial-training": Term(
        "Adversarial training",
        "Train on adversarial examples so that the model learns to resist them.",
        "Madry et al. (2018): minimise the loss of the worst case in the ε-ball, found by PGD during "
        "training. TRADES (Zhang et al. 2019) trades clean accuracy against robustness with a KL term. The "
        "Model zoo compares such training methods on small Fashion-MNIST models.",
        r"\min_\theta \ \mathbb{E}_{(x,y)} \Big[\max_{\|\delta\| \le \varepsilon} L\big(f_\theta(x+\delta), y\big)\Big]",
        ("pgd",)),
    "confidence-interval": Term(
        "95 % interval (Clopper–Pearson) and McNemar's test",
        "How sure an accuracy is: the range that contains the true accuracy with 95 % confidence, given k of n.",
        "An accuracy measured on $n$ images is $k/n$; on other images of the same kind it would differ. The exact "
        "(Clopper–Pearson) interval contains the true accuracy with probability at least 95 %: 644 of 1,000 → "
        "61.3–67.4 %, but 5 of 8 → 24.5–91.5 % — on a handful of photos one photo moves the number by 12.5 points. "
        "Two accuracies **on the same images** are compared by **McNemar's exact test** on the images where they "
        "disagree ($b$ right only for A, $c$ only for B): $p = \\min(1, 2\\,P[\\mathrm{Binom}(b+c, \\tfrac12) "
        "\\le \\min(b, c)])$; the difference is *significant* when $p < 0.05$. The Claims page, the zoo table, "
        "Batch evaluation and the audit quote both.",
        r"\underline{p} = \mathrm{Beta}^{-1}\big(\tfrac{\alpha}{2};\, k, n-k+1\big), \quad \overline{p} = \mathrm{Beta}^{-1}\big(1-\tfrac{\alpha}{2};\, k+1, n-k\big)",
        ("worst-case-ensemble",)),
}

# The terms each page uses (page keys as in core.teaching.presets.PAGE_PATHS).

# The thresholds of the pages' verdicts (core.judging.pages), one entry each, numbers from the code.
GLOSSARY.update({
    "verdict-survived": Term(
        "Survived / damaged / broke (masks and label maps)",
        f"Share of the clean mask kept: survived ≥ {pv.SURVIVED_AT:g}, broke < {pv.BROKE_BELOW:g}, damaged between.",
        f"A person mask is judged by the attacked mask's IoU with the clean mask; a label map by its attacked mIoU "
        f"divided by its clean mIoU. **Survived** at {pv.SURVIVED_AT:g} or more (most of it kept), **broke** below "
        f"{pv.BROKE_BELOW:g}, **damaged** in between (red: a visible part is lost). A defense **restored** the mask "
        f"when it raises this by more than {pv.CHANGE_MARGIN:g} to {pv.SURVIVED_AT:g} or more, **partly restored** "
        f"below that, and is **worse than no defense** when it lowers it by more than {pv.WORSE_MARGIN:g}.",
        see=("iou",)),
    "verdict-held": Term(
        "Held / held narrowly / flipped",
        f"One image attacked: flipped if the answer changed; held narrowly if P(true class) < {pv.NARROW_BELOW:.0%}.",
        f"**Flipped**: the attacked prediction is not the true class. **Held**: it still is, with probability "
        f"{pv.NARROW_BELOW:.0%} or more. **Held narrowly** (yellow): still the true class but below "
        f"{pv.NARROW_BELOW:.0%}, another class within reach. One image is an anecdote: the worst-case accuracy over "
        "a test set is the number to quote.",
        see=("worst-case-ensemble",)),
    "verdict-unfit": Term(
        "Already wrong / unsure / near chance / degenerate",
        "The model is wrong or unsure before any attack: the verdict is neutral (blue), not green.",
        f"Before judging an attack the pages check the clean input. **Already wrong**: the clean prediction is not "
        f"the true class, or a segmenter's clean mIoU against the ground truth is below {pv.LOW_CLEAN_MIOU:g}. "
        f"**Unsure**: the clean top-1 probability is below {pv.UNSURE_BELOW:.0%}. **Near chance**: an accuracy or a "
        f"probability below {pv.NEAR_CHANCE_FACTOR:g}× chance (2/number of classes). **Degenerate**: one class on "
        f"{pv.ONE_CLASS_SHARE:.0%} or more of the pixels (an IoU against such a map reads high whatever happens). "
        "The box is then blue and says what the attack can and cannot show on this input.",
        see=("iou",)),
})

PAGE_TERMS: dict[str, tuple[str, ...]] = {
    "audit": ("gradient-masking", "transfer", "square-attack", "worst-case-ensemble", "adaptive-attack", "eot",
              "binarization-test"),
    "lab": ("adversarial-example", "epsilon", "linf", "fgsm", "pgd", "targeted", "adaptive-attack", "bpda",
            "transfer", "psnr", "verdict-unfit"),
    "def": ("adaptive-attack", "bpda", "eot", "input-transformation", "gradient-masking", "randomized-smoothing",
            "purification"),
    "cert": ("randomized-smoothing", "certified-radius", "l2", "smooth-reduce"),
    "seg": ("iou", "equivariance", "purification", "adaptive-attack", "verdict-survived", "verdict-unfit"),
    "sal": ("saliency", "grad-cam", "integrated-gradients"),
    "ch": ("pr-nr-channels", "cifs"),
    "fm": ("feature-map-size", "pgd"),
    "cur": ("epsilon", "fgsm", "pgd", "adaptive-attack", "certified-radius"),
    "bat": ("epsilon", "adaptive-attack", "transfer", "confidence-interval"),
    "claims": ("confidence-interval", "worst-case-ensemble", "gradient-masking", "adaptive-attack"),
    "zoo": ("adversarial-training", "pgd", "pr-nr-channels", "saliency", "verdict-held", "verdict-unfit"),
}

GLOSSARY_PAGE = "glossary"  # the url path of views/glossary.py


def link(slug: str, text: str | None = None) -> str:
    """A markdown link to a term on the Glossary page (relative URL with an anchor)."""
    if slug not in GLOSSARY:
        raise KeyError(f"unknown glossary term {slug!r}")
    label = text if text is not None else GLOSSARY[slug].term
    return f"[{label}]({GLOSSARY_PAGE}#{slug})"
