"""Widgets of the segmentation page: attack goal with a target-shape chooser, defense settings;
for multi-class models the scene, goal and attack pickers; for the denoiser section its settings."""
from __future__ import annotations

from dataclasses import dataclass, field

import streamlit as st

from core.runtime import limits
from core.attacks.base import ThreatModel
from core.defenses.equivariance_views import CPU_VIEWS, VIEW_RECIPES
from core.evaluation.dense.page import DEFAULT_SCENE

GOALS = {
    "untargeted": "Break the mask",
    "erase": "Erase the person",
    "shape": "Paint a shape",
    "other": "Another photo's mask",
}
SHAPE_NAMES = ["circle", "square", "star", "heart"]
ADAPTIVE = {
    "none": "Ignores the defense",
    "equivariance-aware": "Equivariance-aware (seg loss − λ·L_equi; ≈ 2 s)",
    "bpda": "BPDA through the purifier (slow: ≈ 5–6 s)",
}


@dataclass
class GoalChoice:
    mode: str  # a key of GOALS
    shape: str = "circle"
    cx: float = 0.5
    cy: float = 0.5
    size: float = 0.5


@dataclass
class DefenseChoice:
    enabled: bool
    steps: int = 5
    eps_v: float = 6 / 255
    views: tuple[str, ...] = CPU_VIEWS
    feature: str = "logits"
    adaptive: str = "none"
    lam: float = 1.0
    extra: dict = field(default_factory=dict)


def goal_picker(key: str) -> GoalChoice:
    """What the attacker wants; for a shape: which shape, where and how big (sliders)."""
    mode = st.radio("Attack goal", list(GOALS), format_func=GOALS.get, key=f"{key}_goal",
                    help="Break: push every pixel away from the clean mask. Erase: make the mask empty. "
                         "Shape: make the mask look like the chosen shape. Another photo: copy its mask.")
    choice = GoalChoice(mode=mode)
    if mode == "shape":
        choice.shape = st.selectbox("Shape", SHAPE_NAMES, key=f"{key}_shape")
        c1, c2 = st.columns(2)
        choice.cx = c1.slider("Left ↔ right", 0.0, 1.0, 0.5, 0.05, key=f"{key}_cx")
        choice.cy = c2.slider("Top ↕ bottom", 0.0, 1.0, 0.5, 0.05, key=f"{key}_cy")
        choice.size = st.slider("Size (share of the shorter side)", 0.1, 1.0, 0.5, 0.05, key=f"{key}_size")
    return choice


def threat_picker(key: str) -> tuple[ThreatModel, int]:
    """L∞ budget, steps, step size, random start and seed (CPU defaults: 4/255, 10 × 1/255)."""
    eps_k = st.slider("ε (k/255)", 0, 16, 4, key=f"{key}_eps",
                      help="How far each pixel may move, in 1/255 of the brightness range.")
    steps = st.slider("Steps", 1, min(50, limits.MAX_ATTACK_STEPS), 10, key=f"{key}_steps")
    step_k = st.slider("Step size (k/255)", 0.25, 4.0, 1.0, 0.25, key=f"{key}_step")
    rs = st.checkbox("Random start", True, key=f"{key}_rs")
    seed = int(st.number_input("Seed", 0, 2**31 - 1, 0, key=f"{key}_seed"))
    return ThreatModel(norm="linf", eps=eps_k / 255, step=step_k / 255, steps=steps, random_start=rs), seed


def defense_picker(key: str, features: list[str], adaptive_options: dict[str, str] = ADAPTIVE) -> DefenseChoice:
    """The equivariance defense on or off, its settings and what the attacker knows."""
    enabled = st.checkbox("Equivariance defense", True, key=f"{key}_on",
                          help="Purify the attacked photo so that the masks of flipped, resized and rotated "
                               "copies agree again (Mao et al., ICML 2023).")
    if not enabled:
        return DefenseChoice(enabled=False)
    with st.expander("Defense settings"):
        steps = st.slider("Purification steps", 0, 20, 5, key=f"{key}_psteps",
                          help="Each step ≈ 0.1 s on a 2-core CPU for the attacked photo (20 steps: the result in "
                               "≈ 2 s), and as much again for the clean photo's check, shown after the result.")
        eps_v = st.slider("Reversal budget ε_v (k/255)", 0, 16, 6, key=f"{key}_epsv") / 255
        views = st.multiselect("Views", list(VIEW_RECIPES), default=list(CPU_VIEWS), key=f"{key}_views",
                               max_selections=limits.MAX_EQUIVARIANCE_VIEWS,
                               help="Transformations whose masks should agree once warped back.")
        feature = st.selectbox("Dense map compared across views", features, key=f"{key}_feature",
                               help="logits: the pre-sigmoid mask; decoder3: the last 16-channel decoder map.")
    adaptive = st.radio("The attacker…", list(adaptive_options), format_func=adaptive_options.get, key=f"{key}_adaptive",
                        help="Ignores: attack the plain model, then purify. Equivariance-aware: the paper's adaptive "
                             "attack. BPDA: attack through the purifier (each step runs the whole purifier).")
    lam = 1.0
    if adaptive == "equivariance-aware":
        lam = st.slider("λ", 0.0, 5.0, 1.0, 0.25, key=f"{key}_lam")
    return DefenseChoice(enabled=True, steps=steps, eps_v=eps_v, views=tuple(views) or CPU_VIEWS,
                         feature=feature, adaptive=adaptive, lam=lam)


# --------------------------------------------------------------------------- multi-class models
DENSE_GOALS = {
    "untargeted": "Break the map",
    "shape": "Paint a class over a shape",
    "class": "Repaint one class as another",
}
DENSE_ADAPTIVE = {"none": ADAPTIVE["none"], "equivariance-aware": "Equivariance-aware (seg loss − λ·L_equi)"}
ATTACK_TIMES = {  # expected run time on this CPU (docs/BENCHMARKS.md), shown beside the choice
    "Dense PGD": "", "Dense APGD": "", "SegPGD": "",
    "Dense Square (mIoU)": " (≈ 2 s per 100 queries)",
    "Worst case (all four)": " (≈ 5–10 s)",
}


def scene_picker(key: str, n_scenes: int) -> tuple[str, int]:
    """("scene", index) or ("photo", 0): a shipped garment scene or the sidebar's photo."""
    src = st.radio("Image", ["scene", "photo"], key=f"{key}_dsrc", horizontal=True,
                   format_func={"scene": "Garment scene", "photo": "A photo"}.get,
                   help="Garment scenes: the shipped test set (t10k garments, ground-truth labels). A photo is "
                        "stretched to the model's input size; its reference is the clean prediction.")
    idx = 0
    if src == "scene":
        idx = int(st.number_input("Scene", 0, n_scenes - 1, min(DEFAULT_SCENE, n_scenes - 1), key=f"{key}_scene",
                                  help=f"One of the {n_scenes} shipped test scenes."))
    return src, idx


def dense_goal_picker(key: str, class_names: list[str]):
    """The attacker's goal on a multi-class map (a core.evaluation.dense.page.DenseGoal's fields)."""
    mode = st.radio("Attack goal", list(DENSE_GOALS), format_func=DENSE_GOALS.get, key=f"{key}_dgoal",
                    help="Break: push every pixel away from its reference class. Paint: make a shape (or every pixel "
                         "of one class) read as the chosen class.")
    out = {"mode": mode}
    if mode == "untargeted":
        return out
    n = len(class_names)
    out["paint"] = st.selectbox("Class to paint", range(n), index=min(8, n - 1) if n > 8 else n - 1,
                                format_func=lambda i: class_names[i], key=f"{key}_dpaint")
    if mode == "shape":
        out["shape"] = st.selectbox("Shape", SHAPE_NAMES, key=f"{key}_dshape")
        c1, c2 = st.columns(2)
        out["cx"] = c1.slider("Left ↔ right", 0.0, 1.0, 0.5, 0.05, key=f"{key}_dcx")
        out["cy"] = c2.slider("Top ↕ bottom", 0.0, 1.0, 0.5, 0.05, key=f"{key}_dcy")
        out["size"] = st.slider("Size (share of the shorter side)", 0.1, 1.0, 0.4, 0.05, key=f"{key}_dsize")
    else:
        out["source_class"] = st.selectbox("Class whose pixels are repainted", range(n), index=min(1, n - 1),
                                           format_func=lambda i: class_names[i], key=f"{key}_dsource")
    return out


def dense_attack_picker(key: str, attacks: tuple[str, ...]) -> tuple[str, int]:
    """The dense attack (with its expected time) and Square's query budget."""
    attack = st.selectbox("Attack", attacks, key=f"{key}_dattack",
                          format_func=lambda a: a + ATTACK_TIMES.get(a, ""),
                          help="Dense PGD: per-pixel cross-entropy. APGD: adaptive step size. SegPGD (Gu et al. 2022): "
                               "weighs still-correct pixels first. Square: gradient-free, on the mIoU itself. Worst "
                               "case: all four, the lowest mIoU.")
    queries = 200
    if attack in ("Dense Square (mIoU)", "Worst case (all four)"):
        queries = st.slider("Square queries", 20, 1000, 200, 20, key=f"{key}_dqueries")
    return attack, queries


# --------------------------------------------------------------------------- denoising
def denoise_picker(key: str, denoisers: tuple[str, ...], n_images: int) -> dict:
    """The denoiser experiment's settings."""
    out = {"position": int(st.number_input("Fashion-MNIST test image", 0, n_images - 1, 0, key=f"{key}_nimg",
                                           help=f"One of the {n_images} shipped test images."))}
    out["denoiser"] = st.selectbox("Denoiser", denoisers, key=f"{key}_nden")
    out["eps_k"] = st.slider("ε: perturbation RMS (k/255)", 0, 16, 6, key=f"{key}_neps",
                             help="ObsAtk's budget as a per-pixel RMS: ‖δ‖₂ ≤ ε·28 on a 28×28 image "
                                  "(the Gaussian noise itself has RMS 25/255).")
    out["steps"] = st.slider("ObsAtk steps", 1, 50, 10, key=f"{key}_nsteps")
    out["objective"] = st.radio("The attacker maximises", ["mse", "ce"], key=f"{key}_nobj",
                                format_func={"mse": "the denoising error (ObsAtk)",
                                             "ce": "the classifier's loss through the denoiser"}.get)
    out["curve"] = st.select_slider("Images for the PSNR-vs-ε curve", [0, 16, 64, 200], 0, key=f"{key}_ncurve",
                                    help="0: no curve (the default, ≈ 1 s); 16: ≈ 7 s; 64: ≈ 25 s; 200: ≈ 80 s on this CPU (one image per ε, four denoisers).")
    return out
