"""Few-shot segmentation under attack: the paper's evaluation, the adaptive worst case per episode,
and a compact gradient-masking audit, all measured by the Dice (and IoU) of the query's mask.

The claim checked (Pandey, Chasmai, Sur, Lall, "Robust Prototypical Few-Shot Organ Segmentation
with Regularized Neural-ODEs", IEEE TMI 2023, arXiv 2208.12428): R-PNODE is much more robust than
CNN-based prototype segmenters. Its code attacks through torchdiffeq's dopri5 with step sizes chosen
without gradient, the pattern that hid gradient masking in earlier neural-ODE papers (Huang et al.
2020, "Adversarial robustness of stabilized neural ODE might be from obfuscated gradients"; Carrara
et al. 2022 on the solver tolerance). Per model, on the same episodes and ε:

1. **As the paper ran it** (:mod:`core.attacks.dense.fewshot`): FGSM, PGD, SMIA on the query and on the
   support, with the code's quirks (no clip to [0, 1]; SMIA unprojected, up to 10ε).
2. **Adaptive** (valid examples only: the ε-ball ∩ [0, 1]), on the query and on the support, per
   episode the lowest Dice of: Dense PGD on the mean per-pixel CE through the model itself
   (:mod:`core.attacks.dense.pgd`, α = ε/4, random start; it keeps its lowest-mIoU iterate over
   background and foreground, the Dice is then measured), on the query also Dense APGD
   (:mod:`core.attacks.dense.apgd`), a targeted Dense PGD that paints background over the whole query
   ("erase": −CE to an all-background map, the direct route to Dice 0, which the untargeted CE ascent
   need not take) and Square on the Dice itself (:mod:`core.attacks.dense.fewshot_square`),
   transfer of the prototype CNN's Dense PGD examples, and, for a dopri5 model, Dense PGD (query:
   and APGD) crafted on its fixed-step copy (RK4, the same weights) and evaluated on the dopri5 model.
   Defaults (CPU time on a shared 2-core machine): 10 steps, Square 60 queries.
3. **Solver tolerance** (dopri5 models): the clean Dice and the Dice of the white-box Dense PGD
   examples re-evaluated at rtol = atol = 1e-5 and with the fixed-step solver.
4. **Audit** (a compact equivalent of :mod:`core.evaluation.audit.checks`, whose checks are written for classifiers
   and their accuracy; here on the query, with the mean Dice, tolerance ``tol`` = 0.03):
   ``transfer`` warns when a transferred attack (CNN or fixed-step copy) reaches a lower Dice than
   the white-box gradient attacks; ``square`` when the gradient-free Square does; ``large_eps`` when
   Dense PGD at 8ε leaves a mean Dice above 0.1; ``iterations`` when Dense PGD with 3× the steps
   leaves a higher Dice than the base run.

Per-episode ``correct`` (for the project's per-image format): Dice ≥ 0.5.
"""
from __future__ import annotations

from collections.abc import Callable

import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from core.attacks.base import ThreatModel
from core.attacks.dense.apgd import DenseAPGD
from core.attacks.dense.pgd import DensePGD
from core.attacks.dense.fewshot import PAPER_ATTACKS, PAPER_EPS, EpisodeAttackModel, Target, paper_attack
from core.attacks.dense.fewshot_square import DiceSquare
from core.data.fewshot_episodes import Episodes
from core.attacks.dense.fewshot_metrics import dice, iou, mean_ci
from core.runtime.progress import ProgressFn, report

CORRECT_DICE = 0.5
LARGE_EPS_MAX_DICE = 0.1


@dataclass(frozen=True)
class FewShotEvalConfig:
    eps: float = PAPER_EPS
    steps: int = 10
    square_queries: int = 60
    large_eps_factor: float = 8.0
    iter_factor: int = 3
    batch: int = 20
    seed: int = 0
    tol: float = 0.03
    support_attacks: bool = True
    audit: bool = True
    audit_extra: bool = True  # the large-ε and more-steps runs (off: those checks are "n/a")


def _threat(cfg: FewShotEvalConfig, eps: float | None = None, steps: int | None = None) -> ThreatModel:
    e = cfg.eps if eps is None else eps
    return ThreatModel(norm="linf", eps=min(e, 1.0), step=min(e, 1.0) / 4, steps=steps or cfg.steps,
                       random_start=True)


def _chunks(n: int, b: int) -> list[slice]:
    return [slice(s, min(s + b, n)) for s in range(0, n, b)]


def predict(model: nn.Module, ep: Episodes, batch: int = 20, *, query: torch.Tensor | None = None,
            support: torch.Tensor | None = None) -> torch.Tensor:
    """Predicted foreground masks (N, H, W) bool (``query`` / ``support`` replace the episodes' images)."""
    q = ep.query if query is None else query
    s = ep.support if support is None else support
    out = []
    with torch.no_grad():
        for sl in _chunks(len(ep), batch):
            out.append(model(s[sl], ep.support_mask[sl], q[sl]).argmax(1) == 1)
    return torch.cat(out)


def episode_dice(model: nn.Module, ep: Episodes, batch: int = 20, **kw) -> torch.Tensor:
    return dice(predict(model, ep, batch, **kw), ep.query_mask)


def craft(model: nn.Module, ep: Episodes, target: Target, attack: str, cfg: FewShotEvalConfig, *,
          eps: float | None = None, steps: int | None = None,
          watch: Callable[[torch.Tensor, torch.Tensor], None] | None = None) -> torch.Tensor:
    """Adversarial query or support images (N, 3, H, W) of ``attack`` against ``model``: one of the
    paper's ("FGSM", "PGD", "SMIA") or "Dense PGD", "Dense APGD", "Square (Dice)". ``watch(x, logits)``
    sees every input the attack evaluates and the query's logits on it (a page's live view)."""
    out = []
    for sl in _chunks(len(ep), cfg.batch):
        f = EpisodeAttackModel(model, ep.support[sl], ep.support_mask[sl], ep.query[sl], target).eval()
        f.watch = watch
        x, ref = f.clean_input(), ep.query_mask[sl]
        if attack in PAPER_ATTACKS:
            out.append(paper_attack(attack, f, x, ref, cfg.eps if eps is None else eps, seed=cfg.seed))
            continue
        tm = _threat(cfg, eps, steps)
        atk = {"Dense PGD": lambda: DensePGD(tm), "Dense APGD": lambda: DenseAPGD(tm),
               "Dense PGD (erase)": lambda: DensePGD(tm),
               "Square (Dice)": lambda: DiceSquare(tm, n_queries=cfg.square_queries)}[attack]()
        paint = torch.zeros_like(ref) if attack == "Dense PGD (erase)" else None  # background everywhere
        out.append(atk.run(f, x, ref, paint, num_classes=2, seed=cfg.seed).x_adv)
    return torch.cat(out).detach()


def attack_key(t: str, name: str) -> str:
    """The evaluation name of attack ``name`` on target ``t`` ("q"/"s"): "q_dense_pgd_erase"…"""
    return f"{t}_{name.lower().replace(' ', '_').replace('(', '').replace(')', '')}"


def add_members(model: nn.Module, ep: Episodes, per: dict[str, np.ndarray], names: list[str],
                cfg: FewShotEvalConfig = FewShotEvalConfig()) -> dict[str, np.ndarray]:
    """Run further query attacks ``names`` on an evaluation already made (``per``) and lower its query
    worst case where they go lower (``q_worst_case__found_by`` updated)."""
    per = dict(per)
    n = len(ep)
    for name in names:
        key = attack_key("q", name)
        pred = predict(model, ep, cfg.batch, query=craft(model, ep, "query", name, cfg))
        d, j = dice(pred, ep.query_mask).numpy().astype(np.float32), iou(pred, ep.query_mask).numpy().astype(np.float32)
        per[f"{key}__dice"], per[f"{key}__iou"] = d, j
        lower = d < per["q_worst_case__dice"]
        per["q_worst_case__dice"] = np.where(lower, d, per["q_worst_case__dice"]).astype(np.float32)
        per["q_worst_case__iou"] = np.where(lower, j, per["q_worst_case__iou"]).astype(np.float32)
        per["q_worst_case__found_by"] = np.where(lower, key, per["q_worst_case__found_by"][:n]).astype("<U32")
    return per


def _dice_of(model: nn.Module, ep: Episodes, target: Target, x_adv: torch.Tensor, batch: int) -> torch.Tensor:
    kw = {"query": x_adv} if target == "query" else {"support": x_adv}
    return episode_dice(model, ep, batch, **kw)


def evaluate(model: nn.Module, ep: Episodes, cfg: FewShotEvalConfig = FewShotEvalConfig(), *,
             transfer: dict[str, dict[str, torch.Tensor]] | None = None, fixed_step: nn.Module | None = None,
             tolerance_variants: dict[str, nn.Module] | None = None, progress: ProgressFn = None
             ) -> tuple[dict[str, np.ndarray], dict]:
    """Run everything above on ``model``. ``transfer``: name -> {"query": x, "support": x}
    adversarial images crafted elsewhere; ``fixed_step``: the fixed-step copy of a dopri5 model;
    ``tolerance_variants``: name -> the same weights under another solver setting.

    Returns (per-episode arrays: ``<evaluation>__dice`` float32 and ``<evaluation>__iou``,
    summary dict with means, bootstrap intervals, worst cases, seconds and the audit)."""
    t_start = time.perf_counter()
    per: dict[str, np.ndarray] = {}
    seconds: dict[str, float] = {}
    found: dict[str, np.ndarray] = {}
    adv_white: dict[str, torch.Tensor] = {}
    targets: tuple[Target, ...] = ("query", "support") if cfg.support_attacks else ("query",)
    jobs = len(targets) * 6 + (2 if cfg.audit else 0)
    done = 0

    def put(name: str, pred: torch.Tensor) -> None:
        per[f"{name}__dice"] = dice(pred, ep.query_mask).numpy().astype(np.float32)
        per[f"{name}__iou"] = iou(pred, ep.query_mask).numpy().astype(np.float32)

    def tick(label: str) -> None:
        nonlocal done
        done += 1
        report(progress, done, jobs, label)

    put("clean", predict(model, ep, cfg.batch))
    for tgt in targets:
        t = tgt[0]  # "q" / "s"
        for name in PAPER_ATTACKS:
            t0 = time.perf_counter()
            x = craft(model, ep, tgt, name, cfg)
            put(f"{t}_{name.lower()}_paper", predict(model, ep, cfg.batch, **{tgt: x}))
            seconds[f"{t}_{name.lower()}_paper"] = time.perf_counter() - t0
            tick(f"{tgt}: {name} (paper)")
        members: list[str] = []
        attacks = ["Dense PGD"] + (["Dense APGD", "Dense PGD (erase)", "Square (Dice)"] if tgt == "query" else [])
        for name in attacks:
            t0 = time.perf_counter()
            x = craft(model, ep, tgt, name, cfg)
            key = attack_key(t, name)
            put(key, predict(model, ep, cfg.batch, **{tgt: x}))
            if name == "Dense PGD":
                adv_white[tgt] = x
            members.append(key)
            seconds[key] = time.perf_counter() - t0
            tick(f"{tgt}: {name}")
        if fixed_step is not None:
            for name in ("Dense PGD", "Dense APGD")[:2 if tgt == "query" else 1]:
                t0 = time.perf_counter()
                x = craft(fixed_step, ep, tgt, name, cfg)
                key = f"{t}_fixed_step_{name.split()[-1].lower()}"
                put(key, predict(model, ep, cfg.batch, **{tgt: x}))
                members.append(key)
                seconds[key] = time.perf_counter() - t0
        for src, xs in (transfer or {}).items():
            if tgt in xs:
                key = f"{t}_transfer_{src}"
                put(key, predict(model, ep, cfg.batch, **{tgt: xs[tgt]}))
                members.append(key)
        stack = np.stack([per[f"{m}__dice"] for m in members])
        who = stack.argmin(0)
        per[f"{t}_worst_case__dice"] = stack.min(0).astype(np.float32)
        per[f"{t}_worst_case__iou"] = np.stack([per[f"{m}__iou"] for m in members])[who, np.arange(len(ep))]
        found[f"{t}_worst_case"] = np.asarray([members[k] for k in who])
    if tolerance_variants:
        for vname, vm in tolerance_variants.items():
            put(f"clean_{vname}", predict(vm, ep, cfg.batch))
            put(f"q_dense_pgd_{vname}", predict(vm, ep, cfg.batch, query=adv_white["query"]))
    audit = None
    if cfg.audit:
        t0 = time.perf_counter()
        if cfg.audit_extra:
            put("q_dense_pgd_large_eps", predict(model, ep, cfg.batch, query=craft(
                model, ep, "query", "Dense PGD", cfg, eps=cfg.eps * cfg.large_eps_factor)))
            tick("audit: large ε")
            put("q_dense_pgd_more_steps", predict(model, ep, cfg.batch, query=craft(
                model, ep, "query", "Dense PGD", cfg, steps=cfg.steps * cfg.iter_factor)))
            tick("audit: more steps")
        seconds["audit"] = time.perf_counter() - t0
        audit = audit_verdicts(per, cfg.tol)
    summary = summarize(per, cfg)
    summary["found_by"] = {k: {m: int((v == m).sum()) for m in np.unique(v)} for k, v in found.items()}
    summary["seconds"] = {k: round(v, 1) for k, v in seconds.items()}
    summary["wall_seconds"] = round(time.perf_counter() - t_start, 1)
    summary["audit"] = audit
    for k, v in found.items():
        per[f"{k}__found_by"] = v.astype("<U32")
    return per, summary


def summarize(per: dict[str, np.ndarray], cfg: FewShotEvalConfig) -> dict:
    """Mean Dice and IoU with bootstrap intervals, per evaluation."""
    rows = {}
    for k in sorted(per):
        if not k.endswith("__dice"):
            continue
        name = k[:-len("__dice")]
        m, lo, hi = mean_ci(per[k])
        rows[name] = {"dice": round(m, 4), "dice_ci95": [round(lo, 4), round(hi, 4)],
                      "iou": round(float(np.mean(per[f"{name}__iou"])), 4),
                      "correct_share": round(float(np.mean(per[k] >= CORRECT_DICE)), 4)}
    return {"config": asdict(cfg), "episodes": int(len(per["clean__dice"])), "results": rows,
            "interval": "95 % percentile bootstrap of the mean over episodes (scipy.stats.bootstrap, 2,000 "
                        "resamples, seed 0)", "correct": f"Dice >= {CORRECT_DICE}"}


def audit_verdicts(per: dict[str, np.ndarray], tol: float) -> dict:
    """The compact audit (module docstring) on the query attacks' mean Dice."""
    mean = {k[:-len("__dice")]: float(np.mean(v)) for k, v in per.items() if k.endswith("__dice")}
    white = min(mean["q_dense_pgd"], mean["q_dense_apgd"])
    transfers = {k: v for k, v in mean.items() if k.startswith("q_transfer_") or k.startswith("q_fixed_step_")}
    best_transfer = min(transfers.values()) if transfers else None
    checks = {
        "transfer": {"white_box_dice": round(white, 4),
                     "transfer_dice": None if best_transfer is None else round(best_transfer, 4),
                     "verdict": "n/a" if best_transfer is None else ("warn" if best_transfer < white - tol else "pass")},
        "square": {"white_box_dice": round(white, 4), "square_dice": round(mean["q_square_dice"], 4),
                   "verdict": "warn" if mean["q_square_dice"] < white - tol else "pass"},
    }
    if "q_dense_pgd_large_eps" in mean:
        checks["large_eps"] = {"dice_at_large_eps": round(mean["q_dense_pgd_large_eps"], 4),
                               "verdict": "warn" if mean["q_dense_pgd_large_eps"] > LARGE_EPS_MAX_DICE else "pass"}
        checks["iterations"] = {"base_dice": round(mean["q_dense_pgd"], 4),
                                "more_steps_dice": round(mean["q_dense_pgd_more_steps"], 4),
                                "verdict": "warn" if mean["q_dense_pgd_more_steps"] > mean["q_dense_pgd"] + tol else "pass"}
    else:
        checks["large_eps"] = checks["iterations"] = {"verdict": "n/a"}
    return {"tolerance": tol, "checks": checks,
            "verdict": "warn" if any(c["verdict"] == "warn" for c in checks.values()) else "pass",
            "source": "compact equivalent of core.evaluation.audit.checks on the query's mean Dice (core.evaluation.dense.fewshot_eval)"}


def per_image_arrays(per: dict[str, np.ndarray], classes: np.ndarray) -> dict[str, np.ndarray]:
    """The project's per-image format: format_version, image_index (episode), labels (episode class),
    ``E__correct`` (Dice ≥ 0.5) beside ``E__dice`` / ``E__iou`` float32 and ``E__found_by``."""
    n = len(classes)
    out: dict[str, np.ndarray] = {"format_version": np.int32(1), "image_index": np.arange(n, dtype=np.int32),
                                  "labels": np.asarray(classes, dtype=np.int64)}
    for k, v in per.items():
        out[k] = v
        if k.endswith("__dice"):
            out[k[:-len("__dice")] + "__correct"] = v >= CORRECT_DICE
    return out


__all__ = ["CORRECT_DICE", "FewShotEvalConfig", "audit_verdicts", "craft", "episode_dice", "evaluate",
           "per_image_arrays", "predict", "summarize", "add_members", "attack_key"]
