"""Batch evaluation: success rate and accuracy against ε for one model × several defenses over a
set of images. The Batch evaluation page and ``python -m core evaluate`` both call
:func:`evaluate_images`, so they produce the same numbers for the same images and settings.

Per image (:func:`evaluate_image`), with the same code as the robustness curves
(:func:`core.evaluation.curves.robustness_curves`): one batched attack over all ε (one row per ε) where the
attack allows it, the bare model's and each defense's verdicts on every adversarial image, and
each defense's verdict on the clean image. Each image is attacked with its own seed,
:func:`image_seed` of the run's ``seed`` and the image's identity (its key: name and content hash
when the reader gives one, else its name), so an image's numbers do not depend on the other images,
their order, the batching or the number of workers (:mod:`core.evaluation.batch.engine`).

**Labels.** With a true label per image (:mod:`core.data.labels`) accuracy is true accuracy and a
success is counted only on images classified correctly when clean (RobustBench's counting).
Without one, the label of an image is the *bare model's prediction on the clean image*: accuracy
is then the agreement with that clean prediction, 100 % for the bare model at ε = 0 by
construction, and a defense can score below 100 % on clean images when it changes the prediction.

Metrics per (defense, ε), over the n images:

* ``accuracy``: share of images whose (defended) prediction on the adversarial image is the label;
* ``success_rate``: among the images the defense classified correctly when clean, the share the
  attack made it get wrong (untargeted; an abstention does not count as a success) — None when
  there is no such image;
* ``abstain_rate``: share of abstentions (certified defenses only);
* ``mean_confidence``: mean probability (vote share) of the label.

The row ``eps = 0`` with ``kind = "clean"`` holds the clean accuracy of each defense.
Only untargeted attacks are evaluated here.

**Worst case.** The attack choice :data:`WORST_CASE` runs the worst-case ensemble of
:mod:`core.evaluation.ensemble` (APGD-CE → targeted APGD-DLR → Square, each on the images still classified
correctly) on every image at every ε, with the image's seed, on the bare model; each defense then
classifies the ensemble's examples (a non-adaptive attacker: the adaptive one needs a single attack).
Per image and ε :attr:`ImageEval.found_by` names the attack that fooled it first ("none" if none
did), and :meth:`BatchResult.breakdown` gives robust accuracy with the per-attack counts — the
robust accuracy the project quotes. With a single attack, :meth:`BatchResult.robust_accuracy_note`
says the number is that attack's and points to the worst case.
"""
from __future__ import annotations

import csv
import hashlib
import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any
from collections.abc import Sequence

import torch
from torch import nn

from core.runtime import limits
from core.attacks import ATTACKS, Goal, ThreatModel, default_threat
from core.evaluation.curves import NO_DEFENSE, CurveAttack, check_eps_list, classify, robustness_curves
from core.defenses import DEFENSES, Defense, default_params, make_defense
from core.evaluation.ensemble import WORST_CASE, WORST_CASE_PARAMS, EnsembleConfig, worst_case
from core.runtime.progress import Cancelled, ProgressFn, report
from core.data.safe_text import csv_cell
from core.judging.stats import accuracy_interval, paired_difference

LABEL_NOTE = ("No ImageNet labels are known for these images: each image's label is the bare model's prediction "
              "on the clean image, so accuracy means agreement with the clean prediction.")


# WORST_CASE: the batch attack choice that runs the worst-case ensemble per image and ε.
WORST_CASE_CLI = "worst-case"
NOT_FOUND = "none"  # found_by of an image the attack did not fool at that ε


def batch_attacks() -> list[str]:
    """The attack choices of a batch evaluation: every registered attack, then :data:`WORST_CASE`."""
    return [*ATTACKS, WORST_CASE]


def image_seed(seed: int, identity: str) -> int:
    """The seed of one image: the first 31 bits of sha256(f"{seed}:{identity}"), so it depends only
    on the run's seed and the image's identity (not on order, batching or workers)."""
    return int.from_bytes(hashlib.sha256(f"{int(seed)}:{identity}".encode("utf-8")).digest()[:4], "big") >> 1


@dataclass(frozen=True)
class EvalSettings:
    """Everything that determines the numbers of a batch evaluation (apart from the images)."""

    model: str
    attack: str = "FGSM"
    norm: str = "linf"
    eps: tuple[float, ...] = (1 / 255, 2 / 255, 4 / 255)
    steps: int | None = None  # None: the attack's CPU default
    step_ratio: float | None = None  # α/ε; None: the attack's default ratio
    random_start: bool | None = None
    restarts: int = 1
    attack_params: tuple[tuple[str, Any], ...] = ()
    defenses: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...] = ()
    adaptive: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        if self.attack == WORST_CASE:
            if self.norm not in ("linf", "l2"):
                raise ValueError(f"{WORST_CASE} supports linf, l2, not {self.norm}")
            if self.adaptive:
                raise ValueError(f"{WORST_CASE} attacks the bare model only; the adaptive attacker is not available "
                                 "with it (choose a single attack for adaptive attacks through a defense)")
            if self.step_ratio is not None or self.random_start is not None or self.restarts != 1:
                raise ValueError(f"{WORST_CASE} sets its own step sizes, random starts and restarts (APGD, Square); "
                                 "only steps (APGD iterations) can be chosen")
            bad = [k for k, _ in self.attack_params if k not in WORST_CASE_PARAMS]
            if bad:
                raise ValueError(f"{WORST_CASE} takes the parameters {', '.join(WORST_CASE_PARAMS)}, not {', '.join(bad)}")
        elif self.attack not in ATTACKS:
            raise ValueError(f"unknown attack {self.attack!r}; known: {', '.join(batch_attacks())}")
        elif self.norm not in ATTACKS[self.attack].norms:
            raise ValueError(f"{self.attack} supports {', '.join(ATTACKS[self.attack].norms)}, not {self.norm}")
        object.__setattr__(self, "eps", tuple(check_eps_list(self.eps, self.norm)))
        if self.attack == WORST_CASE:
            self.ensemble_config(max(self.eps))  # the ensemble's own checks (steps, targets, queries)
        for name, _ in self.defenses:
            if name not in DEFENSES:
                raise ValueError(f"unknown defense {name!r}; known: {', '.join(DEFENSES)}")
        if not (isinstance(self.seed, int) and 0 <= self.seed < 2**31):
            raise ValueError("seed must be an integer in 0..2³¹−1")

    @property
    def worst_case(self) -> bool:
        """Whether every image is attacked by the worst-case ensemble (:data:`WORST_CASE`)."""
        return self.attack == WORST_CASE

    def ensemble_config(self, eps: float) -> Any:
        """The :class:`core.evaluation.ensemble.EnsembleConfig` at ε (worst case only): ``steps`` are the
        APGD iterations (default 50), ``attack_params`` may set ``n_targets`` and ``square_queries``."""
        steps = {} if self.steps is None else {"apgd_steps": int(self.steps)}
        return EnsembleConfig(norm=self.norm, eps=float(eps), **steps, **dict(self.attack_params))

    def threat(self) -> ThreatModel:
        """The template threat model (at the largest ε)."""
        eps = max(self.eps)
        if self.worst_case:
            return self.ensemble_config(eps).threat()
        d = default_threat(self.attack, self.norm)
        ratio = self.step_ratio if self.step_ratio is not None else (d.step / d.eps if d.eps > 0 else 0.25)
        return ThreatModel(norm=self.norm, eps=eps, step=eps * ratio,
                           steps=int(self.steps if self.steps is not None else d.steps),
                           random_start=bool(d.random_start if self.random_start is None else self.random_start),
                           restarts=int(self.restarts))

    def curve_attack(self) -> CurveAttack:
        if self.worst_case:
            raise ValueError(f"{WORST_CASE} is an ensemble, not one attack of a curve")
        return CurveAttack(self.attack, self.threat(), tuple(self.attack_params), "scale")

    def attack_description(self) -> str:
        """What attacked every image, for summaries and reports."""
        if self.worst_case:
            c = self.ensemble_config(max(self.eps))
            return (f"{WORST_CASE}: {' → '.join(c.attack_names())}, each on the images still classified correctly "
                    f"(APGD {c.apgd_steps} iterations, {c.n_targets} target classes, Square {c.square_queries} queries)")
        return f"{self.attack} alone (one attack)"

    def build_defenses(self, model: nn.Module) -> dict[str, Defense]:
        """The defenses, each with its default parameters overridden by the given ones (a
        ``("preset", "paper")`` entry selects the defense's paper preset)."""
        out = {}
        for name, params in self.defenses:
            p = dict(params)
            preset = p.pop("preset", None)
            base = {} if preset else default_params(name)
            out[name] = make_defense(name, model, preset=preset, **{**base, **p})
        return out

    def to_dict(self) -> dict:
        t = self.threat()
        return {"model": self.model, "attack": self.attack, "norm": self.norm, "eps": list(self.eps),
                "eps_255": [e * 255 for e in self.eps] if self.norm == "linf" else None,
                "steps": t.steps,
                "step_rule": "APGD's own step-size schedule" if self.worst_case else "α = ε × ratio",
                "step_ratio": None if self.worst_case else (t.step / t.eps if t.eps > 0 else None),
                "random_start": t.random_start, "restarts": t.restarts,
                "attack_params": {k: _jsonable(v) for k, v in self.attack_params},
                "defenses": {n: {k: _jsonable(v) for k, v in p} for n, p in self.defenses},
                "adaptive": self.adaptive, "seed": self.seed, "goal": "untargeted",
                "label": "clean prediction of the bare model",
                # only for the worst case, so runs of a single attack made before it existed still resume
                **({"worst_case": True, "attacked_by": self.attack_description(),
                    "ensemble": {k: v for k, v in asdict(self.ensemble_config(max(self.eps))).items()
                                 if k != "eps"}} if self.worst_case else {})}


def _jsonable(v: Any) -> Any:
    if isinstance(v, tuple):
        return [_jsonable(u) for u in v]
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    return v


@dataclass
class ImageEval:
    """One image's verdicts: per defense (``NO_DEFENSE`` first), the clean prediction and the
    predictions/confidences/correctness/success at every ε."""

    name: str
    label: int
    label_name: str
    clean: dict[str, int]
    pred: dict[str, list[int]]
    confidence: dict[str, list[float]]
    correct: dict[str, list[bool]]
    success: dict[str, list[bool]]
    elapsed_s: float = 0.0
    key: str = ""  # the image's identity (core.data.image_sets.ImageItem.key, or its name)
    seed: int = 0  # image_seed(run seed, key): the attack's seed; the defenses use seed + 1
    true_label: bool = False  # label from a label source (else the clean prediction)
    # per ε: the attack whose example fooled the bare model (worst case: its first successful attack;
    # "clean" when misclassified without attack), else NOT_FOUND; empty in records made before it existed
    found_by: list[str] = field(default_factory=list)

    def to_rows(self, eps: Sequence[float], class_names: Sequence[str] | None = None) -> list[dict]:
        rows = []
        for d in self.pred:
            for i, e in enumerate(eps):
                p = self.pred[d][i]
                rows.append({"image": self.name, "defense": d, "eps": e, "label": self.label,
                             "label_name": self.label_name, "clean_pred": self.clean[d], "pred": p,
                             "pred_name": ("abstain" if p < 0 else (class_names[p] if class_names else str(p))),
                             "confidence": self.confidence[d][i], "correct": self.correct[d][i],
                             "success": self.success[d][i],
                             "found_by": (self.found_by[i] if d == NO_DEFENSE and i < len(self.found_by) else "")})
        return rows


def image_attacks(settings: EvalSettings) -> list[CurveAttack]:
    """The attack(s) run on every image of a batch evaluation — the one place where that is chosen
    (both engines of :mod:`core.evaluation.batch.engine` and the Batch page go through :func:`evaluate_image`):
    the settings' single attack, or for :data:`WORST_CASE` an empty list, meaning the worst-case
    ensemble (:func:`_worst_case_sweep`) runs instead."""
    return [] if settings.worst_case else [settings.curve_attack()]


def _worst_case_sweep(model: nn.Module, x: torch.Tensor, label: int, settings: EvalSettings, seed: int,
                      progress: ProgressFn = None) -> tuple[torch.Tensor, list[str]]:
    """The worst-case ensemble on one image at every ε: ((K, C, H, W) adversarial images — the
    first successful example, else the clean image — and per ε the attack that found it,
    "clean" or :data:`NOT_FOUND`). Every ε uses the image's seed, so the result depends only on
    the run's seed and the image's key (identical under both engines and on resume)."""
    y = torch.tensor([int(label)])
    advs, found = [], []
    for i, e in enumerate(settings.eps):
        def sub(d: int, t: int, m: str = "", i=i, e=e) -> None:
            report(progress, i * 1000 + min(999, int(1000 * d / max(t, 1))), len(settings.eps) * 1000,
                   f"{WORST_CASE} at ε = {e:.4g}: {m}")
        if e == 0:  # nothing to attack: the clean verdict
            with torch.no_grad():
                ok = int(model(x.to(next((p.device for p in model.parameters()), x.device))).argmax(1)[0]) == label
            advs.append(x[0].detach().cpu())
            found.append(NOT_FOUND if ok else "clean")
            continue
        r = worst_case(model, x, y, settings.ensemble_config(e), seed=seed, batch_size=1,
                       progress=sub if progress is not None else None)
        advs.append(r.x_adv[0])
        found.append(r.found_by[0] or NOT_FOUND)
    return torch.stack(advs), found


def evaluate_image(model: nn.Module, x: torch.Tensor, name: str, settings: EvalSettings,
                   defenses: dict[str, Defense], *, class_names: Sequence[str] | None = None,
                   progress: ProgressFn = None, label: int | None = None, key: str | None = None) -> ImageEval:
    """Attack one image (1, 3, H, W) at every ε and classify the results (module docstring).
    ``label``: the true class (None: the bare model's clean prediction); ``key``: the image's
    identity for its seed (default: ``name``)."""
    t0 = time.perf_counter()
    key = name if key is None else key
    seed = image_seed(settings.seed, key)
    dev = next((p.device for p in model.parameters()), x.device)
    with torch.no_grad():
        pred = int(model(x.to(dev)).argmax(1)[0])
    true_label = label is not None
    label = pred if label is None else int(label)
    clean = {NO_DEFENSE: pred}
    for dname, d in defenses.items():
        clean[dname] = classify(model, d, x, label, seed=seed + 1).pred[0]
    ev = ImageEval(name=name, label=label, label_name=class_names[label] if class_names else str(label),
                   clean=clean, pred={}, confidence={}, correct={}, success={}, key=key, seed=seed,
                   true_label=true_label)
    attacks = image_attacks(settings)
    if attacks:
        curves = robustness_curves(model, x, label, settings.eps, attacks, defenses,
                                   adaptive=settings.adaptive, goal=Goal(), seed=seed, keep_images=False,
                                   progress=progress)
        verdicts = [(s.defense, s.verdicts) for s in curves.series]
    else:  # the worst case: the ensemble on the bare model; each defense classifies its examples
        x_adv, found = _worst_case_sweep(model, x, label, settings, seed, progress)
        ev.found_by = found
        verdicts = [(NO_DEFENSE, classify(model, None, x_adv, label))]
        verdicts += [(dname, classify(model, d, x_adv, label, seed=seed + 1)) for dname, d in defenses.items()]
    for dname, v in verdicts:
        ev.pred[dname] = v.pred
        ev.confidence[dname] = v.confidence
        ev.correct[dname] = v.correct
        # a success needs a correct clean verdict (always so in agreement mode for the bare model)
        ok = clean.get(dname, label) == label
        ev.success[dname] = [bool(u and ok) for u in v.success]
    if attacks:
        ev.found_by = ["clean" if clean[NO_DEFENSE] != label else attacks[0].name if u else NOT_FOUND
                       for u in ev.success[NO_DEFENSE]]
    ev.elapsed_s = time.perf_counter() - t0
    return ev


# The interval and comparison columns every summary row carries (summary.csv, results.json, reports).
INTERVAL_COLUMNS = ("correct", "accuracy_ci95_lo", "accuracy_ci95_hi", "success_n", "success_ci95_lo",
                    "success_ci95_hi", "vs_bare_difference", "vs_bare_p", "vs_bare_significant")


def _ci(k: int, n: int, prefix: str) -> dict:
    iv = accuracy_interval(k, n)
    return {f"{prefix}_ci95_lo": round(iv.lo, 4), f"{prefix}_ci95_hi": round(iv.hi, 4)}


def _vs_bare(correct: Sequence[bool], bare: Sequence[bool], is_bare: bool) -> dict:
    """The exact McNemar test of a defense's per-image correctness against the bare model's on the
    same images (None for the bare model itself)."""
    if is_bare:
        return {"vs_bare_difference": None, "vs_bare_p": None, "vs_bare_significant": None}
    t = paired_difference(list(correct), list(bare))
    return {"vs_bare_difference": round(t.difference, 4), "vs_bare_p": round(t.p_value, 4),
            "vs_bare_significant": t.significant}


def summarize(evals: Sequence[ImageEval], eps: Sequence[float], defense_names: Sequence[str]) -> list[dict]:
    """Per defense: the clean row and one row per ε (module docstring for the metrics). Every row
    also carries its counts and exact 95 % intervals (:data:`INTERVAL_COLUMNS`: ``correct`` of ``n``;
    the success rate's ``success_n`` images) and, for a defense, the exact McNemar test of its
    correctness against the bare model's on the same images (``vs_bare_*``)."""
    rows = []
    n = len(evals)
    bare_clean = [e.clean[NO_DEFENSE] == e.label for e in evals]
    for d in [NO_DEFENSE, *[x for x in defense_names if x != NO_DEFENSE]]:
        if n == 0:
            break
        clean_ok = [e.clean[d] == e.label for e in evals]
        rows.append({"defense": d, "kind": "clean", "eps": 0.0, "n": n, "accuracy": sum(clean_ok) / n,
                     "success_rate": None, "abstain_rate": sum(e.clean[d] < 0 for e in evals) / n,
                     "mean_confidence": None, "correct": sum(clean_ok), **_ci(sum(clean_ok), n, "accuracy"),
                     "success_n": None, "success_ci95_lo": None, "success_ci95_hi": None,
                     **_vs_bare(clean_ok, bare_clean, d == NO_DEFENSE)})
        for i, e in enumerate(eps):
            correct = [ev.correct[d][i] for ev in evals]
            base = [ev for ev, ok in zip(evals, clean_ok) if ok]
            succ = [ev.success[d][i] for ev in base]
            rows.append({"defense": d, "kind": "attack", "eps": float(e), "n": n, "accuracy": sum(correct) / n,
                         "success_rate": (sum(succ) / len(succ)) if succ else None,
                         "abstain_rate": sum(ev.pred[d][i] < 0 for ev in evals) / n,
                         "mean_confidence": sum(ev.confidence[d][i] for ev in evals) / n,
                         "correct": sum(correct), **_ci(sum(correct), n, "accuracy"), "success_n": len(succ),
                         **(_ci(sum(succ), len(succ), "success") if succ else
                            {"success_ci95_lo": None, "success_ci95_hi": None}),
                         **_vs_bare(correct, [ev.correct[NO_DEFENSE][i] for ev in evals], d == NO_DEFENSE)})
    return rows


def comparison_notes(summary: Sequence[dict], norm: str) -> list[str]:
    """One sentence per defense and ε: does the defense's accuracy differ significantly from the bare
    model's on the same images (exact McNemar, :func:`core.judging.stats.paired_difference`)?"""
    bare = {(r["kind"], r["eps"]): r for r in summary if r["defense"] == NO_DEFENSE}
    out = []
    for r in summary:
        if r["defense"] == NO_DEFENSE or r.get("vs_bare_p") is None:
            continue
        b = bare.get((r["kind"], r["eps"]))
        where = "clean" if r["kind"] == "clean" else (f"ε = {r['eps'] * 255:.3g}/255" if norm == "linf"
                                                      else f"ε = {r['eps']:.3g}")
        d = 100 * r["vs_bare_difference"]
        acc = f"{100 * r['accuracy']:.1f} % vs {100 * b['accuracy']:.1f} %" if b else ""
        verdict = ("significantly " + ("higher than" if d > 0 else "lower than")) if r["vs_bare_significant"] else \
            "not significantly different from"
        out.append(f"{r['defense']} at {where}: {acc} ({d:+.1f} points) — {verdict} the bare model on these "
                   f"{r['n']} images (exact McNemar p = {r['vs_bare_p']:.2g}).")
    return out


@dataclass
class BatchResult:
    """A batch evaluation: settings, per-image verdicts, summary rows, skipped files."""

    settings: EvalSettings
    images: list[ImageEval] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    complete: bool = True
    elapsed_s: float = 0.0
    device: str = ""
    label_note: str = LABEL_NOTE  # how labels were obtained (core.data.labels' notes)
    label_source: str = "clean prediction of the bare model"  # or core.data.labels.LabelSpec.describe()
    extra_notes: list[str] = field(default_factory=list)  # e.g. engine, resumed run

    @property
    def defense_names(self) -> list[str]:
        return [NO_DEFENSE] + [n for n, _ in self.settings.defenses]

    def summary(self) -> list[dict]:
        """:func:`summarize`'s rows, each with the attack (``attack``: the registered name or
        :data:`WORST_CASE`) so a table never shows one attack's accuracy as the worst case."""
        return [{**r, "attack": None if r["kind"] == "clean" else self.settings.attack}
                for r in summarize(self.images, self.settings.eps, self.defense_names)]

    def breakdown_attacks(self) -> list[str]:
        """The attacks of :meth:`breakdown`, in the order they ran."""
        if self.settings.worst_case:
            return self.settings.ensemble_config(max(self.settings.eps)).attack_names()
        return [self.settings.attack]

    def breakdown(self) -> list[dict]:
        """Per ε, on the bare model: robust accuracy (share of images classified correctly both
        clean and after the attack(s)), the images misclassified already when clean, the images each attack fooled
        first (``fooled_by_<attack>``) and the images nothing fooled. With :data:`WORST_CASE` the
        robust accuracy is the ensemble's worst case, otherwise one attack's."""
        rows = []
        n = len(self.images)
        if not n:
            return rows
        names = self.breakdown_attacks()
        for i, e in enumerate(self.settings.eps):
            found = [ev.found_by[i] if i < len(ev.found_by) else "" for ev in self.images]
            row = {"eps": float(e), "eps_255": float(e) * 255 if self.settings.norm == "linf" else None, "n": n,
                   "attack": self.settings.attack, "worst_case": self.settings.worst_case,
                   # robust: classified correctly both clean and after the attack(s) (RobustBench's count;
                   # an attack on a misclassified image that happens to make it correct does not count)
                   "robust_accuracy": sum(ev.clean[NO_DEFENSE] == ev.label and ev.correct[NO_DEFENSE][i]
                                          for ev in self.images) / n,
                   "clean_misclassified": found.count("clean")}
            row["robust"] = sum(ev.clean[NO_DEFENSE] == ev.label and ev.correct[NO_DEFENSE][i] for ev in self.images)
            row.update(_ci(row["robust"], n, "robust_accuracy"))
            row.update({f"fooled_by_{a}": found.count(a) for a in names})
            row["not_fooled"] = found.count(NOT_FOUND)
            row["unrecorded"] = found.count("")
            rows.append(row)
        return rows

    def robust_accuracy_note(self) -> str:
        """What the robust accuracy of this batch is: the worst case, or one attack's (then
        pointing to the worst case)."""
        s = self.settings
        if s.worst_case:
            return (f"Robust accuracy is the worst case per image and ε over an ensemble — {s.attack_description()}; "
                    "the breakdown shows which attack fooled each image first. This is the number to quote.")
        return (f"Robust accuracy here is one attack's ({s.attack}) and may overstate robustness: a single attack can "
                f"miss adversarial examples another finds. For the number to quote, run the worst case over an "
                f"ensemble (attack '{WORST_CASE}'; on the command line --attack {WORST_CASE_CLI}).")

    def image_rows(self, class_names: Sequence[str] | None = None) -> list[dict]:
        return [r for ev in self.images for r in ev.to_rows(self.settings.eps, class_names)]

    def to_dict(self, class_names: Sequence[str] | None = None) -> dict:
        return {"settings": {**self.settings.to_dict(), "label": self.label_source}, "label_note": self.label_note, "complete": self.complete,
                "n_images": len(self.images), "summary": self.summary(), "breakdown": self.breakdown(),
                "comparisons": comparison_notes(self.summary(), self.settings.norm),
                "robust_accuracy_note": self.robust_accuracy_note(), "images": [asdict(ev) for ev in self.images],
                "skipped": list(self.skipped), "elapsed_s": self.elapsed_s, "device": self.device}


def evaluate_images(model: nn.Module, items: Sequence[tuple[str, torch.Tensor]], settings: EvalSettings, *,
                    defenses: dict[str, Defense] | None = None, class_names: Sequence[str] | None = None,
                    progress: ProgressFn = None, into: BatchResult | None = None,
                    labels: dict[str, int] | None = None) -> BatchResult:
    """Evaluate every (name, image) — or :class:`core.data.image_sets.ImageItem` — in order;
    ``labels`` maps names to true classes (absent: agreement mode). ``progress(done, total, message)`` counts in
    thousandths of an image; raising :class:`core.runtime.progress.Cancelled` from it stops the work
    after the current attack step. ``into`` (a :class:`BatchResult`) receives each image as
    soon as it is done, so a caller that is interrupted keeps the finished ones (its
    ``complete`` flag stays False until the end)."""
    if len(items) > limits.MAX_EVAL_IMAGES:
        raise ValueError(f"at most {limits.MAX_EVAL_IMAGES} images per evaluation")
    t0 = time.perf_counter()
    out = into if into is not None else BatchResult(settings=settings)
    out.complete = False
    defenses = settings.build_defenses(model) if defenses is None else defenses
    names = class_names if class_names is not None else getattr(model, "class_names", None)
    total = len(items) * 1000
    for i, item in enumerate(items):
        name, x, key = _unpack(item)
        def sub(d: int, t: int, m: str = "", i=i, name=name) -> None:
            # 999 at most: the count reaches (i + 1)·1000 only once the image is stored
            report(progress, i * 1000 + min(999, int(1000 * d / max(t, 1))), total,
                   f"image {i + 1}/{len(items)} ({name}): {m}")
        report(progress, i * 1000, total, f"image {i + 1}/{len(items)} ({name})")
        out.images.append(evaluate_image(model, x, name, settings, defenses, class_names=names, key=key,
                                         label=labels.get(name) if labels is not None else None,
                                         progress=sub if progress is not None else None))
        out.elapsed_s = time.perf_counter() - t0
    report(progress, total, total, "done")
    out.complete = True
    out.elapsed_s = time.perf_counter() - t0
    return out




def _unpack(item: Any) -> tuple[str, torch.Tensor, str]:
    """(name, image, key) of a (name, image) pair or an ImageItem-like object."""
    if hasattr(item, "key") and hasattr(item, "value"):
        return item.name, item.value, item.key
    name, x = item[0], item[1]
    return name, x, name


def write_csv(rows: Sequence[dict], path: Any, columns: Sequence[str] | None = None) -> None:
    """Rows (dicts) as a CSV file with a header (columns: the given ones, else the union). Text
    cells that a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``, tab, CR first)
    get a leading apostrophe (:func:`core.data.safe_text.csv_cell`)."""
    if columns is None:
        columns = []
        for r in rows:
            columns += [k for k in r if k not in columns]
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(columns), extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if r.get(k) is None else csv_cell(r.get(k))) for k in columns})


__all__ = ["INTERVAL_COLUMNS", "comparison_notes", "NOT_FOUND", "WORST_CASE", "WORST_CASE_CLI", "batch_attacks", "image_attacks", "image_seed", "BatchResult", "Cancelled", "EvalSettings", "ImageEval", "LABEL_NOTE", "evaluate_image",
           "evaluate_images", "summarize", "write_csv"]
