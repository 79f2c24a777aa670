"""Attacks: one file per attack, all sharing :mod:`core.attacks.base`.

``ATTACKS`` maps the names the app shows to the attack classes; ``make_attack(name, threat,
**params)`` builds one. ``ATTACK_INFO`` has a short newcomer-friendly description of each (the
classes' ``summary``), ``DEFAULT_THREATS`` / :func:`default_threat` the interactive CPU defaults
(table in docs/ALGORITHMS.md), and :mod:`core.attacks.specs` the declarative description of each
attack's settings.
"""
from __future__ import annotations

from core.attacks.apgd import APGD, APGDCE, APGDDLR, apgd_checkpoints, apgd_should_halve, dlr_loss
from core.attacks.base import (Attack, AttackResult, Goal, Norm, StepRecord, ThreatModel,
                               attack_objective, project, resolve_targets)
from core.attacks.cw import CWL2
from core.attacks.fgsm import FGSM
from core.attacks.nfgsm import NFGSM
from core.attacks.pgd import PGD
from core.attacks.square import Square
from core.attacks.trades import TradesKL

ATTACKS: dict[str, type[Attack]] = {
    "FGSM": FGSM,
    "PGD": PGD,
    "N-FGSM": NFGSM,
    "TRADES-KL": TradesKL,
    "APGD-CE": APGDCE,
    "APGD-DLR": APGDDLR,
    "CW-L2": CWL2,
    "Square": Square,
}

# A short newcomer-friendly description of each attack (its class's ``summary``).
ATTACK_INFO: dict[str, str] = {name: cls.summary for name, cls in ATTACKS.items()}

# Interactive CPU defaults (docs/ALGORITHMS.md). ``step``/``steps`` of attacks that ignore
# them are set to what the attack actually does, for display.
DEFAULT_THREATS: dict[str, ThreatModel] = {
    "FGSM": ThreatModel(norm="linf", eps=4 / 255, step=4 / 255, steps=1, random_start=False),
    "PGD": ThreatModel(norm="linf", eps=4 / 255, step=1 / 255, steps=10, random_start=True, restarts=1),
    "N-FGSM": ThreatModel(norm="linf", eps=8 / 255, step=8 / 255, steps=1, random_start=True),
    "TRADES-KL": ThreatModel(norm="linf", eps=8 / 255, step=2 / 255, steps=10, random_start=True),
    "APGD-CE": ThreatModel(norm="linf", eps=4 / 255, step=8 / 255, steps=20, random_start=True),
    "APGD-DLR": ThreatModel(norm="linf", eps=4 / 255, step=8 / 255, steps=20, random_start=True),
    "CW-L2": ThreatModel(norm="l2", eps=1.0, step=0.01, steps=50, random_start=False),
    # Square ignores step/steps (its budget is n_queries); random_start is part of the method.
    "Square": ThreatModel(norm="linf", eps=4 / 255, step=4 / 255, steps=1, random_start=True),
}

# L2 defaults for the attacks that support both norms (224 px images: ε = 1.0, α = ε/4).
DEFAULT_L2_THREATS: dict[str, ThreatModel] = {
    "FGSM": ThreatModel(norm="l2", eps=1.0, step=1.0, steps=1, random_start=False),
    "PGD": ThreatModel(norm="l2", eps=1.0, step=0.25, steps=10, random_start=True),
    "TRADES-KL": ThreatModel(norm="l2", eps=1.0, step=0.25, steps=10, random_start=True),
    "APGD-CE": ThreatModel(norm="l2", eps=1.0, step=2.0, steps=20, random_start=True),
    "APGD-DLR": ThreatModel(norm="l2", eps=1.0, step=2.0, steps=20, random_start=True),
    "CW-L2": DEFAULT_THREATS["CW-L2"],
    "Square": ThreatModel(norm="l2", eps=1.0, step=1.0, steps=1, random_start=True),
}


def default_threat(name: str, norm: Norm | None = None) -> ThreatModel:
    """The CPU default threat model of an attack, for its first norm or the given one."""
    if name not in ATTACKS:
        raise KeyError(f"unknown attack {name!r}; known: {', '.join(ATTACKS)}")
    if norm is None or norm == DEFAULT_THREATS[name].norm:
        return DEFAULT_THREATS[name]
    if norm not in ATTACKS[name].norms or name not in DEFAULT_L2_THREATS:
        raise ValueError(f"{name} supports {', '.join(ATTACKS[name].norms)}, not {norm}")
    return DEFAULT_L2_THREATS[name]


def make_attack(name: str, threat: ThreatModel | None = None, **params) -> Attack:
    """The attack registered under ``name`` with its threat model (default:
    :func:`default_threat`) and extra parameters (passed to its constructor)."""
    try:
        cls = ATTACKS[name]
    except KeyError:
        raise KeyError(f"unknown attack {name!r}; known: {', '.join(ATTACKS)}") from None
    return cls(threat if threat is not None else default_threat(name), **params)


__all__ = ["APGD", "ATTACKS", "ATTACK_INFO", "Attack", "AttackResult", "CWL2", "DEFAULT_L2_THREATS",
           "DEFAULT_THREATS", "FGSM", "Goal", "NFGSM", "PGD", "Square", "StepRecord", "ThreatModel", "TradesKL",
           "apgd_checkpoints", "apgd_should_halve", "attack_objective", "default_threat", "dlr_loss", "make_attack", "project",
           "resolve_targets"]
