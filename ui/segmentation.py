"""Widgets of the segmentation page: attack goal with a target-shape chooser, defense settings."""
from __future__ import annotations

from dataclasses import dataclass, field

import streamlit as st

from core import limits
from core.attacks.base import ThreatModel
from core.defenses.equivariance_views import CPU_VIEWS, VIEW_RECIPES

GOALS = {
    "untargeted": "Break the mask",
    "erase": "Erase the person",
    "shape": "Paint a shape",
    "other": "Another photo's mask",
}
SHAPE_NAMES = ["circle", "square", "star", "heart"]
ADAPTIVE = {
    "none": "Ignores the defense",
    "equivariance-aware": "Equivariance-aware (seg loss − λ·L_equi)",
    "bpda": "BPDA through the purifier (slow)",
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


def defense_picker(key: str, features: list[str]) -> DefenseChoice:
    """The equivariance defense on or off, its settings and what the attacker knows."""
    enabled = st.checkbox("Equivariance defense", True, key=f"{key}_on",
                          help="Purify the attacked photo so that the masks of flipped, resized and rotated "
                               "copies agree again (Mao et al., ICML 2023).")
    if not enabled:
        return DefenseChoice(enabled=False)
    with st.expander("Defense settings"):
        steps = st.slider("Purification steps", 0, 20, 5, key=f"{key}_psteps")
        eps_v = st.slider("Reversal budget ε_v (k/255)", 0, 16, 6, key=f"{key}_epsv") / 255
        views = st.multiselect("Views", list(VIEW_RECIPES), default=list(CPU_VIEWS), key=f"{key}_views",
                               max_selections=limits.MAX_EQUIVARIANCE_VIEWS,
                               help="Transformations whose masks should agree once warped back.")
        feature = st.selectbox("Dense map compared across views", features, key=f"{key}_feature",
                               help="logits: the pre-sigmoid mask; decoder3: the last 16-channel decoder map.")
    adaptive = st.radio("The attacker…", list(ADAPTIVE), format_func=ADAPTIVE.get, key=f"{key}_adaptive",
                        help="Ignores: attack the plain model, then purify. Equivariance-aware: the paper's adaptive "
                             "attack. BPDA: attack through the purifier (each step runs the whole purifier).")
    lam = 1.0
    if adaptive == "equivariance-aware":
        lam = st.slider("λ", 0.0, 5.0, 1.0, 0.25, key=f"{key}_lam")
    return DefenseChoice(enabled=True, steps=steps, eps_v=eps_v, views=tuple(views) or CPU_VIEWS,
                         feature=feature, adaptive=adaptive, lam=lam)
