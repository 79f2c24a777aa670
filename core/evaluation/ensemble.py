"""A worst-case ensemble of attacks in the style of AutoAttack (Croce & Hein, "Reliable
evaluation of adversarial robustness with an ensemble of diverse parameter-free attacks",
ICML 2020; reference code ``fra31/auto-attack``).

Version ``"standard"`` runs, in order, each attack only on the images that are still classified
correctly (an image fooled by an earlier attack is not attacked again):

1. APGD-CE (untargeted, cross-entropy), :class:`core.attacks.apgd.APGDCE`;
2. APGD-T: targeted APGD-DLR towards each of the ``n_targets`` most likely other classes of the
   clean image in turn (the 2nd, 3rd, … highest clean logits); success is *any*
   misclassification, as in AutoAttack; at most C − 1 targets for C classes, and none for a
   model with fewer than 4 classes (the targeted DLR loss needs four);
3. Square (score-based, no gradients), :class:`core.attacks.square.Square`.

Per image the result keeps the first successful adversarial example and the attack that found
it. **Robust accuracy** = images classified correctly both clean and after every attack.

Version ``"rand"`` (randomized defenses, AutoAttack's "rand"): APGD-CE and untargeted APGD-DLR
with EOT gradients (the gradient of the logits averaged over ``eot_samples`` draws of the
model's randomness, :class:`EOTModel`), then — unlike AutoAttack's "rand", which leaves Square
out (its issue 56) — Square-EOT (:class:`core.attacks.square_eot.SquareEOT`: each candidate's
margin averaged over ``eot_samples`` draws, accepted on that average), so a randomized defense
that masks its gradients cannot hide from the gradient-free stage; the verdict on every image
(clean and adversarial) is a majority vote over ``verdict_evals`` evaluations of the randomized
model, and the spread of those votes is reported.

AutoAttack's defaults: APGD 100 iterations, 9 target classes, FAB-T, Square 5,000 queries
(p_init = 0.8), EOT 20 draws. CPU defaults here (:class:`EnsembleConfig`): APGD 50 iterations,
3 target classes, Square 1,000 queries (p_init = 0.8), EOT 8 draws, 5 verdict evaluations.
Deviations: no FAB-T (a minimum-norm attack; AutoAttack reports it rarely adds to APGD-T and
Square); EOT averages logits rather than per-draw loss gradients; smaller budgets (the report
says which).

:func:`worst_case` is the one function every page, card and batch evaluation should call when
it quotes one robust accuracy; :meth:`EnsembleResult.summary` gives the number and the
per-attack breakdown.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Literal

import torch
from torch import nn

from core.runtime import limits
from core.attacks.apgd import APGD, APGDCE
from core.attacks.base import Norm, ThreatModel, lp_norm
from core.attacks.square import Square
from core.attacks.square_eot import SquareEOT
from core.runtime.progress import ProgressFn, report

Version = Literal["standard", "rand"]
WORST_CASE = "Worst case"
"""The name under which pages, batch evaluation and the command line offer this ensemble."""
WORST_CASE_SUMMARY = ("the AutoAttack-style ensemble: APGD-CE, then targeted APGD-DLR towards the most likely other "
                      "classes, then the gradient-free Square Attack, at each ε; a point is correct only if all of "
                      "them fail. This is the number to quote; the single attacks are what one attack sees.")
WORST_CASE_NORMS = ("linf", "l2")
WORST_CASE_PARAMS = ("n_targets", "square_queries")  # the settings a page or run may choose


@dataclass(frozen=True)
class EnsembleConfig:
    """Budget of the ensemble (see the module docstring for the paper's values)."""

    norm: Norm = "linf"
    eps: float = 0.1
    version: Version = "standard"
    apgd_steps: int = 50
    n_targets: int = 3
    square_queries: int = 1000
    square_p_init: float = 0.8
    eot_samples: int = 8
    verdict_evals: int = 5

    def __post_init__(self) -> None:
        ThreatModel(norm=self.norm, eps=self.eps, steps=self.apgd_steps)  # validates norm, eps, steps
        if self.version not in ("standard", "rand"):
            raise ValueError(f"version must be 'standard' or 'rand', not {self.version!r}")
        if not (isinstance(self.n_targets, int) and 0 <= self.n_targets <= limits.MAX_ENSEMBLE_TARGETS):
            raise ValueError(f"n_targets must be an integer in 0..{limits.MAX_ENSEMBLE_TARGETS}")
        if not (isinstance(self.square_queries, int) and 0 <= self.square_queries <= limits.MAX_SQUARE_QUERIES):
            raise ValueError(f"square_queries must be an integer in 0..{limits.MAX_SQUARE_QUERIES} (0: no Square)")
        if not (isinstance(self.eot_samples, int) and 1 <= self.eot_samples <= limits.MAX_EOT_SAMPLES):
            raise ValueError(f"eot_samples must be an integer in 1..{limits.MAX_EOT_SAMPLES}")
        if not (isinstance(self.verdict_evals, int) and 1 <= self.verdict_evals <= limits.MAX_EOT_EVALS):
            raise ValueError(f"verdict_evals must be an integer in 1..{limits.MAX_EOT_EVALS}")

    def threat(self) -> ThreatModel:
        return ThreatModel(norm=self.norm, eps=self.eps, step=self.eps, steps=self.apgd_steps, random_start=True)

    def attack_names(self) -> list[str]:
        if self.version == "rand":
            return ["APGD-CE (EOT)", "APGD-DLR (EOT)"] + (["Square (EOT)"] if self.square_queries else [])
        names = ["APGD-CE"] + (["APGD-T"] if self.n_targets else [])
        return names + (["Square"] if self.square_queries else [])


class EOTModel(nn.Module):
    """Logits averaged over ``samples`` forward passes of a randomized model (Expectation over
    Transformation, Athalye et al. 2018): the gradient is the average of the per-draw gradients
    of the logits. Evaluation-only; the wrapped model is not changed."""

    def __init__(self, model: nn.Module, samples: int) -> None:
        super().__init__()
        self.base = model
        self.samples = int(samples)
        self.training = False

    def train(self, mode: bool = True):  # noqa: D102 - never switch the wrapped model
        if mode:
            raise RuntimeError("an EOT view is evaluation-only")
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return torch.stack([self.base(x) for _ in range(self.samples)]).mean(0)


@dataclass
class EnsembleResult:
    """Per image: clean and robust verdicts, the first successful adversarial example and the
    attack that found it ("" while robust, "clean" when misclassified without attack)."""

    config: EnsembleConfig
    clean_correct: torch.Tensor  # (N,) bool
    robust: torch.Tensor  # (N,) bool
    found_by: list[str]
    x_adv: torch.Tensor  # (N, C, H, W): the first successful example, else the clean image
    stages: list[dict] = field(default_factory=list)  # per attack: ran_on, fooled, robust_after
    vote_spread: torch.Tensor | None = None  # rand: per image, share of verdict votes that were correct
    elapsed_s: float = 0.0

    @property
    def n(self) -> int:
        return int(self.robust.numel())

    @property
    def clean_accuracy(self) -> float:
        return float(self.clean_correct.double().mean()) if self.n else float("nan")

    @property
    def robust_accuracy(self) -> float:
        return float(self.robust.double().mean()) if self.n else float("nan")

    def breakdown(self) -> list[dict]:
        """Per attack: images it ran on, images it fooled first, robust accuracy after it."""
        return [dict(s) for s in self.stages]

    def summary(self) -> dict:
        """The quoted numbers: clean and robust accuracy, counts, breakdown and the budget."""
        return {"n": self.n, "clean_accuracy": self.clean_accuracy, "robust_accuracy": self.robust_accuracy,
                "clean_correct": int(self.clean_correct.sum()), "robust": int(self.robust.sum()),
                "breakdown": self.breakdown(), "config": asdict(self.config),
                "seconds": round(self.elapsed_s, 1)}


def _predict(model: nn.Module, x: torch.Tensor, batch_size: int, evals: int = 1) -> torch.Tensor:
    """(evals, N) predicted classes."""
    dev = next((p.device for p in model.parameters()), x.device)
    out = []
    with torch.no_grad():
        for _ in range(evals):
            out.append(torch.cat([model(x[s:s + batch_size].to(dev)).argmax(1).cpu()
                                  for s in range(0, x.shape[0], batch_size)]))
    return torch.stack(out)


def _verdict(model: nn.Module, x: torch.Tensor, y: torch.Tensor, cfg: EnsembleConfig,
             batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(correct (N,) bool, share of correct votes (N,)); a majority vote for "rand"."""
    evals = cfg.verdict_evals if cfg.version == "rand" else 1
    share = (_predict(model, x, batch_size, evals) == y.cpu()[None]).float().mean(0)
    return share > 0.5, share


def worst_case(model: nn.Module, x: torch.Tensor, y: torch.Tensor, config: EnsembleConfig | None = None, *,
               seed: int = 0, batch_size: int = 250, progress: ProgressFn = None) -> EnsembleResult:
    """Run the ensemble on float images ``x`` in [0, 1] with labels ``y`` (see module docstring).

    Deterministic for a given seed, batch size and thread count: batch b of stage k uses seed
    ``seed + 1000·k + b`` (APGD-T's target rank r: ``+ 100·r``)."""
    cfg = config or EnsembleConfig()
    if model.training:
        raise RuntimeError("the ensemble needs a model in eval mode")
    if x.dim() != 4 or y.shape != (x.shape[0],):
        raise ValueError("x must be (N, C, H, W) and y (N,)")
    t0 = time.perf_counter()
    x, y = x.detach().cpu(), y.detach().cpu().long()
    dev = next((p.device for p in model.parameters()), torch.device("cpu"))
    clean_ok, _ = _verdict(model, x, y, cfg, batch_size)
    robust = clean_ok.clone()
    found_by = ["" if c else "clean" for c in clean_ok.tolist()]
    x_adv = x.clone()
    threat = cfg.threat()
    square_threat = ThreatModel(norm=cfg.norm, eps=cfg.eps)
    if cfg.version == "rand":
        attack_model = EOTModel(model, cfg.eot_samples)
        stages = [("APGD-CE (EOT)", [(APGD(threat, loss="ce"), None)]),
                  ("APGD-DLR (EOT)", [(APGD(threat, loss="dlr"), None)])]
        if cfg.square_queries:  # averages its scores over the draws itself, so it queries the model
            stages.append(("Square (EOT)", [(SquareEOT(square_threat, n_queries=cfg.square_queries,
                                                       p_init=cfg.square_p_init, eot_samples=cfg.eot_samples),
                                             None)]))
    else:
        attack_model = model
        stages = [("APGD-CE", [(APGDCE(threat), None)])]
        with torch.no_grad():
            n_classes = int(model(x[:1].to(dev)).shape[1]) if x.shape[0] else 0
        # The targeted DLR loss needs 4 classes; with fewer, APGD-T is left out (its stage says so).
        n_targets = min(cfg.n_targets, n_classes - 1) if n_classes >= 4 else 0
        if n_targets:
            stages.append(("APGD-T", [(APGD(threat, loss="dlr"), r) for r in range(1, n_targets + 1)]))
        if cfg.square_queries:
            stages.append(("Square", [(Square(square_threat, n_queries=cfg.square_queries,
                                              p_init=cfg.square_p_init), None)]))
    # Target ranks come from the clean logits (AutoAttack: the 2nd, 3rd, ... highest).
    clean_order = None
    if any(r is not None for _, runs in stages for _, r in runs):
        with torch.no_grad():
            clean_order = torch.cat([attack_model(x[s:s + batch_size].to(dev)).argsort(1, descending=True).cpu()
                                     for s in range(0, x.shape[0], batch_size)])
    total_batches = sum(len(runs) for _, runs in stages) * max(1, math.ceil(int(robust.sum()) / batch_size))
    done = 0
    breakdown = []
    for k, (name, runs) in enumerate(stages):
        ran_on = int(robust.sum())
        fooled = 0
        for attack, rank in runs:
            idx = torch.nonzero(robust).flatten()
            for b, s in enumerate(range(0, len(idx), batch_size)):
                sel = idx[s:s + batch_size]
                xs, ys = x[sel].to(dev), y[sel].to(dev)
                targets = None if rank is None else clean_order[sel, rank].to(dev)
                adv, _ = attack.perturb(model if isinstance(attack, SquareEOT) else attack_model, xs, ys,
                                        targets=targets,
                                        seed=seed + 1000 * k + 100 * (rank or 0) + b)
                adv = adv.cpu()
                if (lp_norm(adv - x[sel], cfg.norm) > cfg.eps * (1 + 1e-4) + 1e-6).any():
                    raise AssertionError(f"{name} left the ε-ball")  # a bug, never a result
                ok, _ = _verdict(model, adv, y[sel], cfg, batch_size)
                hit = sel[~ok]
                robust[hit] = False
                x_adv[hit] = adv[~ok]
                for i in hit.tolist():
                    found_by[i] = name
                fooled += int(hit.numel())
                done += 1
                report(progress, min(done, total_batches), max(total_batches, done),
                       f"{name}{'' if rank is None else f' (target rank {rank + 1})'}: batch {b + 1}")
        breakdown.append({"attack": name, "ran_on": ran_on, "fooled": fooled,
                          "robust_after": int(robust.sum()), "robust_accuracy_after": float(robust.double().mean())})
    spread = None
    if cfg.version == "rand":
        _, spread = _verdict(model, x_adv, y, cfg, batch_size)
    return EnsembleResult(config=cfg, clean_correct=clean_ok, robust=robust, found_by=found_by, x_adv=x_adv,
                          stages=breakdown, vote_spread=spread, elapsed_s=time.perf_counter() - t0)


def robust_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, norm: Norm = "linf", *,
                    seed: int = 0, progress: ProgressFn = None, **config) -> dict:
    """The ensemble's summary (:meth:`EnsembleResult.summary`) in one call, for batch
    evaluation, cards and reports."""
    return worst_case(model, x, y, EnsembleConfig(norm=norm, eps=eps, **config), seed=seed,
                      progress=progress).summary()


__all__ = ["WORST_CASE", "WORST_CASE_SUMMARY", "WORST_CASE_NORMS", "WORST_CASE_PARAMS", "EOTModel", "EnsembleConfig", "EnsembleResult", "robust_accuracy", "worst_case"]
