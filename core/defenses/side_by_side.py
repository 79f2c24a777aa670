"""One attack against several defenses, side by side (what the Defenses page shows).

Two kinds of attacker:

* **non-adaptive** (``adaptive=False``): the attack runs once on the *undefended* model and each
  defense then classifies that adversarial image. This is how many defenses were first
  evaluated, and it overstates their robustness;
* **adaptive** (``adaptive=True``): the attack runs separately against each defense, through
  ``defense.as_model(adaptive=True)`` (plain gradients, BPDA or EOT, as the defense declares),
  or, for the equivariance defense with ``equivariance_attacker="equivariance-aware"``, the
  paper's CE − λ·L_equi attacker on the base model.

The reference label is given by the caller (the page uses the clean prediction of the
undefended model unless the user says otherwise).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import nn

from core.attacks import AttackResult, Goal, ThreatModel, make_attack
from core.defenses.base import Defense, DefenseOutput
from core.defenses.equivariance import EquivariancePurification
from core.runtime.progress import ProgressFn, report


@dataclass
class DefenseRow:
    """One defense's result on the attacked image (and optionally on the clean one)."""

    name: str
    defense: Defense
    output: DefenseOutput  # on the adversarial image
    attack: AttackResult | None  # the attack this row was evaluated on
    adaptive: bool
    attacker: str  # e.g. "PGD via BPDA", "PGD on the undefended model"
    pred: int  # −1 = abstain (certified defenses)
    p_ref: float  # probability (or vote share) of the reference class
    p_pred: float
    correct: bool
    clean_output: DefenseOutput | None = None
    clean_pred: int | None = None

    @property
    def elapsed_s(self) -> float:
        return self.output.elapsed_s


@dataclass
class Comparison:
    label: int
    adaptive: bool
    base_attack: AttackResult | None  # the attack on the undefended model (always computed)
    rows: list[DefenseRow] = field(default_factory=list)
    elapsed_s: float = 0.0


def _prediction(out: DefenseOutput, label: int) -> tuple[int, float, float]:
    p = out.logits.detach().float().softmax(1)[0].cpu()
    pred = int(p.argmax())
    if out.certificate is not None:
        pred = int(out.certificate.predicted[0])
    return pred, float(p[label]), float(p[pred]) if pred >= 0 else 0.0


def attacker_description(defense: Defense, attack_name: str, adaptive: bool,
                         equivariance_attacker: str = "bpda") -> str:
    """A short phrase saying how the attacker treated this defense."""
    if not adaptive:
        return f"{attack_name} on the undefended model (non-adaptive)"
    if isinstance(defense, EquivariancePurification) and equivariance_attacker == "equivariance-aware":
        return "PGD on CE − λ·L_equi (the paper's adaptive attacker)"
    route = {"plain": "plain gradients", "bpda": "BPDA (identity backward)", "eot": "EOT (averaged over noise)"}
    return f"{attack_name} via {route[defense.adaptive_route]}"


def compare_defenses(model: nn.Module, x: torch.Tensor, label: int, defenses: dict[str, Defense], *,
                     attack_name: str, threat: ThreatModel, attack_params: dict | None = None,
                     goal: Goal = Goal(), seed: int = 0, adaptive: bool = False,
                     equivariance_attacker: Literal["bpda", "equivariance-aware"] = "bpda", lam: float = 1.0,
                     classify_clean: bool = False, progress: ProgressFn = None) -> Comparison:
    """Attack ``x`` (1, 3, H, W) and classify the result with every defense; see module docstring."""
    t0 = time.perf_counter()
    y = torch.tensor([int(label)])
    params = attack_params or {}
    n_jobs = 1 + len(defenses) * (2 if adaptive else 1) + (len(defenses) if classify_clean else 0)
    done = 0

    def sub(msg: str) -> ProgressFn:
        if progress is None:
            return None
        base = done

        def f(d: int, t: int, m: str = "") -> None:
            progress(base * 1000 + int(1000 * d / max(t, 1)), n_jobs * 1000, f"{msg}: {m}")
        return f

    attack = make_attack(attack_name, threat, **params)
    base = attack.run(model, x, y, goal, seed=seed, progress=sub(f"{attack_name} on the undefended model"))
    done += 1
    cmp = Comparison(label=int(label), adaptive=adaptive, base_attack=base)
    for name, d in defenses.items():
        res = base
        if adaptive:
            if isinstance(d, EquivariancePurification) and equivariance_attacker == "equivariance-aware":
                atk = d.adaptive_attack(threat, lam=lam)
                res = atk.run(model, x, y, goal, seed=seed, progress=sub(f"adaptive attack on {name}"))
            else:
                res = attack.run(d.as_model(adaptive=True, seed=seed), x, y, goal, seed=seed,
                                 progress=sub(f"adaptive attack on {name}"))
            done += 1
        out = d.defend(res.x_adv, seed=seed + 1, progress=sub(f"{name} on the attacked image"))
        done += 1
        pred, p_ref, p_pred = _prediction(out, label)
        row = DefenseRow(name=name, defense=d, output=out, attack=res, adaptive=adaptive,
                         attacker=attacker_description(d, attack_name, adaptive, equivariance_attacker),
                         pred=pred, p_ref=p_ref, p_pred=p_pred, correct=pred == int(label))
        if classify_clean:
            row.clean_output = d.defend(x, seed=seed + 2, progress=sub(f"{name} on the clean image"))
            row.clean_pred = _prediction(row.clean_output, label)[0]
            done += 1
        cmp.rows.append(row)
    report(progress, n_jobs * 1000, n_jobs * 1000, "done")
    cmp.elapsed_s = time.perf_counter() - t0
    return cmp
