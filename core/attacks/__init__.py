"""Attacks: one file per attack, all sharing :mod:`core.attacks.base`.

``ATTACKS`` maps the names the app shows to the attack classes; ``make_attack(name, threat,
**params)`` builds one.
"""
from __future__ import annotations

from core.attacks.base import (Attack, AttackResult, Goal, StepRecord, ThreatModel,
                               attack_objective, project, resolve_targets)
from core.attacks.fgsm import FGSM
from core.attacks.pgd import PGD

ATTACKS: dict[str, type[Attack]] = {
    "FGSM": FGSM,
    "PGD": PGD,
}


def make_attack(name: str, threat: ThreatModel, **params) -> Attack:
    """The attack registered under ``name`` with its threat model and extra parameters."""
    try:
        cls = ATTACKS[name]
    except KeyError:
        raise KeyError(f"unknown attack {name!r}; known: {', '.join(ATTACKS)}") from None
    return cls(threat, **params)


__all__ = ["ATTACKS", "Attack", "AttackResult", "Goal", "StepRecord", "ThreatModel", "make_attack",
           "attack_objective", "project", "resolve_targets"]
