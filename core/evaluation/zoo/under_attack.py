"""What the zoo page computes: one image attacked on several zoo models, live accuracy-versus-ε
curves on a small batch, and the CIFS model's channel masks. No Streamlit here.

Attacks come from :mod:`core.attacks` (white-box, on each model separately, the same seed for
every model), so "held" means: this model's own attacker did not flip it at this budget.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from core.attacks import make_attack
from core.attacks.base import ThreatModel
from core.runtime.progress import ProgressFn, report
from core.evaluation.zoo.cards import CURVE_STEPS, accuracy_curve

ZOO_ATTACKS = ("FGSM", "PGD", "APGD-CE")


def zoo_threat(attack: str, eps: float, steps: int = 20) -> ThreatModel:
    """The threat model of the page's attacks: L∞ ε; PGD step 2.5ε/steps with random start;
    APGD-CE ``steps`` iterations with random start; FGSM one step of ε."""
    if attack == "FGSM":
        return ThreatModel(norm="linf", eps=eps, step=eps, steps=1, random_start=False)
    if attack == "PGD":
        return ThreatModel(norm="linf", eps=eps, step=2.5 * eps / steps, steps=steps, random_start=True)
    if attack == "APGD-CE":
        return ThreatModel(norm="linf", eps=eps, step=eps, steps=steps, random_start=True)
    raise ValueError(f"the zoo page offers {', '.join(ZOO_ATTACKS)}, not {attack!r}")


@dataclass
class ModelOutcome:
    """One model's result on the shared image."""

    name: str
    x_adv: torch.Tensor  # (1, C, 28, 28)
    clean_probs: torch.Tensor  # (10,)
    adv_probs: torch.Tensor  # (10,)
    label: int

    @property
    def clean_pred(self) -> int:
        return int(self.clean_probs.argmax())

    @property
    def adv_pred(self) -> int:
        return int(self.adv_probs.argmax())

    @property
    def held(self) -> bool:
        """Correct before and after the attack."""
        return self.clean_pred == self.label and self.adv_pred == self.label


def attack_each(models: dict[str, nn.Module], x: torch.Tensor, label: int, attack: str, eps: float, steps: int = 20,
                seed: int = 0, progress: ProgressFn = None) -> list[ModelOutcome]:
    """Attack the same image (1, C, 28, 28) on each model with its own gradients."""
    threat = zoo_threat(attack, eps, steps)
    out = []
    for i, (name, model) in enumerate(models.items()):
        dev = next(model.parameters()).device
        xd, y = x.to(dev), torch.tensor([int(label)], device=dev)
        if eps > 0:
            x_adv, _ = make_attack(attack, threat).perturb(model, xd, y, seed=seed)
        else:
            x_adv = xd
        with torch.no_grad():
            pc, pa = model(xd).softmax(1)[0].cpu(), model(x_adv).softmax(1)[0].cpu()
        out.append(ModelOutcome(name, x_adv.cpu(), pc, pa, int(label)))
        report(progress, i + 1, len(models), name)
    return out


def live_curves(models: dict[str, nn.Module], x: torch.Tensor, y: torch.Tensor, eps_list: tuple[float, ...],
                steps: int = CURVE_STEPS, seed: int = 0, progress: ProgressFn = None) -> dict[str, list[dict]]:
    """{model: [{"eps", "accuracy", "correct", "n"}]}: :func:`core.evaluation.zoo.cards.accuracy_curve`
    (the cards' PGD-10 curve) on a small batch, for each model."""
    out: dict[str, list[dict]] = {}
    for j, (name, model) in enumerate(models.items()):
        def sub(d: int, t: int, msg: str, j: int = j, name: str = name) -> None:
            report(progress, j * t + d, len(models) * t, f"{name}, {msg}")

        out[name] = accuracy_curve(model, x, y, eps_list, steps=steps, batch_size=max(1, x.shape[0]), seed=seed,
                                   progress=sub)
    return out


@torch.no_grad()
def cifs_masks(model: nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """The CIFS channel masks (test-time, top-2 of each probe) of a CIFS zoo model: {stage: (N, C)}."""
    net = model.net
    if getattr(net, "cifs", None) is None:
        raise ValueError("this model has no CIFS modules")
    dev = next(model.parameters()).device
    _, _, feats = model.forward_train(x.to(dev))
    return {k[: -len("_mask")]: v.cpu() for k, v in feats.items() if k.endswith("_mask")}
