"""Robustness curves for one image: confidence and correctness against ε, the smallest ε that
flips the label, and the certified radius against σ.

"How strong must the attack be?" is answered with a curve rather than one example, after
Foolbox 3 (one attack call over a list of ε returns success per ε; Rauber et al., JOSS 2020).

* :func:`robustness_curves` runs each chosen attack over a list of ε and classifies every
  adversarial image with the bare model and with each chosen defense. Attacks that accept a
  per-example ε (FGSM, PGD, APGD-CE/DLR: ``Attack.per_example_eps``) run **once per attack**:
  the image is replicated along the batch dimension, one ε per row. The others (N-FGSM,
  TRADES-KL, CW-L2) run once per ε. With ``adaptive=True`` the attack additionally runs
  against each defense through ``defense.as_model(adaptive=True)`` (plain/BPDA/EOT).
* :data:`WORST_CASE` (``"Worst case"``) is a curve attack too: at every ε > 0 the worst-case
  ensemble (:mod:`core.evaluation.ensemble`: APGD-CE, targeted APGD-DLR, Square) runs on the image, with the
  template's steps as APGD's iterations and ``n_targets``/``square_queries`` from its params. It
  is untargeted, runs once per ε, and records which attack found each adversarial image
  (``found_by``); where the whole ensemble fails, the point classifies the clean image (the
  ensemble keeps no failed example), so its confidence is the clean one.
* :func:`min_flip_eps` finds the smallest ε at which an attack changes the label, by bisection
  (:func:`core.explain.feature_maps.min_eps_bisection`), bracketed by the curve's own points.
* :func:`certified_radius_curve` runs Cohen et al.'s CERTIFY (:mod:`core.defenses.smoothing`)
  for several σ.

Step size along the curve (``step_rule``): ``"scale"`` (default) keeps the template's ratio
α/ε, so α = ε·(template α / template ε) at every point (PGD's α = ε/4 stays ε/4); ``"fixed"``
uses the template's α everywhere. :func:`threat_at` builds the threat model of one point; a
single-ε run with ``make_attack(name, threat_at(template, ε))`` at the same seed is what row ε
of the curve computes.

Agreement with single-ε runs at the same seed (tested):

* FGSM and PGD without random start (L∞): identical images. The batched forward pass of a
  convolutional model may differ from a single-image pass in the last bits; the sign of the
  gradient absorbs this for L∞, while for L2 the rows agree to about 1e-7.
* With random start the batch uses ``shared_start=True``: every row draws the *same* unit noise
  from the generator seeded with ``seed`` (the draws a single-image call makes), scaled by its
  own ε. Row ε of the curve therefore equals a single run at ε with the same seed (PGD L∞:
  identical; APGD likewise), and neighbouring points of the curve share their random start
  (common random numbers), so the curve is not jagged from noise alone.
* Restarts: restart r of every row uses the r-th draw of the same generator, as a single run.
* Attacks run once per ε use ``seed`` for every ε.
* Defenses classify the batch of adversarial images with ``seed + 1`` (as the Defenses page);
  randomised defenses (smoothing) give row i the noise seed ``seed + 1 + i``. Adaptive attacks
  through a randomised defense draw per-call noise for the whole batch, so their rows are not
  bit-identical to single-image runs.

Success and correctness: ``correct`` means the (defended) prediction is the label;
``success`` means the attack's goal was reached (untargeted: the prediction is a class other
than the label; targeted: the prediction is the target). An abstention of a certified defense
(prediction −1) is neither correct nor a success. ``confidence`` is the probability of the label
(for smoothing defenses: the label's share of the noisy votes).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Literal
from collections.abc import Sequence

import torch
from torch import nn

from core.runtime import limits
from core.attacks import ATTACKS, Goal, ThreatModel, default_threat, make_attack, resolve_targets
from core.models.fast import fast_view
from core.defenses.base import Defense
from core.defenses.smoothing import RandomizedSmoothing
from core.evaluation.ensemble import WORST_CASE, WORST_CASE_NORMS, WORST_CASE_PARAMS, EnsembleConfig, worst_case
from core.explain.feature_maps import Bisection, min_eps_bisection
from core.runtime.progress import ProgressFn, report, stage

StepRule = Literal["scale", "fixed"]
NO_DEFENSE = "No defense"


# --------------------------------------------------------------------------- settings
@dataclass(frozen=True)
class CurveAttack:
    """One attack of a curve: its registered name, a template threat model (norm, steps,
    random start, restarts; its ε and α fix the step ratio), constructor parameters, and how
    the step size follows ε."""

    name: str
    threat: ThreatModel
    params: tuple[tuple[str, object], ...] = ()
    step_rule: StepRule = "scale"

    def __post_init__(self) -> None:
        if self.name not in ATTACKS and self.name != WORST_CASE:
            raise KeyError(f"unknown attack {self.name!r}; known: {', '.join([*ATTACKS, WORST_CASE])}")
        if self.step_rule not in ("scale", "fixed"):
            raise ValueError(f"step_rule must be 'scale' or 'fixed', not {self.step_rule!r}")
        if self.threat.norm not in self.norms:
            raise ValueError(f"{self.name} supports {', '.join(self.norms)}, not {self.threat.norm}")
        if self.name == WORST_CASE:
            bad = [k for k, _ in self.params if k not in WORST_CASE_PARAMS]
            if bad:
                raise ValueError(f"{WORST_CASE} takes {', '.join(WORST_CASE_PARAMS)}, not {', '.join(bad)}")
            self.ensemble_config(self.threat.eps or 1e-3)  # the ensemble's own checks (steps, targets, queries)

    @property
    def norms(self) -> tuple[str, ...]:
        return WORST_CASE_NORMS if self.name == WORST_CASE else tuple(ATTACKS[self.name].norms)

    def ensemble_config(self, eps: float) -> EnsembleConfig:
        """The worst-case ensemble's budget at one ε (APGD iterations = the template's steps)."""
        return EnsembleConfig(norm=self.threat.norm, eps=float(eps), apgd_steps=self.threat.steps, **self.kwargs)

    @property
    def kwargs(self) -> dict:
        return dict(self.params)

    @property
    def batched(self) -> bool:
        """Whether one batched run covers every ε."""
        return self.name != WORST_CASE and bool(ATTACKS[self.name].per_example_eps)


# Curve-specific attack settings: CW must respect ε and N-FGSM must stay in the ε-ball, or the
# x-axis would not bound the perturbation.
CURVE_PARAMS: dict[str, tuple[tuple[str, object], ...]] = {"CW-L2": (("respect_eps", True),),
                                                           "N-FGSM": (("clip_to_eps", True),)}


def curve_attacks_for(names: Sequence[str], norm: str, *, steps: int, step_ratio: float, random_start: bool,
                      worst_case: tuple[tuple[str, object], ...] = ()) -> list[CurveAttack]:
    """The Robustness curves page's attacks: a template at ε = 4/255 (L∞) or 1 (L2) with α =
    ε·``step_ratio``; ``random_start`` for PGD, APGD and the worst case (the others keep their
    default); :data:`CURVE_PARAMS` for CW-L2 and N-FGSM, ``worst_case`` for :data:`WORST_CASE`."""
    eps0 = 1.0 if norm == "l2" else 4 / 255
    out = []
    for a in names:
        start = random_start if a in ("PGD", "APGD-CE", "APGD-DLR", WORST_CASE) else default_threat(a, norm).random_start
        out.append(CurveAttack(a, ThreatModel(norm=norm, eps=eps0, step=eps0 * step_ratio, steps=steps,
                                              random_start=start),
                               worst_case if a == WORST_CASE else CURVE_PARAMS.get(a, ())))
    return out


def threat_at(template: ThreatModel, eps: float, step_rule: StepRule = "scale") -> ThreatModel:
    """The threat model of one point of a curve: ``template`` with ε replaced and α following
    ``step_rule`` (``"scale"``: α = ε·template.step/template.eps, or template.step when
    template.eps is 0; ``"fixed"``: template.step)."""
    eps = float(eps)
    if step_rule == "scale" and template.eps > 0:
        step = eps * (template.step / template.eps)
    else:
        step = template.step
    return ThreatModel(norm=template.norm, eps=eps, step=step, steps=template.steps,
                       random_start=template.random_start, restarts=template.restarts)


def check_eps_list(eps: Sequence[float], norm: str) -> list[float]:
    """Validated, sorted, de-duplicated ε values (at most ``limits.MAX_CURVE_EPS``)."""
    vals = sorted({float(e) for e in eps})
    if not vals:
        raise ValueError("give at least one ε")
    if len(vals) > limits.MAX_CURVE_EPS:
        raise ValueError(f"at most {limits.MAX_CURVE_EPS} ε values per curve, got {len(vals)}")
    for e in vals:
        if not (math.isfinite(e) and e >= 0):
            raise ValueError(f"ε must be finite and >= 0, not {e!r}")
        if norm == "linf" and e > 1:
            raise ValueError("an L∞ ε above 1 covers the whole [0, 1] box")
    return vals


# --------------------------------------------------------------------------- one attack over ε
@dataclass
class EpsSweep:
    """The adversarial images of one attack over a list of ε, for one image."""

    attack: str
    eps: list[float]
    x_adv: torch.Tensor  # (K, 3, H, W) on the CPU
    target: int | None  # the target class (targeted goals) or None
    batched: bool
    elapsed_s: float
    threats: list[ThreatModel] = field(default_factory=list)
    found_by: list[str] | None = None  # worst case: per ε, the attack that fooled the image ("" if none)


def _worst_case_over_eps(target_model: nn.Module, x: torch.Tensor, y: torch.Tensor, attack: CurveAttack,
                         eps: list[float], seed: int, progress: ProgressFn) -> tuple[torch.Tensor, list[str]]:
    """The worst-case ensemble at each ε (the clean image at ε = 0): images and who found them."""
    outs, found = [], []
    for i, e in enumerate(eps):
        if e == 0:
            outs.append(x.cpu())
            found.append("")
            continue
        sub = None if progress is None else (
            lambda d, t, m, i=i: progress(i * 1000 + int(1000 * d / max(t, 1)), len(eps) * 1000,
                                          f"ε {i + 1}/{len(eps)}: {m}"))
        r = worst_case(target_model, x, y, attack.ensemble_config(e), seed=seed, progress=sub)
        outs.append(r.x_adv)
        found.append("" if r.found_by[0] == "clean" else r.found_by[0])
    return torch.cat(outs), found


def attack_over_eps(target_model: nn.Module, x: torch.Tensor, label: int, attack: CurveAttack,
                    eps: Sequence[float], *, goal: Goal = Goal(), seed: int = 0,
                    progress: ProgressFn = None) -> EpsSweep:
    """Attack one image ``x`` (1, 3, H, W) at every ε: one batched run (one row per ε) where
    the attack allows it, else one run per ε. See the module docstring for the seeds."""
    if x.dim() != 4 or x.shape[0] != 1:
        raise ValueError("attack_over_eps takes one image of shape (1, 3, H, W)")
    t0 = time.perf_counter()
    eps = [float(e) for e in eps]
    threats = [threat_at(attack.threat, e, attack.step_rule) for e in eps]
    dev = next((p.device for p in target_model.parameters()), x.device)
    xd = x.detach().to(dev)
    y1 = torch.tensor([int(label)], device=dev)
    targets = None
    if goal.mode != "untargeted":  # only a targeted goal needs the clean logits
        with torch.no_grad():
            targets = resolve_targets(target_model(xd), goal)
    tgt = None if targets is None else int(targets[0])
    found_by = None
    if attack.name == WORST_CASE:
        if targets is not None:
            raise ValueError(f"{WORST_CASE} is untargeted (any wrong class); choose the goal 'any wrong class'")
        x_adv, found_by = _worst_case_over_eps(target_model, xd, y1, attack, eps, seed, progress)
    elif attack.batched:
        atk = make_attack(attack.name, threats[-1], **attack.kwargs)
        k = len(eps)
        xs = xd.expand(k, *xd.shape[1:]).contiguous()
        ys = y1.expand(k).contiguous()
        t_rows = None if targets is None else targets.expand(k).contiguous()
        x_adv, _ = atk.perturb(target_model, xs, ys, goal, seed=seed, progress=progress, targets=t_rows,
                               eps_per_example=torch.tensor([t.eps for t in threats], dtype=torch.float64),
                               step_per_example=torch.tensor([t.step for t in threats], dtype=torch.float64),
                               shared_start=True)
    else:
        outs = []
        total = len(eps)
        for i, tm in enumerate(threats):
            sub = None if progress is None else (
                lambda d, t, m, i=i: progress(i * 1000 + int(1000 * d / max(t, 1)), total * 1000,
                                              f"ε {i + 1}/{total}: {m}"))
            atk = make_attack(attack.name, tm, **attack.kwargs)
            xa, _ = atk.perturb(target_model, xd, y1, goal, seed=seed, progress=sub, targets=targets)
            outs.append(xa)
        x_adv = torch.cat(outs)
    return EpsSweep(attack=attack.name, eps=eps, x_adv=x_adv.detach().cpu(), target=tgt, batched=attack.batched,
                    elapsed_s=time.perf_counter() - t0, threats=threats, found_by=found_by)


# --------------------------------------------------------------------------- classification
@dataclass
class Verdicts:
    """Predictions of one classifier (bare or defended) on a batch of images."""

    pred: list[int]  # −1 = abstain
    confidence: list[float]  # probability (vote share) of the label
    p_pred: list[float]
    correct: list[bool]
    success: list[bool]


def classify(model: nn.Module, defense: Defense | None, x: torch.Tensor, label: int, target: int | None = None, *,
             seed: int = 0, progress: ProgressFn = None) -> Verdicts:
    """The bare model's (``defense=None``) or a defense's verdicts on a batch ``x``."""
    dev = next((p.device for p in model.parameters()), x.device)
    if defense is None:
        # The fused copy the attacks themselves run on (core/models/fast.py): the same function to
        # float rounding, about twice as fast on the CPU; the verdict comes from the model attacked.
        with torch.no_grad():
            logits = fast_view(model)(x.to(dev)).float().cpu()
        pred = logits.argmax(1)
    else:
        out = defense.defend(x, seed=seed, progress=progress)
        logits = out.logits.detach().float().cpu()
        pred = logits.argmax(1)
        if out.certificate is not None:
            pred = out.certificate.predicted.detach().cpu().long()
    p = logits.softmax(1)
    preds = [int(v) for v in pred]
    conf = [float(p[i, label]) for i in range(len(preds))]
    p_pred = [float(p[i, c]) if c >= 0 else 0.0 for i, c in enumerate(preds)]
    correct = [c == label for c in preds]
    if target is None:
        success = [c >= 0 and c != label for c in preds]
    else:
        success = [c == target for c in preds]
    return Verdicts(preds, conf, p_pred, correct, success)


# --------------------------------------------------------------------------- curves
@dataclass
class CurveSeries:
    """One line of the plot: one attack, classified by the bare model or one defense."""

    attack: str
    defense: str  # NO_DEFENSE or the defense's name
    attacker: str  # how the attacker treated the defense
    eps: list[float]
    verdicts: Verdicts
    batched: bool
    elapsed_s: float
    x_adv: torch.Tensor | None = None  # (K, 3, H, W), the images this series classified
    found_by: list[str] | None = None  # worst case: per ε, the ensemble's attack that found the image

    def as_rows(self) -> list[dict]:
        v = self.verdicts
        extra = (lambda i: {}) if self.found_by is None else (lambda i: {"found_by": self.found_by[i]})
        return [{"attack": self.attack, "defense": self.defense, "attacker": self.attacker, "eps": e,
                 "pred": v.pred[i], "confidence": v.confidence[i], "p_pred": v.p_pred[i],
                 "correct": v.correct[i], "success": v.success[i], **extra(i)} for i, e in enumerate(self.eps)]


@dataclass
class CurveResult:
    """Everything :func:`robustness_curves` computed."""

    label: int
    target: int | None
    goal: Goal
    norm: str
    eps: list[float]
    seed: int
    adaptive: bool
    series: list[CurveSeries] = field(default_factory=list)
    elapsed_s: float = 0.0

    def rows(self) -> list[dict]:
        return [r for s in self.series for r in s.as_rows()]

    def get(self, attack: str, defense: str = NO_DEFENSE) -> CurveSeries:
        for s in self.series:
            if s.attack == attack and s.defense == defense:
                return s
        raise KeyError((attack, defense))

    def first_flip(self, attack: str, defense: str = NO_DEFENSE) -> tuple[float | None, float]:
        """(smallest ε of the grid where the attack succeeded or None, largest ε below it
        where it did not, or 0): the bracket for :func:`min_flip_eps`."""
        s = self.get(attack, defense)
        lo = 0.0
        for e, ok in zip(s.eps, s.verdicts.success):
            if ok:
                return e, lo
            lo = e
        return None, lo


def worst_case_rows(curve: CurveResult, scale: float = 1.0) -> list[dict]:
    """The worst-case summary of a curve (empty without a :data:`WORST_CASE` series): per
    classifier, the largest ε of the grid below the first one where the ensemble fooled it, that
    ε, and the ensemble's attack that found it; ε multiplied by ``scale`` (255 for k/255)."""
    rows = []
    for s in curve.series:
        if s.attack != WORST_CASE:
            continue
        hi, lo = curve.first_flip(WORST_CASE, s.defense)
        i = None if hi is None else s.eps.index(hi)
        by = "" if i is None else (s.found_by[i] if s.found_by else "the ensemble's image")
        rows.append({"classified by": s.defense,
                     "correct up to ε": None if i == 0 else round(lo * scale, 4),
                     "first fooled at ε": None if hi is None else round(hi * scale, 4),
                     "found by": by or ("already wrong without attack" if hi == 0 else "")})
    return rows


def flip_rows(flips: dict[tuple[str, str], Bisection], scale: float = 1.0) -> list[dict]:
    """One row per (attack, classifier) bisection of :func:`min_flip_from_curve`: the smallest
    flipping ε seen (or that none was within the largest ε), the final bracket and how many ε
    were tried; ε multiplied by ``scale`` (255 for k/255) and shown to 3 significant digits."""
    return [{"attack": atk, "classified by": d,
             "smallest flipping ε": "not within the largest ε" if b.eps is None else f"{b.eps * scale:.3g}",
             "bracket": f"{b.lo * scale:.3g} … {b.hi * scale:.3g}", "ε tried": len(b.evaluations)}
            for (atk, d), b in flips.items()]


def _describe(defense: Defense | None, attack: str, adaptive: bool) -> str:
    if defense is None:
        return f"{attack} on the undefended model"
    if not adaptive:
        return f"{attack} on the undefended model (non-adaptive)"
    route = {"plain": "plain gradients", "bpda": "BPDA (identity backward)", "eot": "EOT (averaged over noise)"}
    return f"{attack} via {route[defense.adaptive_route]}"


def robustness_curves(model: nn.Module, x: torch.Tensor, label: int, eps: Sequence[float],
                      attacks: Sequence[CurveAttack], defenses: dict[str, Defense] | None = None, *,
                      adaptive: bool = False, goal: Goal = Goal(), seed: int = 0, keep_images: bool = True,
                      progress: ProgressFn = None) -> CurveResult:
    """Confidence and correctness against ε for every attack × (no defense + each defense),
    for one image ``x`` (1, 3, H, W) and its ``label``. See the module docstring."""
    t0 = time.perf_counter()
    if not attacks:
        raise ValueError("choose at least one attack")
    norms = {a.threat.norm for a in attacks}
    if len(norms) != 1:
        raise ValueError("all attacks of one plot must use the same norm")
    norm = norms.pop()
    eps = check_eps_list(eps, norm)
    defenses = defenses or {}
    n_jobs = len(attacks) * (1 + len(defenses) * (2 if adaptive else 1))
    done = [0]

    def sub(msg: str) -> ProgressFn:
        if progress is None:
            return None
        base = done[0]

        def f(d: int, t: int, m: str = "") -> None:
            progress(base * 1000 + int(1000 * d / max(t, 1)), n_jobs * 1000, f"{msg}: {m}")
        return f

    result = CurveResult(label=int(label), target=None, goal=goal, norm=norm, eps=eps, seed=int(seed),
                         adaptive=adaptive)
    for atk in attacks:
        sweep = attack_over_eps(model, x, label, atk, eps, goal=goal, seed=seed,
                                progress=sub(f"{atk.name} on the undefended model"))
        done[0] += 1
        result.target = sweep.target
        bare = classify(model, None, sweep.x_adv, label, sweep.target)
        result.series.append(CurveSeries(atk.name, NO_DEFENSE, _describe(None, atk.name, False), eps, bare,
                                         sweep.batched, sweep.elapsed_s, sweep.x_adv if keep_images else None,
                                         sweep.found_by))
        for name, d in defenses.items():
            s = sweep
            if adaptive:
                s = attack_over_eps(d.as_model(adaptive=True, seed=seed), x, label, atk, eps, goal=goal, seed=seed,
                                    progress=sub(f"{atk.name} through {name}"))
                done[0] += 1
            t1 = time.perf_counter()
            v = classify(model, d, s.x_adv, label, s.target, seed=seed + 1, progress=sub(f"{name} classifies"))
            done[0] += 1
            result.series.append(CurveSeries(atk.name, name, _describe(d, atk.name, adaptive), eps, v, s.batched,
                                             (s.elapsed_s if adaptive else 0.0) + time.perf_counter() - t1,
                                             s.x_adv if keep_images else None, s.found_by if adaptive else None))
    report(progress, n_jobs * 1000, n_jobs * 1000, "done")
    result.elapsed_s = time.perf_counter() - t0
    return result


# --------------------------------------------------------------------------- smallest ε
def default_tolerance(norm: str) -> float:
    """Bisection tolerance: 0.1/255 for L∞, 0.01 for L2 ([0, 1] pixel scale)."""
    return 0.1 / 255 if norm == "linf" else 0.01


def min_flip_eps(model: nn.Module, x: torch.Tensor, label: int, attack: CurveAttack, *, lo: float, hi: float,
                 defense: Defense | None = None, adaptive: bool = False, goal: Goal = Goal(), seed: int = 0,
                 tol: float | None = None, rel_tol: float = 0.05, known: dict[float, bool] | None = None,
                 progress: ProgressFn = None) -> Bisection:
    """Smallest ε in [lo, hi] at which ``attack`` (single-ε runs, :func:`threat_at`, same seed)
    reaches its goal on ``x`` — classified by the bare model or by ``defense`` (attacked through
    it when ``adaptive``) — by bisection to max(tol, rel_tol·ε).

    ``known`` maps ε values already evaluated (e.g. the curve's points) to their outcome; they
    are not recomputed. The result's ``eps`` is the smallest ε *seen* to succeed: an upper bound
    on the true threshold, since an attack's success need not be monotone in ε.
    """
    tol = default_tolerance(attack.threat.norm) if tol is None else tol
    known = dict(known or {})
    target_model = defense.as_model(adaptive=True, seed=seed) if (defense is not None and adaptive) else model
    span = max(hi - lo, 0.0)
    budget = 2 + math.ceil(math.log2(max(span / max(tol, rel_tol * hi, 1e-12), 1.0)))
    count = [0]

    def succeeds(e: float) -> bool:
        if e in known:
            return known[e]
        count[0] += 1
        report(progress, min(count[0], budget), budget, f"ε = {e * 255:.2f}/255" if attack.threat.norm == "linf"
               else f"ε = {e:.3f}")
        sweep = attack_over_eps(target_model, x, label, attack, [e], goal=goal, seed=seed)
        v = classify(model, defense, sweep.x_adv, label, sweep.target, seed=seed + 1)
        known[e] = bool(v.success[0])
        return known[e]

    return min_eps_bisection(succeeds, float(lo), float(hi), tol, rel_tol)


def min_flip_from_curve(model: nn.Module, x: torch.Tensor, curve: CurveResult, attack: CurveAttack, *,
                        defense_name: str = NO_DEFENSE, defense: Defense | None = None, tol: float | None = None,
                        rel_tol: float = 0.05, progress: ProgressFn = None) -> Bisection:
    """:func:`min_flip_eps` bracketed by a curve: between the largest grid ε that failed and the
    smallest that succeeded (None when no grid ε succeeded)."""
    hi, lo = curve.first_flip(attack.name, defense_name)
    if hi is None:
        return Bisection(None, lo, lo, [])
    s = curve.get(attack.name, defense_name)
    known = {e: ok for e, ok in zip(s.eps, s.verdicts.success)}
    return min_flip_eps(model, x, curve.label, attack, lo=lo, hi=hi, defense=defense, adaptive=curve.adaptive,
                        goal=curve.goal, seed=curve.seed, tol=tol, rel_tol=rel_tol, known=known, progress=progress)


# --------------------------------------------------------------------------- certified radius
@dataclass
class CertPoint:
    """CERTIFY at one σ."""

    sigma: float
    predicted: int  # −1 = abstain
    radius: float
    p_lower: float
    n_a: int
    c_hat: int
    max_radius: float
    correct: bool
    elapsed_s: float

    def as_row(self) -> dict:
        return {"sigma": self.sigma, "predicted": self.predicted, "radius": self.radius, "p_lower": self.p_lower,
                "n_a": self.n_a, "c_hat": self.c_hat, "max_radius": self.max_radius, "correct": self.correct,
                "elapsed_s": self.elapsed_s}


def certified_radius_curve(model: nn.Module, x: torch.Tensor, label: int, sigmas: Sequence[float], *,
                           n0: int = 16, n: int = 128, alpha: float = 0.001, batch_size: int = 32, seed: int = 0,
                           progress: ProgressFn = None) -> list[CertPoint]:
    """Randomized smoothing's CERTIFY (Cohen et al. 2019, via
    :class:`core.defenses.smoothing.RandomizedSmoothing`) of one image at each σ. Every σ uses
    the same seed, so the noise draws are the same standard normals scaled by σ."""
    sig = sorted({float(s) for s in sigmas})
    if not sig or len(sig) > limits.MAX_CURVE_SIGMAS:
        raise ValueError(f"give 1..{limits.MAX_CURVE_SIGMAS} values of σ")
    out: list[CertPoint] = []
    total = len(sig)
    for i, s in enumerate(sig):
        rs = RandomizedSmoothing(model, sigma=s, n0=n0, n=n, alpha=alpha, batch_size=batch_size, keep_samples=0)
        sub = None if progress is None else (
            lambda d, t, m, i=i, s=s: progress(i * 1000 + int(1000 * d / max(t, 1)), total * 1000, f"σ = {s:g}: {m}"))
        res = rs.defend(x, seed=seed, progress=sub)
        cert = res.certificate
        pred = int(cert.predicted[0])
        out.append(CertPoint(sigma=s, predicted=pred, radius=float(cert.radius[0]),
                             p_lower=float(cert.details["p_lower"][0]), n_a=int(cert.details["n_a"][0]),
                             c_hat=int(cert.details["c_hat"][0]), max_radius=rs.max_radius(),
                             correct=pred == int(label), elapsed_s=res.elapsed_s))
    report(progress, total * 1000, total * 1000, "done")
    return out


@dataclass
class CurvePageRun:
    """The Robustness curves page's result: the curves, the smallest flipping ε per attack (on the
    undefended model) and the certified radius against σ."""

    curves: CurveResult
    flips: dict[tuple[str, str], Bisection]
    cert: list[CertPoint] | None


def curves_with_extras(model: nn.Module, x: torch.Tensor, label: int, eps: Sequence[float],
                       attacks: Sequence[CurveAttack], defenses: dict[str, Defense] | None = None, *,
                       adaptive: bool = False, goal: Goal = Goal(), seed: int = 0, bisect: bool = True,
                       sigmas: Sequence[float] = (), cert_n: int = 64, progress: ProgressFn = None) -> CurvePageRun:
    """:func:`robustness_curves`, then (``bisect``) :func:`min_flip_from_curve` for each attack on
    the bare model, then (``sigmas``) :func:`certified_radius_curve` with n0 = 16 and ``cert_n``
    samples; one progress stage each."""
    n = 1 + (len(attacks) if bisect else 0) + (1 if sigmas else 0)
    curves = robustness_curves(model, x, label, eps, attacks, defenses, adaptive=adaptive, goal=goal, seed=seed,
                               progress=stage(progress, 0, n, "curves"))
    flips: dict[tuple[str, str], Bisection] = {}
    if bisect:
        for i, atk in enumerate(attacks):
            flips[(atk.name, NO_DEFENSE)] = min_flip_from_curve(
                model, x, curves, atk, progress=stage(progress, 1 + i, n, f"smallest ε, {atk.name}"))
    cert = certified_radius_curve(model, x, label, sigmas, n0=16, n=cert_n, seed=seed,
                                  progress=stage(progress, n - 1, n, "certifying")) if sigmas else None
    return CurvePageRun(curves, flips, cert)


__all__ = ["CURVE_PARAMS", "WORST_CASE", "curve_attacks_for", "worst_case_rows", "flip_rows", "CertPoint", "CurveAttack", "CurvePageRun", "curves_with_extras", "CurveResult", "CurveSeries", "EpsSweep", "NO_DEFENSE", "Verdicts",
           "attack_over_eps", "certified_radius_curve", "check_eps_list", "classify", "default_tolerance",
           "min_flip_eps", "min_flip_from_curve", "robustness_curves", "threat_at"]
