"""The guided tour: a sequence of steps across the pages, as data (no Streamlit here).

Each :class:`TourStep` names a page (a key of :data:`core.teaching.presets.PAGE_PATHS`), a preset of that
page (by reference ``"page/id"``, see :mod:`core.teaching.presets`) that loads the photo, model, attack and
defense that show the point, a short explanation (markdown; inline ``$…$`` maths and glossary
links allowed), an optional display equation for ``st.latex`` and a "what to notice" line.

The steps are grouped in four **paths**, one per question on the home page; a path starts the
tour at its first step and the user can walk on through the others. ``ui/tour.py`` renders the
panel; ``tests/browser/test_browser_tour.py`` walks every step in a real browser.
"""
from __future__ import annotations

from dataclasses import dataclass

from core.teaching.glossary import link
from core.teaching.presets import PAGE_PATHS, get_preset


@dataclass(frozen=True)
class TourStep:
    title: str
    page: str  # a key of PAGE_PATHS
    explanation: str  # markdown
    preset: str | None = None  # "page/id" of a preset of this page, or None
    latex: str = ""  # a display equation (st.latex), optional
    notice: str = ""  # "what to notice"; defaults to the preset's notice
    path: str = ""  # the path (question) this step belongs to

    @property
    def page_path(self) -> str:
        return PAGE_PATHS[self.page]

    def what_to_notice(self) -> str:
        if self.notice:
            return self.notice
        return get_preset(self.preset).notice if self.preset else ""


@dataclass(frozen=True)
class TourPath:
    key: str
    question: str
    teaser: str


PATHS: list[TourPath] = [
    TourPath("adversarial", "What is an adversarial example?",
             "A change too small to see makes the model change its mind — one step, many steps, a chosen answer."),
    TourPath("defenses", "Do defenses work?",
             "Cleaning the image seems to help, until the attacker knows about it. Adaptive attacks and "
             "adversarial training."),
    TourPath("explain", "What does the model look at?",
             "Saliency maps, the channels an attack switches on and off, and the size of the last feature map."),
    TourPath("certify", "Can we certify?",
             "Randomized smoothing proves that no small change can flip the vote — and says when it cannot."),
]

STEPS: list[TourStep] = [
    # ---------------------------------------------------------------- adversarial examples
    TourStep(
        "A tiny change, a different answer", "lab",
        "The model is 95 % sure this is an **espresso**. The attack computes, with one backward pass, which "
        f"direction of change raises the model's loss fastest, and moves every pixel by one brightness level "
        f"in that direction: {link('fgsm', 'FGSM')} with a budget {link('epsilon', 'ε')} = 1/255 under the "
        f"{link('linf', 'L∞ norm')}. The result is an {link('adversarial-example')}.",
        preset="lab/fgsm_tiny",
        latex=r"x' = \operatorname{clip}_{[0,1]}\big(x + \varepsilon\,\operatorname{sign}(\nabla_x L(f(x), y))\big)",
        path="adversarial"),
    TourStep(
        "Many small steps: PGD", "lab",
        f"{link('pgd', 'PGD')} repeats small gradient steps of size α and after each one projects the image "
        "back into the allowed ε-ball around the photo. It is the standard strong attack. Scroll down to "
        "**Replay the attack** to watch it step by step.",
        preset="lab/pgd_cat",
        latex=r"x^{t+1} = \Pi_{B_\varepsilon(x)}\big(x^t + \alpha\,\operatorname{sign}(\nabla_x L(f(x^t), y))\big)",
        path="adversarial"),
    TourStep(
        "Choosing the wrong answer", "lab",
        f"A {link('targeted', 'targeted attack')} does not settle for any wrong class: it *minimises* the loss "
        "of a class it picks — here *goldfish* — with the same budget ε = 4/255.",
        preset="lab/targeted_goldfish",
        latex=r"\min_{\|\delta\|_\infty \le \varepsilon} L\big(f(x+\delta),\ t\big), \qquad t = \text{goldfish}",
        path="adversarial"),
    TourStep(
        "How strong must the attack be?", "cur",
        "One image, many budgets: each attack runs at every ε of the list and the curve shows the model's "
        "confidence in the correct class. Where a curve crosses from ✓ to ✗ is the smallest budget that "
        "fools the model.",
        preset="cur/fgsm_vs_pgd", path="adversarial"),
    TourStep(
        "Not only labels: masks", "seg",
        "A person-segmentation model colours every pixel *person* or *background*. The same kind of attack, "
        f"with the same ε, can erase the person from the mask. {link('iou', 'IoU')} measures how much of the "
        f"clean mask survives; the {link('purification', 'equivariance defense')} tries to repair it.",
        preset="seg/erase_person", path="adversarial"),
    # ---------------------------------------------------------------- defenses
    TourStep(
        "A defense that seems to work", "lab",
        "**JPEG re-encoding** (an "
        f"{link('input-transformation', 'input-transformation defense')}) saves the image as a JPEG and "
        "reads it back before classifying, hoping the compression removes the fine adversarial pattern. Here "
        "the attacker made its PGD image against the bare model and did not know about JPEG.",
        preset="lab/jpeg_holds", path="defenses"),
    TourStep(
        "…until the attacker knows it", "lab",
        f"An {link('adaptive-attack', 'adaptive attacker')} attacks the defended model itself. JPEG has no "
        f"useful gradient, so the attacker uses {link('bpda', 'BPDA')}: JPEG in the forward pass, the identity "
        "in the backward pass. Same ε, same number of steps.",
        preset="lab/jpeg_falls",
        latex=r"\nabla_x L\big(f(\mathrm{JPEG}(x)), y\big) \approx \nabla_{\hat x} L\big(f(\hat x), y\big)\big|_{\hat x = \mathrm{JPEG}(x)}",
        path="defenses"),
    TourStep(
        "Side by side: what the non-adaptive attacker hides", "def",
        "The Defenses page runs one attack against several defenses. Against the non-adaptive attacker, JPEG "
        "(quality 25) and 3-bit colour depth both keep the right answer. Note the warning the page prints.",
        preset="def/transforms_nonadaptive", path="defenses"),
    TourStep(
        "Side by side, adaptive", "def",
        f"Switch the attacker to **Adaptive**: each defense is now attacked through its own route (here "
        f"{link('bpda', 'BPDA')} for both). This is how defenses must be evaluated; robustness that "
        f"disappears here was {link('gradient-masking', 'gradient masking')}.",
        preset="def/transforms_bpda", path="defenses"),
    TourStep(
        "Training for robustness", "zoo",
        f"What does work? {link('adversarial-training', 'Adversarial training')}: train on PGD examples. "
        "The zoo's small Fashion-MNIST models were trained with different methods on the same data; each is "
        "attacked with its own gradients.",
        preset="zoo/standard_vs_at",
        latex=r"\min_\theta \ \mathbb{E}_{(x,y)} \max_{\|\delta\|_\infty \le \varepsilon} L\big(f_\theta(x+\delta), y\big)",
        path="defenses"),
    TourStep(
        "How to tell a real defense from a broken one", "audit",
        f"A robustness number is only as good as the attack behind it. The audit runs the checks of the "
        f"evaluation checklists: a {link('transfer', 'transferred')} attack or the gradient-free "
        f"{link('square-attack', 'Square Attack')} must not beat the white-box attack, a huge ε must always win, "
        f"and the gradient must point uphill. A model that fails them shows {link('gradient-masking', 'gradient masking')}; "
        f"quote the {link('worst-case-ensemble', 'worst-case ensemble')} instead.",
        preset="audit/cifs_mask_blind", path="defenses"),
    # ---------------------------------------------------------------- explanations
    TourStep(
        "Where does the model look?", "sal",
        f"A {link('saliency', 'saliency map')} colours each pixel by how much it matters to the score; "
        f"{link('grad-cam', 'Grad-CAM')} shows where in the last feature map the class evidence sits. The "
        "clean, attacked and JPEG-defended views share one colour scale.",
        preset="sal/coffee_gradcam",
        latex=r"S(x)_i = \Big|\frac{\partial z_y(x)}{\partial x_i}\Big|",
        path="explain"),
    TourStep(
        "Which channels does the attack flip?", "ch",
        f"Each channel of the last feature map is evidence for the class ({link('pr-nr-channels', 'PR')}) or "
        f"against it (NR). The class score is exactly their weighted sum. {link('cifs', 'CIFS')} observed that "
        "attacks switch PR channels off and NR channels on.",
        preset="ch/coffee_channels",
        latex=r"z_y = \sum_{c \in PR} r_c\,\bar a_c + \sum_{c \in NR} r_c\,\bar a_c + b_y",
        path="explain"),
    TourStep(
        "Does a larger feature map help?", "fm",
        f"The last feature map is averaged into one vector. Averaging over more positions damps a "
        f"perturbation that varies across the map ({link('feature-map-size', 'feature-map size')}). Here the "
        "image is upsampled ×2 inside the model, so the last map is four times larger.",
        preset="fm/upsample_quick",
        latex=r"\bar a = \frac{1}{n^2}\sum_{i,j=1}^{n} a_{ij}",
        path="explain"),
    # ---------------------------------------------------------------- certification
    TourStep(
        "A certificate", "cert",
        f"{link('randomized-smoothing', 'Randomized smoothing')} classifies 128 noisy copies of the photo and "
        "takes the vote. A statistical bound on the winner's share gives a "
        f"{link('certified-radius', 'certified radius')} R: **no** {link('l2', 'L2')} change smaller than R can "
        "change the vote (wrong with probability at most α = 0.001).",
        preset="cert/coffee_certified",
        latex=r"R = \sigma\,\Phi^{-1}\big(\underline{p_A}\big), \qquad R_{\max} = \sigma\,\Phi^{-1}\big(\alpha^{1/n}\big)",
        path="certify"),
    TourStep(
        "The certificate holds while the attack succeeds", "def",
        f"Now attack: PGD with L2 ε = 0.25, inside the certified radius. Against the vote the attacker uses "
        f"{link('eot', 'EOT')} (gradients averaged over noise draws). The bare model falls; the smoothed "
        "classifier cannot, by the certificate.",
        preset="def/smoothing_holds",
        latex=r"\nabla_x\,\mathbb{E}_\eta\big[L(f(x+\eta), y)\big] \approx \frac{1}{m}\sum_{i=1}^{m} \nabla_x L(f(x+\eta_i), y)",
        path="certify"),
    TourStep(
        "When certification gives up", "cert",
        "More noise raises the ceiling σ·Φ⁻¹(α^(1/n)), but these models were never trained on noisy images: at "
        "σ = 1 the copies no longer look like a cat to the model, and the smoothed classifier **abstains**.",
        preset="cert/too_much_noise", path="certify"),
    TourStep(
        "Where next", "glossary",
        "That was the tour. Every page has **presets** at the top (⚡ marks the surprising ones), the sidebar "
        "has a **presenter mode** for projectors, and this glossary explains every term the pages use.",
        notice="Terms link here from the pages and from the tour; each has an anchor you can share.",
        path="certify"),
]


def path_start(key: str) -> int:
    """The index of the first step of a path."""
    for i, s in enumerate(STEPS):
        if s.path == key:
            return i
    raise KeyError(f"unknown tour path {key!r}")


def path_of(index: int) -> TourPath:
    key = STEPS[index].path
    return next(p for p in PATHS if p.key == key)
