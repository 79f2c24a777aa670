"""A gradient-masking audit: the checks of the adversarial-evaluation checklists, run on one
model (optionally a defense seen through its adaptive route) and one labelled batch.

Sources: Athalye, Carlini & Wagner, "Obfuscated Gradients Give a False Sense of Security",
ICML 2018 (section 3.1, "characteristic behaviours"); Carlini et al., "On Evaluating Adversarial
Robustness", arXiv 1902.06705 (2019), section 5 checklist; Tramèr, Carlini, Brendel & Mądry,
"On Adaptive Attacks to Adversarial Example Defenses", NeurIPS 2020. Each check turns one of
their "signs that the attack, not the model, failed" into numbers and a verdict:

============  =========================================================================
check         warns when
============  =========================================================================
transfer      PGD crafted on a surrogate model and transferred succeeds more often than
              white-box PGD on the model itself (at ε or 2ε)
square        the gradient-free Square Attack succeeds more often than white-box PGD
              (at ε or 2ε); for randomized models the stronger of plain Square (one draw
              per query) and Square-EOT (:mod:`core.attacks.square_eot`, scores averaged
              over ``eot_samples`` draws), both kept in the numbers
large_eps     white-box success at the largest ε of the curve (8ε, L∞ capped at 1) is
              below 90 %, or success falls by more than the tolerance as ε grows
iterations    5× more steps, or 3 restarts, succeed less often than the base attack
targeted      targeted PGD (least likely class, large ε, 5× steps) reaches its target on
              fewer than 90 % of the images
gradients     more than 5 % of the input gradients are zero or not finite, or on fewer
              than 75 % of the images a step along the gradient raises the loss more than
              the median of random sign steps of the same size (shattered gradients)
randomness    (randomized models) the verdict changes between repeated evaluations for
              more than 10 % of the images, or EOT gradients succeed more often than
              single-draw gradients
binarization  (optional, ``binarization_n`` images) the white-box PGD finds the adversarial
              example that provably exists for a binarized copy of the model in fewer than
              90 % of the feasible cases (Zimmermann et al., NeurIPS 2022,
              :mod:`core.evaluation.audit.binarization`): the attack is too weak for this model
============  =========================================================================

"More often" means by more than ``tol`` (default 3 points) of the clean-correct images. Every
success rate in the curve and the comparison also carries its n (the clean-correct images) and
its exact 95 % interval (``<rate>_ci95``, :mod:`core.judging.stats`), and each comparison row an exact
McNemar test of transfer and of Square against white-box PGD on the same images (``paired``),
the share fooled by any of the comparison's attacks (``any_attack``) and, per image over all n images,
whether it is right before the attack and fooled by none (``robust_per_image``, 0/1; at ε also none of the
iterations check's stronger PGD runs; with ``correct_per_image`` on the result, two audits of the same
images compare paired):
on a handful of images the checks' verdicts are rough, and the intervals show how rough.
Success rates are over the images the model classifies correctly (clean; for randomized models
a majority vote of ``repeats`` evaluations). The white-box attack is PGD with ``steps`` steps of
2.5ε/steps from a random start (Madry et al.); Square is :class:`core.attacks.square.Square`.

Defaults (CPU): ε = 0.1 (L∞), 20 PGD steps, Square 1,000 queries with p_init = 0.8 (small
images; use 0.05 for 224 px), 8 random directions, 5 repeats and 8 EOT draws for randomized
models, tolerance 3 points.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from core.runtime import limits
from core.attacks.base import Goal, Norm, ThreatModel
from core.attacks.pgd import PGD
from core.attacks.square import Square
from core.attacks.square_eot import SquareEOT
from core.evaluation.audit.binarization import N_INNER, binarization_check
from core.evaluation.ensemble import EOTModel
from core.judging.stats import paired_difference, rate_interval
from core.runtime.progress import ProgressFn, report
from core.runtime.paths import DOCS

Verdict = Literal["pass", "warn", "n/a"]

# The checks in the order they are run and shown; each title states what a sound evaluation shows.
CHECK_TITLES = {
    "large_eps": "Success approaches 100 % as ε grows",
    "transfer": "White-box is at least as strong as transfer",
    "square": "White-box is at least as strong as the gradient-free Square Attack",
    "iterations": "More steps and restarts do not lower success",
    "targeted": "A targeted attack reaches its targets at a large ε",
    "gradients": "Input gradients are informative",
    "randomness": "Randomness does not hide the result",
    "binarization": "The attack finds adversarial examples that provably exist (binarization test)",
}

# What a warning of each check means, in a few words (a check's title states what a sound
# evaluation shows, so it cannot name the problem).
WARNING_SIGNS = {
    "transfer": "transfer beats white-box",
    "square": "Square beats white-box",
    "large_eps": "a large ε does not reach 100 %",
    "iterations": "more steps or restarts do worse",
    "targeted": "targeted attack misses its targets",
    "gradients": "uninformative input gradients",
    "randomness": "the verdict is random",
    "binarization": "attack too weak for this model",
}


@dataclass(frozen=True)
class AuditConfig:
    """Budgets and thresholds of the audit (see the module docstring)."""

    norm: Norm = "linf"
    eps: float = 0.1
    steps: int = 20
    square_queries: int = 1000
    square_p_init: float = 0.8
    eps_factors: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
    compare_factors: tuple[float, ...] = (1.0, 2.0)
    random_dirs: int = 8
    repeats: int = 5
    eot_samples: int = 8
    tol: float = 0.03
    binarization_n: int = 0  # images for the binarization test (core/evaluation/audit/binarization.py); 0: not run
    binarization_inner: int = N_INNER
    attack_batch: int = 0  # images per attack pass (0: all at once); bounds memory for heavy randomized defenses

    def __post_init__(self) -> None:
        ThreatModel(norm=self.norm, eps=self.eps, steps=self.steps)
        if self.steps * 5 > limits.MAX_ATTACK_STEPS:
            raise ValueError(f"steps must be at most {limits.MAX_ATTACK_STEPS // 5} (the audit also runs 5× steps)")
        if not (isinstance(self.square_queries, int) and 1 <= self.square_queries <= limits.MAX_SQUARE_QUERIES):
            raise ValueError(f"square_queries must be in 1..{limits.MAX_SQUARE_QUERIES}")
        if not (1 <= self.random_dirs <= 64 and 2 <= self.repeats <= limits.MAX_EOT_EVALS
                and 1 <= self.eot_samples <= limits.MAX_EOT_SAMPLES):
            raise ValueError("random_dirs must be in 1..64, repeats in 2..32, eot_samples in 1..64")
        if not (0 <= self.tol < 1) or not self.eps_factors or any(f <= 0 for f in self.eps_factors):
            raise ValueError("tol must be in [0, 1) and eps_factors positive")
        if not (0 <= self.binarization_n <= limits.MAX_EVAL_IMAGES and 1 <= self.binarization_inner <= 4096):
            raise ValueError("binarization_n must be in 0..MAX_EVAL_IMAGES and binarization_inner in 1..4096")
        if not 0 <= self.attack_batch <= limits.MAX_EVAL_IMAGES:
            raise ValueError("attack_batch must be in 0..MAX_EVAL_IMAGES (0: all images in one pass)")

    def eps_at(self, factor: float) -> float:
        e = self.eps * factor
        return min(e, 1.0) if self.norm == "linf" else e


@dataclass
class Check:
    """One check: its verdict, its numbers and one sentence on what it means."""

    key: str
    title: str
    verdict: Verdict
    numbers: dict
    meaning: str


@dataclass
class AuditResult:
    config: AuditConfig
    n: int
    clean_correct: int
    checks: list[Check]
    curve: list[dict]  # [{"eps", "success"}] white-box PGD success vs ε
    comparison: list[dict]  # [{"eps", "white_box", "transfer", "square", "any_attack", "robust_per_image"}]
    randomized: bool
    elapsed_s: float = 0.0
    notes: list[str] = field(default_factory=list)
    correct_per_image: list[int] = field(default_factory=list)  # 0/1 per image: right before any attack

    @property
    def flagged(self) -> bool:
        """Whether any check warns."""
        return any(c.verdict == "warn" for c in self.checks)

    def flags(self) -> list[str]:
        return [c.key for c in self.checks if c.verdict == "warn"]

    def warning_signs(self) -> list[str]:
        """The warnings in words (:data:`WARNING_SIGNS`), in check order."""
        return [WARNING_SIGNS.get(k, k) for k in self.flags()]

    def to_dict(self) -> dict:
        return {"n": self.n, "clean_correct": self.clean_correct, "flagged": self.flagged, "flags": self.flags(),
                "randomized": self.randomized, "config": {k: getattr(self.config, k) for k in self.config.__dataclass_fields__},
                "checks": [{"key": c.key, "title": c.title, "verdict": c.verdict, "numbers": c.numbers,
                            "meaning": c.meaning} for c in self.checks],
                "curve": self.curve, "comparison": self.comparison, "seconds": round(self.elapsed_s, 1),
                "notes": self.notes, "correct_per_image": self.correct_per_image}


# -- helpers ------------------------------------------------------------------------------------------

def _dev(model: nn.Module) -> torch.device:
    return next((p.device for p in model.parameters()), torch.device("cpu"))


def _correct(model: nn.Module, x: torch.Tensor, y: torch.Tensor, repeats: int = 1) -> torch.Tensor:
    """Per image: classified correctly (majority of ``repeats`` evaluations), on the CPU."""
    with torch.no_grad():
        votes = torch.stack([(model(x.to(_dev(model))).argmax(1).cpu() == y) for _ in range(repeats)]).float()
    return votes.mean(0) > 0.5


def _pgd(eps: float, cfg: AuditConfig, steps: int | None = None, restarts: int = 1) -> PGD:
    s = steps or cfg.steps
    return PGD(ThreatModel(norm=cfg.norm, eps=eps, step=2.5 * eps / s, steps=s, random_start=True, restarts=restarts))


def _fooled(model: nn.Module, attack_model: nn.Module, attack, x: torch.Tensor, y: torch.Tensor, seed: int,
            repeats: int, goal: Goal = Goal(), targets: torch.Tensor | None = None, batch: int = 0) -> torch.Tensor:
    """Per image (all clean-correct): fooled (untargeted) or sent to its target, (N,) bool. ``batch`` > 0 attacks
    that many images per pass (chunk i with seed + i): an attack through EOT × a smoothing vote keeps every draw's
    graph for the backward pass, which for 20 ImageNet photos at once does not fit in memory."""
    if x.shape[0] == 0:
        return torch.zeros(0, dtype=torch.bool)
    if 0 < batch < x.shape[0]:
        return torch.cat([_fooled(model, attack_model, attack, x[i:i + batch], y[i:i + batch], seed + i // batch,
                                  repeats, goal, None if targets is None else targets[i:i + batch])
                          for i in range(0, x.shape[0], batch)])
    dev = _dev(attack_model)
    adv, _ = attack.perturb(attack_model, x.to(dev), y.to(dev), goal, seed=seed,
                            targets=None if targets is None else targets.to(dev))
    if targets is not None:
        with torch.no_grad():
            votes = torch.stack([(model(adv).argmax(1).cpu() == targets) for _ in range(repeats)]).float()
        return votes.mean(0) > 0.5
    return ~_correct(model, adv, y, repeats)


def _rate(v: torch.Tensor) -> float:
    return float(v.double().mean()) if v.numel() else float("nan")


def _success(model: nn.Module, attack_model: nn.Module, attack, x: torch.Tensor, y: torch.Tensor, seed: int,
             repeats: int, goal: Goal = Goal(), targets: torch.Tensor | None = None, batch: int = 0) -> float:
    """Share of images (all clean-correct) fooled (untargeted) or sent to their target."""
    return _rate(_fooled(model, attack_model, attack, x, y, seed, repeats, goal, targets, batch))


def _with_intervals(row: dict, keys: tuple[str, ...], n: int) -> dict:
    """``row`` plus ``n`` and ``<key>_ci95`` (exact 95 % interval, :mod:`core.judging.stats`) of each rate."""
    out = {**row, "n": n}
    for k in keys:
        v = row.get(k)
        if v is not None and v == v:
            out[f"{k}_ci95"] = rate_interval(v, n).as_list()
    return out


def _fmt(v: float) -> str:
    return "—" if v != v else f"{100 * v:.1f} %"


# -- the checks ----------------------------------------------------------------------------------------

def audit(model: nn.Module, x: torch.Tensor, y: torch.Tensor, config: AuditConfig | None = None, *,
          surrogate: nn.Module | None = None, randomized: bool = False, seed: int = 0,
          progress: ProgressFn = None) -> AuditResult:
    """Run every check on float images ``x`` in [0, 1] (N, C, H, W) with labels ``y``.

    ``model`` is what the claim is about (a zoo model, a mask-blind or mask-aware view, or a
    defense's ``as_model(adaptive=...)``); ``surrogate`` a model to transfer from (None: the
    transfer check is n/a); ``randomized``: the model's output is random (repeats, EOT)."""
    cfg = config or AuditConfig()
    if model.training:
        raise RuntimeError("the audit needs a model in eval mode")
    if x.dim() != 4 or y.shape != (x.shape[0],):
        raise ValueError("x must be (N, C, H, W) and y (N,)")
    if x.shape[0] > limits.MAX_EVAL_IMAGES:
        raise ValueError(f"the audit takes at most {limits.MAX_EVAL_IMAGES} images")
    t0 = time.perf_counter()
    x, y = x.detach().cpu(), y.detach().cpu().long()
    rep = cfg.repeats if randomized else 1
    ok = _correct(model, x, y, rep)
    xc, yc = x[ok], y[ok]
    n_ok = int(ok.sum())
    wb_model = EOTModel(model, cfg.eot_samples) if randomized else model
    total = len(cfg.eps_factors) + 3 * len(cfg.compare_factors) + 4 + (2 if randomized else 0) \
        + (1 if cfg.binarization_n else 0)
    done = 0

    def tick(msg: str) -> None:
        nonlocal done
        done += 1
        report(progress, min(done, total), total, msg)

    checks: list[Check] = []
    tol = cfg.tol

    def fooled(*args, **kw) -> torch.Tensor:
        return _fooled(*args, **kw, batch=cfg.attack_batch)

    def success(*args, **kw) -> float:
        return _success(*args, **kw, batch=cfg.attack_batch)

    # Success against ε (white-box PGD).
    curve = []
    curve_fooled = []
    for k, f in enumerate(cfg.eps_factors):
        e = cfg.eps_at(f)
        v = fooled(model, wb_model, _pgd(e, cfg), xc, yc, seed + k, rep)
        curve_fooled.append(v)
        curve.append(_with_intervals({"eps": e, "success": _rate(v)}, ("success",), n_ok))
        tick(f"white-box PGD at ε = {e:.4g}")
    top = curve[-1]["success"]
    drops = [curve[i]["success"] - curve[i + 1]["success"] for i in range(len(curve) - 1)]
    worst_drop = max(drops) if drops else 0.0
    bad = (top < 0.9) or worst_drop > tol
    checks.append(Check(
        "large_eps", CHECK_TITLES["large_eps"], "warn" if bad else "pass",
        {"largest_eps": curve[-1]["eps"], "success_at_largest_eps": top, "largest_drop": worst_drop},
        (f"At ε = {curve[-1]['eps']:.3g} white-box PGD fools only {_fmt(top)} of the images: an attack with that much "
         "room should win almost always, so its gradients are not leading it (masked, or the attack is broken)."
         if top < 0.9 else f"White-box PGD fools {_fmt(top)} at ε = {curve[-1]['eps']:.3g}, as an unbounded attack should.")
        + (f" Success also falls by {_fmt(worst_drop)} between neighbouring ε values, which a working attack never does."
           if worst_drop > tol else "")))

    # White-box vs transfer vs Square at ε and 2ε.
    comparison = []
    for k, f in enumerate(cfg.compare_factors):
        e = cfg.eps_at(f)
        wb_v = next((v for c, v in zip(curve, curve_fooled) if abs(c["eps"] - e) < 1e-12), None)
        if wb_v is None:
            wb_v = fooled(model, wb_model, _pgd(e, cfg), xc, yc, seed + 50 + k, rep)
        tick(f"white-box at ε = {e:.4g}")
        tr_v = None
        if surrogate is not None:
            tr_v = fooled(model, surrogate, _pgd(e, cfg), xc, yc, seed + 60 + k, rep)
        tick(f"transfer at ε = {e:.4g}")
        sq_v = fooled(model, model, Square(ThreatModel(norm=cfg.norm, eps=e), n_queries=cfg.square_queries,
                                            p_init=cfg.square_p_init), xc, yc, seed + 70 + k, rep)
        row = {"eps": e, "white_box": _rate(wb_v), "transfer": float("nan") if tr_v is None else _rate(tr_v),
               "square": _rate(sq_v)}
        if randomized:  # Square-EOT: scores averaged over draws (plain Square reads one draw per query)
            eot_v = fooled(model, model, SquareEOT(ThreatModel(norm=cfg.norm, eps=e), n_queries=cfg.square_queries,
                                                    p_init=cfg.square_p_init, eot_samples=cfg.eot_samples),
                            xc, yc, seed + 75 + k, rep)
            row["square_one_draw"], row["square_eot"] = row["square"], _rate(eot_v)
            sq_v = sq_v | eot_v  # fooled by either gradient-free attack
            row["square"] = _rate(sq_v)
        tick(f"Square at ε = {e:.4g}")
        # per image, over all n images: right before the attack and not fooled by any of the attacks (the worst
        # case per image), so that two audits of the same images can be compared paired
        any_v = wb_v | sq_v | (tr_v if tr_v is not None else torch.zeros_like(wb_v))
        robust = ok.clone()
        robust[ok] = ~any_v
        row["any_attack"] = _rate(any_v)
        row["robust_per_image"] = [int(b) for b in robust.tolist()]
        row = _with_intervals(row, ("white_box", "transfer", "square", "square_one_draw", "square_eot", "any_attack"),
                              n_ok)
        # paired on the same clean-correct images: exact McNemar of each attack against white-box PGD
        row["paired"] = {name: paired_difference(v, wb_v).as_dict()
                         for name, v in (("transfer", tr_v), ("square", sq_v)) if v is not None and v.numel()}
        comparison.append(row)
    if surrogate is None:
        checks.append(Check("transfer", CHECK_TITLES["transfer"], "n/a", {},
                            "No surrogate model was given, so the transfer check did not run."))
    else:
        gaps = [c["transfer"] - c["white_box"] for c in comparison]
        g = max(gaps)
        at = comparison[gaps.index(g)]
        checks.append(Check(
            "transfer", CHECK_TITLES["transfer"], "warn" if g > tol else "pass",
            {"rows": [{"eps": c["eps"], "white_box": c["white_box"], "transfer": c["transfer"]} for c in comparison],
             "largest_gap": g},
            (f"Examples made on another model fool it more often ({_fmt(at['transfer'])}) than examples made with its "
             f"own gradients ({_fmt(at['white_box'])}) at ε = {at['eps']:.3g}: its gradients point the attack the "
             "wrong way (gradient masking), so white-box numbers overstate its robustness.") if g > tol else
            "Attacks made with its own gradients are at least as strong as attacks transferred from a surrogate."))
    gaps = [c["square"] - c["white_box"] for c in comparison]
    g = max(gaps)
    at = comparison[gaps.index(g)]
    checks.append(Check(
        "square", CHECK_TITLES["square"], "warn" if g > tol else "pass",
        {"rows": [{k: c[k] for k in ("eps", "white_box", "square", "square_one_draw", "square_eot") if k in c}
                  for c in comparison],
         "largest_gap": g, "queries": cfg.square_queries,
         **({"square_eot_samples": cfg.eot_samples} if randomized else {})},
        (f"Square, which never looks at gradients, fools {_fmt(at['square'])} against {_fmt(at['white_box'])} for "
         f"white-box PGD at ε = {at['eps']:.3g}: the gradients are hiding adversarial examples that exist.")
        if g > tol else "A gradient-free attack does not beat the gradient attack: no sign that gradients are hidden."))

    # More steps, more restarts.
    e = cfg.eps
    base = next((c["white_box"] for c in comparison if abs(c["eps"] - e) < 1e-12), None)
    if base is None:
        base = success(model, wb_model, _pgd(e, cfg), xc, yc, seed + 80, rep)
    more_v = fooled(model, wb_model, _pgd(e, cfg, steps=5 * cfg.steps), xc, yc, seed + 81, rep)
    more = _rate(more_v)
    tick("5× steps")
    rst_v = fooled(model, wb_model, _pgd(e, cfg, restarts=3), xc, yc, seed + 82, rep)
    rst = _rate(rst_v)
    tick("3 restarts")
    at_eps = next((c for c in comparison if abs(c["eps"] - e) < 1e-12), None)
    if at_eps is not None and n_ok:  # the per-image worst case at ε counts the stronger runs too
        robust = torch.tensor(at_eps["robust_per_image"], dtype=torch.bool)
        robust[ok] = robust[ok] & ~(more_v | rst_v)
        at_eps["robust_per_image"] = [int(b) for b in robust.tolist()]
    bad = more < base - tol or rst < base - tol
    checks.append(Check(
        "iterations", CHECK_TITLES["iterations"], "warn" if bad else "pass",
        {"base": base, "steps": cfg.steps, "five_times_steps": more, "three_restarts": rst},
        ("A stronger run of the same attack found fewer adversarial examples: the attack is unstable "
         "(e.g. a noisy or shattered loss surface), so its single-run number is not a worst case.") if bad else
        f"{5 * cfg.steps} steps fool {_fmt(more)} and 3 restarts {_fmt(rst)}, against {_fmt(base)} for the base run."))

    # Targeted at a large ε.
    e_big = cfg.eps_at(max(cfg.eps_factors))
    with torch.no_grad():
        ll = wb_model(xc.to(_dev(model))).argmin(1).cpu() if n_ok else yc
    tgt = success(model, wb_model, _pgd(e_big, cfg, steps=min(limits.MAX_ATTACK_STEPS, 5 * cfg.steps)), xc, yc,
                   seed + 90, rep, goal=Goal("least_likely"), targets=ll)
    tick("targeted")
    checks.append(Check(
        "targeted", CHECK_TITLES["targeted"], "warn" if tgt < 0.9 else "pass",
        {"eps": e_big, "target": "least likely class", "reached": tgt},
        (f"With ε = {e_big:.3g} the attack sends only {_fmt(tgt)} of the images to their least likely class; "
         "with that much room a working attack reaches almost any target.") if tgt < 0.9 else
        f"Targeted PGD reaches the least likely class on {_fmt(tgt)} of the images at ε = {e_big:.3g}."))

    # Gradient health.
    checks.append(_gradient_check(model, xc, yc, cfg, seed))
    tick("gradients")

    # Randomness.
    if randomized:
        with torch.no_grad():
            preds = torch.stack([model(x.to(_dev(model))).argmax(1).cpu() for _ in range(cfg.repeats)])
        unstable = float((preds != preds[:1]).any(0).double().mean())
        tick("repeated evaluations")
        single = success(model, model, _pgd(cfg.eps, cfg), xc, yc, seed + 95, rep)
        eot = base
        tick("EOT vs one draw")
        bad = unstable > 0.10 or eot > single + tol
        checks.append(Check(
            "randomness", CHECK_TITLES["randomness"], "warn" if bad else "pass",
            {"repeats": cfg.repeats, "unstable_share": unstable, "eot_samples": cfg.eot_samples,
             "success_eot": eot, "success_one_draw": single},
            (f"{_fmt(unstable)} of the images change class between evaluations, and EOT gradients fool "
             f"{_fmt(eot)} against {_fmt(single)} with one draw: quote verdicts over several evaluations "
             "and EOT attacks.") if bad else
            "Repeated evaluations agree and EOT does not change the attack's success."))
    else:
        checks.append(Check("randomness", CHECK_TITLES["randomness"], "n/a", {},
                            "The model was declared deterministic."))
    if cfg.binarization_n:  # the active test (core/evaluation/audit/binarization.py): the white-box attack on a binarized model
        checks.append(Check("binarization", CHECK_TITLES["binarization"], *binarization_check(
            model, x, y, cfg.eps, lambda: _pgd(cfg.eps, cfg), n_cases=cfg.binarization_n,
            norm=cfg.norm, n_inner=cfg.binarization_inner, randomized=randomized, eot_samples=cfg.eot_samples,
            repeats=cfg.repeats, seed=seed)))
        tick("binarization test")
    notes = []
    if n_ok < 20:
        notes.append(f"Only {n_ok} clean-correct images: each is {100 / max(n_ok, 1):.0f} points; verdicts are rough.")
    return AuditResult(config=cfg, n=int(x.shape[0]), clean_correct=n_ok, checks=checks, curve=curve,
                       comparison=comparison, randomized=randomized, elapsed_s=time.perf_counter() - t0, notes=notes,
                       correct_per_image=[int(b) for b in ok.tolist()])


def _gradient_check(model: nn.Module, x: torch.Tensor, y: torch.Tensor, cfg: AuditConfig, seed: int) -> Check:
    """Zero / non-finite gradients and the loss along the gradient vs random sign directions."""
    if x.shape[0] == 0:
        return Check("gradients", CHECK_TITLES["gradients"], "n/a", {}, "No clean-correct images.")
    dev = _dev(model)
    b = cfg.attack_batch or x.shape[0]  # images per backward pass (see AuditConfig.attack_batch)
    grads, losses = [], []
    for i in range(0, x.shape[0], b):
        xg = x[i:i + b].to(dev).requires_grad_(True)
        with torch.enable_grad():
            part = F.cross_entropy(model(xg), y[i:i + b].to(dev), reduction="none")
            (gi,) = torch.autograd.grad(part.sum(), xg)
        grads.append(gi.detach())
        losses.append(part.detach())
    g, loss = torch.cat(grads), torch.cat(losses)
    finite = torch.isfinite(g.flatten(1)).all(1)
    zero = (g.flatten(1).abs().amax(1) == 0) & finite
    zero_share = float(zero.double().mean())
    nonfinite_share = float((~finite).double().mean())
    h = cfg.eps
    gen = torch.Generator(device="cpu").manual_seed(seed + 7)

    def step(d: torch.Tensor) -> torch.Tensor:
        if cfg.norm == "l2":
            d = d / d.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1, 1)
        with torch.no_grad():
            xs = (x.to(dev) + h * d).clamp(0, 1)
            return F.cross_entropy(model(xs), y.to(dev), reduction="none").cpu() - loss.detach().cpu()

    g_clean = torch.where(torch.isfinite(g), g, torch.zeros_like(g)).cpu()
    along = step((g_clean.sign() if cfg.norm == "linf" else g_clean).to(dev))
    rand = torch.stack([step((torch.randint(0, 2, x.shape, generator=gen).float() * 2 - 1).to(dev))
                        for _ in range(cfg.random_dirs)])
    wins = float(((along > rand.median(0).values) & ~zero.cpu()).double().mean())  # a zero gradient never wins
    bad = zero_share + nonfinite_share > 0.05 or wins < 0.75
    return Check(
        "gradients", CHECK_TITLES["gradients"], "warn" if bad else "pass",
        {"zero_share": zero_share, "nonfinite_share": nonfinite_share, "step": h, "random_dirs": cfg.random_dirs,
         "gradient_beats_random": wins,
         "mean_loss_increase_gradient": float(along.mean()), "mean_loss_increase_random": float(rand.mean())},
        (f"{_fmt(zero_share)} of the input gradients are zero and {_fmt(nonfinite_share)} not finite; a step along the "
         f"gradient beats random steps on only {_fmt(wins)} of the images. The gradient does not describe the loss "
         "(masked, shattered or stochastic): gradient attacks are blind here.") if bad else
        f"Gradients are non-zero and a step along them raises the loss more than random steps on {_fmt(wins)} of the images.")


def success_curve_eps(cfg: AuditConfig) -> list[float]:
    """The ε values of the audit's success curve."""
    return [cfg.eps_at(f) for f in cfg.eps_factors]


AUDITS_DIR = DOCS / "audits"


def audit_findings() -> str:
    """What the shipped audits of the ImageNet defenses found (``docs/audits/FINDINGS.md`` without
    its title and preface): the Defenses page shows this text, so page and docs cannot differ."""
    text = (AUDITS_DIR / "FINDINGS.md").read_text(encoding="utf-8")
    return text.split("\n\n", 2)[2].strip()


__all__ = ["AUDITS_DIR", "AuditConfig", "AuditResult", "Check", "audit", "audit_findings", "success_curve_eps"]
