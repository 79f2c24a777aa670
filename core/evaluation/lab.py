"""The Attack Lab's computation and the one summary of its result that the page and the
downloadable report (:func:`core.viz.report.attack_report`) both show, so the two cannot disagree.

:func:`run_attack_lab` attacks one image (through a defense when the attacker is adaptive), asks
the bare model about the clean and adversarial images and, with a defense, lets the defense
classify both. :func:`summarize` turns that into the numbers and verdicts: whether the attack
reached its goal on the bare model, whether it gets through the defense, and the cases in which a
verdict alone would mislead — the clean image already misclassified (by the model or by the
defense), a defense that does worse than no defense, an unsure clean prediction.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from collections.abc import Callable, Sequence

import torch
from torch import nn

from core.judging import pages as pv
from core.explain.analysis import Prediction, perturbation_stats, predict, topk
from core.attacks import AttackResult, Goal, ThreatModel, make_attack
from core.defenses import Defense, DefenseOutput
from core.evaluation.live_attack import LiveState, LiveWatch
from core.runtime.progress import ProgressFn, stage

# Below this top-1 probability the clean prediction is called unsure (core.judging.pages, the
# pages' one rule set): fooling a model that was not sure in the first place proves little.
UNSURE_BELOW = pv.UNSURE_BELOW
# A defense is "worse than none" on the attacked image when it is wrong where the bare model is
# right, or its probability of the label is lower by more than this.
WORSE_BY = 0.01


@dataclass
class LabRun:
    """Everything one Attack Lab run computed."""

    result: AttackResult
    bare: tuple[torch.Tensor, torch.Tensor]  # the bare model's logits on the clean and adversarial image
    defended: tuple[DefenseOutput, DefenseOutput] | None = None  # the defense on both images
    defense_name: str | None = None
    defense_params: dict | None = None
    adaptive: bool = False
    live: dict | None = None  # how the run was shown while it ran: updates, their cost, the steps shown


def run_attack_lab(model: nn.Module, x: torch.Tensor, label: int, attack_name: str, threat: ThreatModel,
                   params: dict | None = None, goal: Goal | None = None, seed: int = 0,
                   defense: Defense | None = None, defense_name: str | None = None, adaptive: bool = False,
                   progress: ProgressFn = None, live: LiveState | None = None,
                   on_update: Callable[[LiveState], None] | None = None, live_interval: float = 0.0,
                   live_render_cost: float = 0.0) -> LabRun:
    """Attack ``x`` (one image) with label ``label``; the attacker targets the defended model when
    ``adaptive`` (the defense's own route), else the bare model. With a defense, it then
    classifies the clean and the adversarial image. Progress is reported per stage.

    ``live``: filled while the attack runs (the latest and the best iterate, :mod:`core.evaluation.live_attack`),
    and ``on_update(live)`` called within the update budget (each update charged its own time plus
    ``live_render_cost``, the browser's share) and at least ``live_interval`` seconds apart;
    ``live.finished`` is the returned run."""
    target_model = defense.as_model(adaptive=True, seed=seed) if (defense is not None and adaptive) else model
    attack = make_attack(attack_name, threat, **(params or {}))
    n_stages = 2 if defense is not None else 1
    watch = None
    if live is not None:
        live.total = attack.total_steps()
        watch = LiveWatch(live, on_update, min_interval=live_interval, render_cost=live_render_cost)
        watch.start()
    result = attack.run(target_model, x, torch.tensor([label]), goal or Goal(), seed=seed,
                        progress=stage(progress, 0, n_stages, "attack"), record_images=True, watch=watch)
    defended = None
    if defense is not None:
        dp = stage(progress, 1, n_stages, "defense")
        defended = (defense.defend(result.x_clean, seed=seed, progress=dp),
                    defense.defend(result.x_adv, seed=seed, progress=dp))
    if target_model is model:  # the attack already asked the bare model about both images
        bare = (result.clean_logits, result.adv_logits)
    else:
        bare = (predict(model, result.x_clean), predict(model, result.x_adv))
    run = LabRun(result, bare, defended, defense_name if defense is not None else None,
                 defense.params() if defense is not None else None, adaptive and defense is not None)
    if live is not None:
        live.finished = run
        run.live = {"updates": live.updates, "update_s": round(live.update_s, 4),
                    "attack_s": round(live.attack_s, 4), "steps_shown": list(live.shown_steps)}
    return run


def demo_example(model: nn.Module, x: torch.Tensor, eps: float = 4 / 255, steps: int = 10, seed: int = 0) -> LabRun:
    """The home page's live example: PGD (L∞ ε, random start, step ε/4) on ``x`` against the model's
    own clean prediction."""
    label = int(predict(model, x).argmax())
    threat = ThreatModel(norm="linf", eps=eps, step=eps / 4, steps=steps, random_start=True)
    return run_attack_lab(model, x, label, "PGD", threat, seed=seed)


@dataclass
class AttackSummary:
    """The numbers and verdicts of one Attack Lab run (image 0)."""

    label: int
    label_name: str
    target: int | None
    goal_text: str  # "any wrong class", "the class “goldfish”", …
    clean: Prediction  # the bare model
    adv: Prediction
    stats: dict[str, float]  # perturbation_stats
    p_label_clean: float
    p_label_adv: float
    succeeded: bool  # the attack reached its goal on the model it attacked
    clean_wrong: bool  # the bare model already misclassifies the clean image
    unsure: bool  # the bare model's clean top-1 probability is below UNSURE_BELOW
    defense: str | None = None
    defended_clean: Prediction | None = None
    defended_adv: Prediction | None = None
    gets_through: bool | None = None  # the defended prediction on the adversarial image meets the goal
    defended_clean_wrong: bool | None = None  # the defense already misclassifies the clean image
    defense_worse: bool | None = None  # wrong where the bare model is right, or P(label) lower by > WORSE_BY

    @property
    def verdict(self) -> str:
        """One line for the page and the report."""
        if self.defense is None:
            return "succeeded" if self.succeeded else "did not reach its goal"
        if self.defended_clean_wrong:
            return "the defense already misclassifies the clean image"
        return "gets through the defense" if self.gets_through else "the defense holds"

    def notes(self) -> list[str]:
        """Plain-words warnings a verdict alone would hide."""
        out = clean_notes(self.clean, self.label, self.label_name)
        if self.defense is not None and self.defended_clean_wrong and not self.clean_wrong:
            out.append(f"With {self.defense} the clean image is already misclassified (“"
                       f"{self.defended_clean.names[0]}”): the defense costs accuracy before any attack.")
        if self.defense_worse:
            out.append(f"The defended model is less sure of “{self.label_name}” on the attacked image than the bare "
                       "model: here the defense does worse than no defense.")
        return out


def clean_notes(clean: Prediction, label: int, label_name: str) -> list[str]:
    """Warnings about the clean prediction that make any attack verdict weak: the model already
    gets the image wrong, or is unsure (top-1 probability below :data:`UNSURE_BELOW`)."""
    out = []
    if clean.top1 != label:
        out.append(f"The model already gets the clean image wrong: it says “{clean.names[0]}”, not "
                   f"“{label_name}”. An attack cannot make a wrong answer more wrong; set the correct "
                   "class or choose another photo.")
    if clean.probs[0] < UNSURE_BELOW:
        out.append(f"The model is unsure about the clean image (top class “{clean.names[0]}” at "
                   f"{clean.probs[0]:.0%}): fooling an unsure model proves little.")
    return out


def summarize(run: LabRun, class_names: Sequence[str]) -> AttackSummary:
    """The numbers and verdicts of a :class:`LabRun` (see :class:`AttackSummary`)."""
    names = list(class_names)
    res = run.result
    lab = int(res.labels[0])
    tgt = None if res.targets is None else int(res.targets[0])
    clean_logits, adv_logits = run.bare
    cp, ap = topk(clean_logits[:1], names), topk(adv_logits[:1], names)
    goal_text = {"untargeted": "any wrong class",
                 "targeted": f"the class “{names[tgt]}”" if tgt is not None else "a chosen class",
                 "least_likely": f"the least likely class “{names[tgt]}”" if tgt is not None else "the least likely class",
                 }[res.goal.mode]
    s = AttackSummary(label=lab, label_name=names[lab], target=tgt, goal_text=goal_text, clean=cp, adv=ap,
                      stats=perturbation_stats(res.x_clean[:1], res.x_adv[:1]),
                      p_label_clean=float(clean_logits.softmax(1)[0, lab]),
                      p_label_adv=float(adv_logits.softmax(1)[0, lab]),
                      succeeded=bool(res.success[0]), clean_wrong=cp.top1 != lab, unsure=cp.probs[0] < UNSURE_BELOW)
    if run.defended is not None:
        dc = topk(run.defended[0].logits[:1].float().cpu(), names)
        da = topk(run.defended[1].logits[:1].float().cpu(), names)
        p_def_adv = float(run.defended[1].logits[:1].float().softmax(1)[0, lab])
        s.defense = run.defense_name
        s.defended_clean, s.defended_adv = dc, da
        s.gets_through = (da.top1 == tgt) if tgt is not None else (da.top1 != lab)
        s.defended_clean_wrong = dc.top1 != lab
        bare_right = ap.top1 == lab
        s.defense_worse = (bare_right and da.top1 != lab) or p_def_adv < s.p_label_adv - WORSE_BY
    return s


def lab_verdicts(s: AttackSummary, attack: str, n_classes: int) -> tuple[pv.Verdict, pv.Verdict | None]:
    """The page's verdicts (:mod:`core.judging.pages`): the attack on the bare model (neutral when
    the clean prediction is already wrong or unsure) and, with a defense, the defense's."""
    unfit = pv.classifier_input(s.label_name, s.clean.names[0], float(s.clean.probs[0]), not s.clean_wrong,
                                n_classes)
    v = pv.attack_outcome(attack, s.succeeded, s.goal_text, s.clean.names[0], s.adv.names[0], unfit)
    if s.defense is None:
        return v, None
    bare_fooled = s.adv.top1 != s.label
    d = pv.defended_classifier(s.defense, s.label_name, bare_fooled, not s.defended_clean_wrong, False,
                               bool(s.gets_through), False, bool(s.defense_worse) and not s.gets_through,
                               p_label_def=None, p_label_bare=s.p_label_adv)
    return v, d


def summary_numbers(s: AttackSummary, elapsed_s: float) -> dict[str, Any]:
    """The summary as flat numbers (the report's "Result" table)."""
    out: dict[str, Any] = {"verdict": s.verdict, "success": s.succeeded, "elapsed_s": elapsed_s,
                           "p_label_clean": s.p_label_clean, "p_label_adv": s.p_label_adv,
                           "clean_top1": s.clean.names[0], "adv_top1": s.adv.names[0],
                           "clean_already_wrong": s.clean_wrong, "clean_unsure": s.unsure, **s.stats}
    if s.defense is not None:
        out.update({"defense_gets_through": s.gets_through, "defended_clean_wrong": s.defended_clean_wrong,
                    "defense_worse_than_none": s.defense_worse})
    return out


__all__ = ["AttackSummary", "LabRun", "UNSURE_BELOW", "clean_notes", "demo_example", "lab_verdicts", "run_attack_lab", "summarize", "summary_numbers"]
