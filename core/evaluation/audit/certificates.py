"""Certificate audit: attack a smoothed classifier *itself* inside each certified radius and count
the certified predictions that flip.

A randomized-smoothing certificate (Cohen, Rosenfeld, Kolter, "Certified Adversarial Robustness via
Randomized Smoothing", ICML 2019, arXiv 1902.02918) says: with probability ≥ 1 − α over the
certification's noise, the smoothed classifier g keeps class c_A for every x' with ‖x' − x‖₂ < R;
more precisely P[F(x' + n) = c_A] ≥ Φ(Φ⁻¹(p̲_A) − ‖x' − x‖/σ) > ½ there. A point inside R where
c_A has lost its majority is a broken certificate. A sound certificate can still be broken by
chance in at most an α share of certified inputs; a wrong theorem (or an inflated radius) is
broken far more often, when the attack is strong enough to find the points.

The attack (Salman et al., "Provably Robust Deep Learning via Adversarially Trained Smoothed
Classifiers", NeurIPS 2019, arXiv 1906.04584: PGD on the smoothed soft classifier with an
expectation over noise draws, EOT), per certified input, with the L2 budget ρ = ``shrink``·R just
inside the radius (default 0.98):

* ``soft`` — PGD-L2 maximising −log E_n[s_{c_A}(x + δ + n)], s the normalised vote scores,
  ``eot`` fresh noise draws per step (the soft smoothed classifier);
* ``vote`` — PGD-L2 maximising E_n[sigmoid((max_{c≠c_A} log s_c − log s_{c_A}) / τ)], a smooth
  count of the noisy votes that leave c_A (the majority vote; τ = ``temperature``);

``steps`` normalised-gradient steps of 2.5ρ/steps, projection on the ball, then on [0, 1] (which
keeps the point in the ball). Confirmation: the attacked point's votes are screened with
``screen_n`` fresh draws; when c_A's share is below its promised bound + 0.1, ``confirm_n`` more
fresh draws give a one-sided (1 − ``confirm_alpha``) Clopper–Pearson upper bound p̄ on its share:
a **flip** counts only when p̄ < ½ (c_A provably lost the majority), a **bound violation** when
p̄ is below the certificate's promise Φ((R − ‖δ‖)/σ) (= Φ(Φ⁻¹(p̲_A) − ‖δ‖/σ) for Cohen's R). Counts are reported with their exact
95 % interval (:func:`core.judging.stats.accuracy_interval`).

A smoothed classifier is anything with ``sigma``, ``lift(x)`` (where the noise is added: the input
itself, or the stacked sub-sequences of Smooth-Reduce's independent-noise variant) and ``scores``
(a module mapping a noisy lifted input (B, …) to non-negative scores (B, C) whose argmax is the
vote). :class:`ImageSmoothed` adapts the image defenses of :mod:`core.defenses.smoothing`;
:class:`core.defenses.smooth_reduce_sequences.SmoothedSequenceClassifier` is one already.
Defaults: shrink 0.98, steps 20, eot 16, τ = 0.25, screen 256, confirm 2,000 at α = 0.001.
Deviations from Salman et al.: no random restarts; the vote attack is this project's addition.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
import torch
from scipy.stats import norm
from torch import nn

from core.defenses.smoothing import RandomizedSmoothing, clopper_pearson_lower, sample_counts
from core.judging.stats import accuracy_interval
from core.runtime.paths import ASSETS as ASSETS_ROOT

AUDIT_PATH = ASSETS_ROOT / "sequences" / "certificate_audit.json"
POINTS_PATH = AUDIT_PATH.with_name("certificate_audit_points.npz")
AttackKind = Literal["soft", "vote"]
ATTACKS: tuple[AttackKind, ...] = ("soft", "vote")


class Smoothed(Protocol):
    """What the audit needs of a smoothed classifier."""

    sigma: float
    scores: nn.Module

    def lift(self, x: torch.Tensor) -> torch.Tensor: ...


class _Softmax(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, z: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.model(z).softmax(-1)


class ImageSmoothed:
    """An image smoothing defense (randomized smoothing or Smooth-Reduce) as the audit sees it."""

    def __init__(self, defense: RandomizedSmoothing) -> None:
        self.defense = defense
        self.sigma = defense.sigma
        self.scores = _Softmax(defense.base_classifier())

    def lift(self, x: torch.Tensor) -> torch.Tensor:
        return x


@dataclass(frozen=True)
class AuditSettings:
    """The attack and confirmation settings (see the module docstring)."""

    shrink: float = 0.98
    steps: int = 20
    eot: int = 16
    temperature: float = 0.25
    screen_n: int = 256
    confirm_n: int = 2000
    confirm_alpha: float = 0.001
    batch_size: int = 256
    clip: bool = True
    attacks: tuple[str, ...] = ATTACKS


@dataclass
class InputAudit:
    """One certified input's audit."""

    certified_class: int
    radius: float
    p_lower: float
    distance: float = 0.0  # ‖δ‖ of the strongest attack point found
    attack: str = ""
    share: float = 1.0  # c_A's share of the screening votes there
    p_upper: float | None = None  # confirmed upper bound (None: not confirmed, screen looked safe)
    promised: float = 1.0  # the certificate's bound at that distance
    flipped: bool = False
    violated: bool = False
    x_adv: torch.Tensor | None = field(default=None, repr=False)


def promised_share(radius: float, distance: float, sigma: float) -> float:
    """Φ((R − d)/σ): the least share of c_A a certificate of radius R promises at distance d (for
    Cohen's R = σ·Φ⁻¹(p̲_A) this is Φ(Φ⁻¹(p̲_A) − d/σ); an inflated R promises more)."""
    return float(norm.cdf((radius - distance) / sigma))


def clopper_pearson_upper(k: int, n: int, alpha: float) -> float:
    """One-sided (1 − α) Clopper–Pearson upper bound of k/n (1 when k = n)."""
    return 1.0 - clopper_pearson_lower(n - k, n, alpha)


def _votes(clf: Smoothed, x: torch.Tensor, num: int, gen: torch.Generator, batch: int) -> torch.Tensor:
    counts, _ = sample_counts(clf.scores, clf.lift(x).contiguous(), clf.sigma, num, batch_size=batch, gen=gen)
    return counts


def _objective(clf: Smoothed, x: torch.Tensor, c: int, kind: str, eot: int, tau: float,
               gen: torch.Generator) -> torch.Tensor:
    """The quantity PGD increases, for one input (1, …) with gradient."""
    z = clf.lift(x)
    noise = torch.randn((eot, *z.shape[1:]), generator=gen, device=z.device, dtype=z.dtype) * clf.sigma
    s = clf.scores(z + noise).clamp_min(1e-12)
    p = s / s.sum(-1, keepdim=True)
    if kind == "soft":
        return -torch.log(p[:, c].mean().clamp_min(1e-12))
    logp = p.log()
    other = logp.clone()
    other[:, c] = -math.inf
    return torch.sigmoid((other.amax(-1) - logp[:, c]) / tau).mean()


def pgd_on_smoothed(clf: Smoothed, x: torch.Tensor, c: int, rho: float, kind: str, settings: AuditSettings,
                    gen: torch.Generator) -> torch.Tensor:
    """PGD-L2 with EOT on the smoothed classifier: a point within ``rho`` of ``x`` (1, …)."""
    delta = torch.zeros_like(x)
    step = 2.5 * rho / max(1, settings.steps)
    for _ in range(settings.steps):
        delta.requires_grad_(True)
        obj = _objective(clf, x + delta, c, kind, settings.eot, settings.temperature, gen)
        (g,) = torch.autograd.grad(obj, delta)
        with torch.no_grad():
            gn = g.norm()
            if not torch.isfinite(gn) or gn == 0:
                break
            delta = delta + step * g / gn
            nrm = delta.norm()
            if nrm > rho:
                delta = delta * (rho / nrm)
            if settings.clip:
                delta = (x + delta).clamp(0, 1) - x
        delta = delta.detach()
    return (x + delta).detach()


def audit_input(clf: Smoothed, x: torch.Tensor, c: int, radius: float, p_lower: float,
                settings: AuditSettings = AuditSettings(), seed: int = 0) -> InputAudit:
    """Attack one certified input (1, …) inside ``shrink``·radius and confirm any flip."""
    out = InputAudit(certified_class=int(c), radius=float(radius), p_lower=float(p_lower))
    if c < 0 or radius <= 0:
        return out
    gen = torch.Generator(device=x.device).manual_seed(int(seed))
    rho = settings.shrink * radius
    best = None
    for kind in settings.attacks:
        xa = pgd_on_smoothed(clf, x, c, rho, kind, settings, gen)
        counts = _votes(clf, xa, settings.screen_n, gen, settings.batch_size)
        share = float(counts[c]) / settings.screen_n
        if best is None or share < best[1]:
            best = (kind, share, xa)
    kind, share, xa = best
    d = float((xa - x).norm())
    out.attack, out.share, out.distance, out.x_adv = kind, share, d, xa
    out.promised = promised_share(radius, d, clf.sigma)
    if share < out.promised + 0.1:
        counts = _votes(clf, xa, settings.confirm_n, gen, settings.batch_size)
        out.p_upper = clopper_pearson_upper(int(counts[c]), settings.confirm_n, settings.confirm_alpha)
        out.flipped = out.p_upper < 0.5
        out.violated = out.p_upper < out.promised
    return out


@dataclass
class AuditSummary:
    """The audit of one smoothed classifier over several inputs."""

    name: str
    certified: int
    flips: int
    violations: int
    flips_ci95: list[float]
    violations_ci95: list[float]
    min_share: float  # lowest screened share of c_A at any attacked point
    per_input: list[dict]

    def as_dict(self) -> dict:
        return asdict(self)


def summarize(name: str, audits: list[InputAudit]) -> AuditSummary:
    """Counts over the certified inputs, with exact 95 % intervals."""
    cert = [a for a in audits if a.certified_class >= 0 and a.radius > 0]
    flips = sum(a.flipped for a in cert)
    viol = sum(a.violated for a in cert)
    rows = [{k: v for k, v in asdict(a).items() if k != "x_adv"} for a in audits]
    return AuditSummary(name=name, certified=len(cert), flips=flips, violations=viol,
                        flips_ci95=accuracy_interval(flips, len(cert)).as_list(),
                        violations_ci95=accuracy_interval(viol, len(cert)).as_list(),
                        min_share=min((a.share for a in cert), default=1.0), per_input=rows)


def load_audit(path: Path = AUDIT_PATH) -> dict:
    """The stored audit (``tools/audit_certificates.py``): one block per part; {} when absent."""
    return json.loads(path.read_text()) if path.exists() else {}


def audit_point(part: str, variant_index: int, input_index: int, path: Path = POINTS_PATH) -> torch.Tensor | None:
    """The stored attacked input of one audited certificate (float32), or None when not stored."""
    if not path.exists():
        return None
    key = f"{part}__{variant_index}__{input_index}"
    with np.load(path, allow_pickle=False) as d:
        return torch.from_numpy(d[key].astype(np.float32)) if key in d.files else None


__all__ = ["AUDIT_PATH", "POINTS_PATH", "audit_point", "load_audit", "ATTACKS", "AuditSettings", "AuditSummary", "ImageSmoothed", "InputAudit", "Smoothed", "audit_input",
           "clopper_pearson_upper", "pgd_on_smoothed", "promised_share", "summarize"]
