"""One declarative description of each attack's settings.

From :data:`ATTACK_SPECS` the app derives the sidebar widgets (``ui.common.attack_picker``), the
shareable URL's parameters (``ui.urlstate.attack_picker_params``), the presets' base values
(``core.teaching.presets.attack_base``) and the command line's attack options (``core.cli.commands``). A test
(``tests/attacks/test_attack_specs.py``) checks that the four agree with this description.

Every attack shares the *common* settings — norm, ε, goal, target class, seed — whose widgets
and URL names are fixed (:data:`COMMON_KEYS`); the attack-specific ones are :class:`AttackParam`
entries. Widget keys are ``f"{prefix}_{param.key}"``; values are in the widget's units (L∞ step
sizes in k/255, as ε).

Defaults: the attack's CPU default threat (:func:`core.attacks.default_threat`) for the threat
fields (steps, step, random start), the attack's constructor defaults for its own keywords,
except where the interactive pages want a cheaper value (CW-L2: 2 binary-search steps × 25
iterations instead of a long search).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal
from collections.abc import Callable, Mapping

from core.runtime import limits
from core.attacks import ATTACKS, default_threat
from core.attacks.base import Norm

Kind = Literal["int", "float", "bool", "choice"]

# Widget-key suffix and URL name of the settings every attack has.
COMMON_KEYS: dict[str, str] = {"attack": "attack", "norm": "norm", "eps_linf": "eps", "eps_l2": "eps",
                               "goal": "goal", "target": "target", "seed": "seed"}
EPS_LINF_MAX_K = 64  # ε slider (L∞) upper end, in k/255
EPS_L2_MAX = 50.0
GOALS = ("untargeted", "targeted", "least_likely")


@dataclass(frozen=True)
class AttackParam:
    """One attack-specific setting.

    ``field``: where the value goes — ``"steps"``, ``"step"``, ``"random_start"``, ``"restarts"``
    (the ``ThreatModel``) or ``"kw:<name>"`` (a constructor keyword of the attack). ``key``: the
    widget-key suffix; ``url``: the name in a shared link. ``norms``: the norms it applies to.
    ``scale``: the widget shows ``value * scale`` (255 for L∞ step sizes). ``default``: in widget
    units; ``box``: a number box instead of a slider. ``hi_given``: an upper bound that depends on the other settings' widget values
    (CW-L2's iterations), else ``hi``."""

    key: str
    url: str
    label: str
    kind: Kind
    field: str
    default: Any
    lo: float | None = None
    hi: float | None = None
    step: float | None = None
    choices: tuple = ()
    help: str = ""
    norms: tuple[Norm, ...] = ("linf", "l2")
    scale: float = 1.0
    hi_given: Callable[[Mapping[str, Any]], float] | None = None
    box: bool = False  # a number box instead of a slider (fine-grained floats)

    def applies(self, norm: str) -> bool:
        return norm in self.norms

    def upper(self, values: Mapping[str, Any]) -> float | None:
        """The upper bound given the widget values of the attack's other settings (by key)."""
        return self.hi_given(values) if self.hi_given is not None else self.hi

    def to_value(self, widget_value: Any) -> Any:
        """The threat field or constructor value for a widget value."""
        if self.kind == "int":
            return int(widget_value)
        if self.kind == "float":
            return float(widget_value) / self.scale
        if self.kind == "bool":
            return bool(widget_value)
        return widget_value


@dataclass(frozen=True)
class AttackSpec:
    """An attack's settings: its own parameters (see :class:`AttackParam`)."""

    name: str
    params: tuple[AttackParam, ...] = ()

    def for_norm(self, norm: str) -> tuple[AttackParam, ...]:
        return tuple(p for p in self.params if p.applies(norm))


def _steps(default: int, help: str = "") -> AttackParam:
    return AttackParam("steps", "steps", "Steps", "int", "steps", default, 1, limits.MAX_ATTACK_STEPS, 1, help=help)


def _step_linf(default_k: float) -> AttackParam:
    return AttackParam("step", "step", "Step size (k/255)", "float", "step", default_k, 0.25, 8.0, 0.25,
                       norms=("linf",), scale=255.0, help="How far each step moves every pixel.")


def _step_l2(default: float) -> AttackParam:
    return AttackParam("step_l2", "step", "Step size (L2)", "float", "step", default, 0.01, 10.0, 0.05,
                       norms=("l2",), box=True, help="The L2 length of each step.")


def _rs(default: bool) -> AttackParam:
    return AttackParam("rs", "rs", "Random start", "bool", "random_start", default,
                       help="Start from a random point of the ε-ball instead of the image itself.")


_RESTARTS = AttackParam("restarts", "restarts", "Restarts", "int", "restarts", 1, 1, limits.MAX_RESTARTS, 1,
                        help="Run the attack this many times from different random starts; keep the best.")
_CW_BINARY = AttackParam("bs", "bs", "Binary-search steps over c", "int", "kw:binary_steps", 2, 1, 9, 1)
_CW_ITERS = AttackParam("iters", "iters", "Adam iterations per search step", "int", "kw:iterations", 25, 5,
                        limits.MAX_CW_ITERATIONS, 1,
                        hi_given=lambda v: max(5, limits.MAX_CW_ITERATIONS // max(1, int(v.get("bs", 2)))))
_CW_C = AttackParam("c", "c", "Initial c", "choice", "kw:c_init", 1.0, choices=(0.01, 0.1, 1.0, 10.0),
                    help="The first trade-off constant between the change's size and the misclassification loss.")
_CW_RESPECT = AttackParam("respect", "respect", "Respect ε (project onto the L2 ball)", "bool", "kw:respect_eps",
                          False)
_NFGSM_CLIP = AttackParam("clip", "clip", "Clip to the ε-ball (fair comparison)", "bool", "kw:clip_to_eps", False,
                          help="N-FGSM is a training perturbation; unclipped it may reach 3ε.")

ATTACK_SPECS: dict[str, AttackSpec] = {
    "FGSM": AttackSpec("FGSM"),
    "PGD": AttackSpec("PGD", (_steps(10), _step_linf(1.0), _step_l2(0.25), _rs(True), _RESTARTS)),
    "N-FGSM": AttackSpec("N-FGSM", (_NFGSM_CLIP,)),
    "TRADES-KL": AttackSpec("TRADES-KL", (_steps(10), _step_linf(2.0), _step_l2(0.25))),
    "APGD-CE": AttackSpec("APGD-CE", (_steps(20), _rs(True))),
    "APGD-DLR": AttackSpec("APGD-DLR", (_steps(20), _rs(True))),
    "CW-L2": AttackSpec("CW-L2", (_CW_BINARY, _CW_ITERS, _CW_C, _CW_RESPECT)),
    "Square": AttackSpec("Square", (AttackParam(
        "queries", "queries", "Queries per image", "int", "kw:n_queries", 1000, 10, limits.MAX_SQUARE_QUERIES, 10,
        help="Each query is one forward pass; an image stops once it is fooled."),)),
}


def attack_base(prefix: str, name: str = "PGD") -> dict[str, Any]:
    """The widget values of ``ui.common.attack_picker(prefix)`` when it shows its defaults for
    attack ``name`` (its first norm): what a preset starts from."""
    d = default_threat(name)
    values: dict[str, Any] = {f"{prefix}_attack": name, f"{prefix}_goal": "untargeted", f"{prefix}_seed": 0}
    if len(ATTACKS[name].norms) > 1:
        values[f"{prefix}_norm"] = d.norm
    if d.norm == "linf":
        values[f"{prefix}_eps_linf"] = round(d.eps * 255)
    else:
        values[f"{prefix}_eps_l2"] = d.eps
    for p in ATTACK_SPECS[name].for_norm(d.norm):
        values[f"{prefix}_{p.key}"] = p.default
    return values


def build_settings(name: str, norm: str, eps: float, values: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(ThreatModel keywords, attack keywords) for attack ``name`` from widget values by key
    (missing ones take the default). FGSM-like attacks (one step) take step = ε."""
    d = default_threat(name, norm)
    threat: dict[str, Any] = {"norm": norm, "eps": eps, "step": d.step, "steps": d.steps,
                              "random_start": d.random_start, "restarts": 1}
    kw: dict[str, Any] = {}
    for p in ATTACK_SPECS[name].for_norm(norm):
        v = p.to_value(values.get(p.key, p.default))
        if p.field.startswith("kw:"):
            kw[p.field[3:]] = v
        else:
            threat[p.field] = v
    if d.steps == 1:  # a single step of size ε (FGSM, N-FGSM)
        threat["step"] = eps
    return threat, kw


__all__ = ["ATTACK_SPECS", "AttackParam", "AttackSpec", "COMMON_KEYS", "EPS_L2_MAX", "EPS_LINF_MAX_K", "GOALS",
           "attack_base", "build_settings"]
