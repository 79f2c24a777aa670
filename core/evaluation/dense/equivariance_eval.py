"""The equivariance defense measured as its paper measures it: mIoU clean / attacked / defended.

Paper: Mao, Zhang, Joshi, Yang, Wang, Vondrick, *Robust Perception through Equivariance*,
ICML 2023, Tables 1–3 (semantic segmentation: mIoU of the clean images, of PGD-attacked images,
and of the attacked images after equivariance purification; and the same against the
equivariance-aware adaptive attacker). Here on the shipped garment scenes
(:func:`core.data.scenes.load_test_scenes`, ground-truth labels) with the project's segmenter.

* Purification: :func:`core.defenses.seg_equivariance.purify_segmentation` unchanged (views,
  inverse warps, the cosine loss over the full-resolution logit map — all 11 channels here —,
  the reversal vector's sign steps within ε_v).
* Non-adaptive attacker: Dense PGD (:mod:`core.attacks.dense.pgd`) on the undefended model;
  the defended mIoU is that of the purified adversarial images.
* Adaptive attacker (the paper's ``PGD_attack_new_adaptive``): Dense PGD ascending
  mean CE − λ·L_equi(x_adv), fresh views (seeded) at every step, so the adversarial image keeps
  its views consistent and the purifier finds little to undo (:func:`equivariance_aware_pgd`).
* BPDA attacker (Athalye et al., ICML 2018): Dense PGD on the purified model, the purifier run forward at
  every step and its gradient passed as the identity
  (:meth:`core.defenses.seg_equivariance.SegEquivariancePurification.as_model`); the attacker's purifier
  draws its random views and start with another seed than the evaluation's (it knows the defense, not its
  dice). Not in the paper; the attack an auditor runs first against a purifier.
* Also reported: the defense applied to the *clean* images (its cost).

Defaults (CPU, as the person-mask page): ε = 4/255, PGD-10 with α = 1/255, random start;
purification K = 3 views (h-flip, ×0.75 resize, ±10° rotation), T = 5, ε_v = 6/255, λ = 1.
The paper: ε = 4/255 (Cityscapes) with 50-step PGD and T = 20 purification steps, K = 8 views.
All mIoUs are data-set mIoUs (confusion matrices summed over the images,
:mod:`core.attacks.dense.metrics`); each scene's own mIoU is kept too (``per_image_miou``), so that
attacked and defended can be compared scene by scene (a paired test).
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from collections.abc import Sequence

import torch
from torch import nn

from core.attacks.base import ThreatModel
from core.attacks.dense.pgd import DensePGD
from core.defenses.equivariance_views import CPU_VIEWS, sample_views
from core.defenses.seg_equivariance import SegEquivariancePurification, purify_segmentation, seg_equivariance_loss
from core.attacks.dense.metrics import dataset_miou, per_image_miou
from core.runtime.progress import ProgressFn, stage

ATTACKERS = ("none", "equivariance-aware", "bpda")
BPDA_SEED_OFFSET = 11  # the BPDA attacker's purifier draws other views than the evaluation's purifier


@dataclass(frozen=True)
class DefenseSettings:
    views: tuple[str, ...] = CPU_VIEWS
    steps: int = 5
    eps_v: float = 6 / 255
    feature: str = "logits"


def equivariance_aware_pgd(model: nn.Module, threat: ThreatModel, defense: DefenseSettings, lam: float = 1.0,
                           seed: int = 0) -> DensePGD:
    """Dense PGD ascending mean CE − λ·L_equi (fresh seeded views every step)."""
    view_gen = torch.Generator().manual_seed(int(seed) + 7)

    def regularizer(x_it: torch.Tensor) -> torch.Tensor:
        loss, _ = seg_equivariance_loss(model, x_it, sample_views(defense.views, view_gen), defense.feature)
        return -lam * loss

    atk = DensePGD(threat, regularizer=regularizer,
                   regularizer_name=f"−{lam:g}·L_equi ({defense.feature}, views {', '.join(defense.views)})")
    atk.name = "Dense PGD, equivariance-aware"
    return atk


def purify(model: nn.Module, x: torch.Tensor, defense: DefenseSettings, seed: int = 0,
           progress: ProgressFn = None) -> torch.Tensor:
    """The purified images x + v."""
    res = purify_segmentation(model, x, views=defense.views, steps=defense.steps, eps_v=defense.eps_v,
                              feature=defense.feature, seed=seed, final_loss=False, progress=progress)
    return res.x_purified


def scene_key(result: str) -> str:
    """A result's name as a per-image file key: "equivariance-aware: defended" -> "equivariance_aware_defended"."""
    return "".join(ch if ch.isalnum() else "_" for ch in result).replace("__", "_").strip("_")


def _pred(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model.forward_logits(x).argmax(1).cpu()


def _entry(y: torch.Tensor, pred: torch.Tensor, c: int, names: Sequence[str] | None) -> dict:
    miou, iou = dataset_miou(y, pred, c)
    names = list(names) if names else [str(i) for i in range(c)]
    return {"miou": round(miou, 4), "per_class_iou": {n: (None if v != v else round(float(v), 4))
                                                       for n, v in zip(names, iou)}}


def evaluate_equivariance(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, threat: ThreatModel,
                          defense: DefenseSettings = DefenseSettings(), attackers: Sequence[str] = ATTACKERS,
                          lam: float = 1.0, seed: int = 0, batch: int = 25, progress: ProgressFn = None) -> dict:
    """mIoU clean, clean+defense, and per attacker attacked / defended, on scenes ``x`` with labels ``y``."""
    bad = [a for a in attackers if a not in ATTACKERS]
    if bad:
        raise ValueError(f"unknown attackers {bad}; choose from {', '.join(ATTACKERS)}")
    c = int(getattr(model, "num_classes", 0) or model.forward_logits(x[:1]).shape[1])
    names = getattr(model, "class_names", None)
    preds: dict[str, list[torch.Tensor]] = {"clean": [], "clean, defended": []}
    for a in attackers:
        preds[f"{a}: attacked"], preds[f"{a}: defended"] = [], []
    secs: dict[str, float] = {k: 0.0 for k in preds}
    n_batches = -(-len(x) // batch)
    for b in range(n_batches):
        xb, yb = x[b * batch:(b + 1) * batch], y[b * batch:(b + 1) * batch]
        p = stage(progress, b, n_batches, f"images {b * batch + 1}–{b * batch + len(xb)}")
        preds["clean"].append(_pred(model, xb))
        t0 = time.perf_counter()
        preds["clean, defended"].append(_pred(model, purify(model, xb, defense, seed + 1)))
        secs["clean, defended"] += time.perf_counter() - t0
        for a in attackers:
            t0 = time.perf_counter()
            if a == "bpda":
                purifier = SegEquivariancePurification(model, views=defense.views, steps=defense.steps,
                                                       eps_v=defense.eps_v, feature=defense.feature)
                res = DensePGD(threat).run(purifier.as_model(adaptive=True, seed=seed + BPDA_SEED_OFFSET), xb, yb,
                                           seed=seed + b, progress=p)
                res.adv_pred = _pred(model, res.x_adv)  # the undefended model's view of the example
            else:
                atk = DensePGD(threat) if a == "none" else equivariance_aware_pgd(model, threat, defense, lam, seed)
                res = atk.run(model, xb, yb, seed=seed + b, progress=p)
            preds[f"{a}: attacked"].append(res.adv_pred)
            secs[f"{a}: attacked"] += time.perf_counter() - t0
            t0 = time.perf_counter()
            preds[f"{a}: defended"].append(_pred(model, purify(model, res.x_adv, defense, seed)))
            secs[f"{a}: defended"] += time.perf_counter() - t0
    out = {"images": int(len(x)), "threat": {"norm": threat.norm, "eps_255": round(threat.eps * 255, 3),
                                             "step_255": round(threat.step * 255, 3), "steps": threat.steps,
                                             "random_start": threat.random_start},
           "defense": asdict(defense) | {"eps_v_255": round(defense.eps_v * 255, 3)}, "lambda": lam, "seed": seed,
           "results": {}}
    for k, v in preds.items():
        out["results"][k] = _entry(y, torch.cat(v), c, names) | {"seconds": round(secs.get(k, 0.0), 1)}
    # each scene's own mIoU (classes present in it or predicted), for paired per-scene tests
    out["per_image_miou"] = {k: [round(float(m), 5) for m in per_image_miou(y, torch.cat(v), c)]
                             for k, v in preds.items()}
    return out
