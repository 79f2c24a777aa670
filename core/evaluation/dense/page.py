"""The Segmentation page's multi-class run: attack a multi-class segmenter's label map, optionally
purify it with the equivariance defense, and compare clean / attacked / defended per class.

Used by ``views/segmentation.py`` when the chosen model has several classes (the garment U-Net,
or a torchvision segmentation model from ``models.toml``). Attacks: Dense PGD, Dense APGD,
SegPGD, Dense Square (mIoU) and the dense worst case (the lowest-mIoU example of all four,
:mod:`core.evaluation.dense.worst_case`). Goals: break the map (untargeted), or paint one class over a
region — a shape (:mod:`core.attacks.dense.seg_targets`, as the person page does) or the pixels of
another class (e.g. every "Bag" pixel becomes "Sneaker").

Reference labels: the scene's ground truth when the image is a shipped scene, otherwise the
clean prediction. "Which class moved where": the pixel confusion matrix clean prediction →
attacked prediction (and → defended prediction).
"""
from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from core.attacks.base import ThreatModel
from core.attacks.dense.apgd import DenseAPGD
from core.attacks.dense.common import DenseAttackResult, dense_logits, paint_target
from core.attacks.dense.pgd import DensePGD
from core.attacks.dense.square import DenseSquare
from core.attacks.dense.segpgd import SegPGD
from core.attacks.dense.seg_targets import shape_mask
from core.evaluation.dense.equivariance_eval import DefenseSettings, equivariance_aware_pgd
from core.attacks.dense.metrics import confusion, dataset_miou, per_image_pixel_accuracy
from core.data.scenes import CLASS_NAMES, load_test_scenes
from core.evaluation.dense.worst_case import DenseWorstCaseConfig, dense_worst_case
from core.defenses.seg_equivariance import purify_segmentation
from core.runtime.progress import ProgressFn, stage

WORST = "Worst case (all four)"
DENSE_ATTACKS = ("Dense PGD", "Dense APGD", "SegPGD", "Dense Square (mIoU)", WORST)


@dataclass(frozen=True)
class DenseGoal:
    mode: str = "untargeted"  # "untargeted", "shape" or "class"
    paint: int = 0  # the class painted in
    shape: str = "circle"
    cy: float = 0.5
    cx: float = 0.5
    size: float = 0.5
    source_class: int = 0  # mode "class": the class whose pixels are repainted


def goal_target(goal: DenseGoal, ref: torch.Tensor) -> torch.Tensor | None:
    """The target map (N, h, w) of a goal on reference labels ``ref`` (None = untargeted)."""
    if goal.mode == "untargeted":
        return None
    h, w = ref.shape[-2:]
    if goal.mode == "shape":
        region = shape_mask(goal.shape, h, w, cy=goal.cy, cx=goal.cx, size=goal.size).bool()
    elif goal.mode == "class":
        region = ref == int(goal.source_class)
    else:
        raise ValueError(f"unknown goal {goal.mode!r}")
    return paint_target(ref, region, goal.paint)


def goal_preview(goal: DenseGoal, ref: torch.Tensor) -> torch.Tensor | None:
    """The target map of the first image, for the preview (None = untargeted)."""
    t = goal_target(goal, ref)
    return None if t is None else t[:1]


def make_attack(name: str, threat: ThreatModel, square_queries: int = 200):
    """One of :data:`DENSE_ATTACKS` but the worst case."""
    if name == "Dense PGD":
        return DensePGD(threat)
    if name == "Dense APGD":
        return DenseAPGD(threat)
    if name == "SegPGD":
        return SegPGD(threat)
    if name == "Dense Square (mIoU)":
        return DenseSquare(threat, n_queries=square_queries)
    raise ValueError(f"unknown dense attack {name!r}")


@dataclass
class DenseExperiment:
    """Clean, attacked and (optionally) defended label maps of one image, with their numbers."""

    x: torch.Tensor
    x_adv: torch.Tensor
    ref: torch.Tensor  # (1, h, w)
    ref_is_truth: bool
    clean_pred: torch.Tensor
    adv_pred: torch.Tensor
    num_classes: int
    class_names: list[str]
    attack: str
    threat: ThreatModel
    adaptive: str
    target: torch.Tensor | None = None
    defended_pred: torch.Tensor | None = None
    x_defended: torch.Tensor | None = None
    clean_defended_pred: torch.Tensor | None = None
    purification: object | None = None  # SegPurificationResult
    trajectory: list = field(default_factory=list)
    found_by: str | None = None  # the worst case: the attack that reached it
    per_attack_miou: dict[str, float] = field(default_factory=dict)
    elapsed_s: float = 0.0

    def miou(self, pred: torch.Tensor) -> tuple[float, torch.Tensor]:
        return dataset_miou(self.ref, pred, self.num_classes)

    def pixel_accuracy(self, pred: torch.Tensor) -> float:
        return float(per_image_pixel_accuracy(self.ref, pred)[0])

    def target_reached(self, pred: torch.Tensor) -> float | None:
        return None if self.target is None else float(per_image_pixel_accuracy(self.target, pred)[0])

    def moved(self, pred: torch.Tensor) -> torch.Tensor:
        """(C, C) pixels: clean prediction (rows) → ``pred`` (columns)."""
        return confusion(self.clean_pred, pred, self.num_classes)[0]

    def rows(self) -> list[dict]:
        """Per class: IoU clean / attacked (/ defended) and the change, for the table and chart."""
        _, clean = self.miou(self.clean_pred)
        _, adv = self.miou(self.adv_pred)
        dfd = self.miou(self.defended_pred)[1] if self.defended_pred is not None else None
        out = []
        for c, name in enumerate(self.class_names):
            if clean[c] != clean[c] and adv[c] != adv[c]:
                continue  # absent from reference and both predictions
            row = {"class": name, "IoU clean": _num(clean[c]), "IoU attacked": _num(adv[c]),
                   "change": None if clean[c] != clean[c] or adv[c] != adv[c] else float(adv[c] - clean[c])}
            if dfd is not None:
                row["IoU defended"] = _num(dfd[c])
            out.append(row)
        return out


def _num(v: torch.Tensor) -> float | None:
    f = float(v)
    return None if f != f else f


def run_dense_experiment(model: nn.Module, x: torch.Tensor, ref: torch.Tensor | None, goal: DenseGoal,
                         threat: ThreatModel, attack: str = "Dense PGD", defense: DefenseSettings | None = None,
                         *, adaptive: str = "none", lam: float = 1.0, square_queries: int = 200,
                         check_clean: bool = True, class_names: list[str] | None = None, seed: int = 0,
                         progress: ProgressFn = None) -> DenseExperiment:
    """Attack one image (1, 3, H, W); purify the result when ``defense`` is given.

    ``adaptive``: "none" or "equivariance-aware" (Dense PGD ascending CE − λ·L_equi; needs a
    defense and replaces the chosen attack)."""
    t0 = time.perf_counter()
    if adaptive not in ("none", "equivariance-aware"):
        raise ValueError(f"unknown adaptive mode {adaptive!r}")
    if adaptive != "none" and defense is None:
        raise ValueError("an adaptive attack needs a defense")
    if attack not in DENSE_ATTACKS:
        raise ValueError(f"unknown dense attack {attack!r}")
    if attack == WORST and goal.mode != "untargeted":
        raise ValueError("the worst case is untargeted: choose 'Break the map' or a single attack")
    dev = next((p.device for p in model.parameters()), x.device)
    x = x.detach().to(dev)
    with torch.no_grad():
        logits = dense_logits(model, x)
    c = int(logits.shape[1])
    names = list(class_names) if class_names else [str(i) for i in range(c)]
    clean_pred = logits.argmax(1)
    truth = ref is not None
    ref = clean_pred if ref is None else ref.to(dev).long()
    if tuple(ref.shape) != tuple(clean_pred.shape):
        raise ValueError(f"reference labels {tuple(ref.shape)} do not match the model's output {tuple(clean_pred.shape)}")
    target = goal_target(goal, ref)
    n_stages = 3 if defense is not None else 1
    p_att = stage(progress, 0, n_stages, "attack")
    exp_kw: dict = {}
    if adaptive == "equivariance-aware":
        res: DenseAttackResult = equivariance_aware_pgd(model, threat, defense, lam, seed).run(
            model, x, ref, target, num_classes=c, seed=seed, progress=p_att)
    elif attack == WORST:
        wc = dense_worst_case(model, x, ref, DenseWorstCaseConfig(eps=threat.eps, steps=threat.steps,
                                                                  square_queries=square_queries, seed=seed),
                              num_classes=c, progress=p_att)
        res = DenseAttackResult(attack=WORST, threat=threat, x_clean=x.cpu(), x_adv=wc.x_worst, ref=ref.cpu(),
                                clean_pred=clean_pred.cpu(), adv_pred=wc.worst_pred, num_classes=c)
        exp_kw = {"found_by": wc.found_by[0], "per_attack_miou": {k: float(v[0]) for k, v in wc.per_attack_miou.items()}}
    else:
        res = make_attack(attack, threat, square_queries).run(model, x, ref, target, num_classes=c, seed=seed,
                                                              progress=p_att)
    exp = DenseExperiment(x=x.cpu(), x_adv=res.x_adv, ref=ref.cpu(), ref_is_truth=truth, clean_pred=clean_pred.cpu(),
                          adv_pred=res.adv_pred, num_classes=c, class_names=names, attack=res.attack, threat=threat,
                          adaptive=adaptive, target=None if target is None else target.cpu(),
                          trajectory=res.trajectory, **exp_kw)
    if defense is not None:
        pur = purify_segmentation(model, res.x_adv.to(dev), views=defense.views, steps=defense.steps,
                                  eps_v=defense.eps_v, feature=defense.feature, seed=seed, final_loss=True,
                                  progress=stage(progress, 1, n_stages, "purify"))
        exp.purification = pur
        exp.x_defended = pur.x_purified.cpu()
        exp.defended_pred = pur.logits.argmax(1).cpu()
        if check_clean:
            cp = purify_segmentation(model, x, views=defense.views, steps=defense.steps, eps_v=defense.eps_v,
                                     feature=defense.feature, seed=seed + 1, final_loss=False,
                                     progress=stage(progress, 2, n_stages, "purify clean"))
            exp.clean_defended_pred = cp.logits.argmax(1).cpu()
    exp.elapsed_s = time.perf_counter() - t0
    return exp


# --------------------------------------------------------------------------- inputs for the page
DEFAULT_SCENE = 11
"""The shipped test scene the page opens on (a T-shirt, a pullover and a bag): chosen as one that
the shipped Garment U-Net segments well before any attack (clean mIoU 0.975, pixel accuracy 99 %;
checked by ``tests/models/test_garment_model.py``), so that the default run shows what an attack does to
a right answer, not to a wrong one. Scene 0, the old default, is one the model gets mostly wrong
(clean mIoU 0.29). Not a typical scene: the median per-scene clean mIoU is 0.47
(``docs/models/garment_unet.md``)."""


def n_test_scenes() -> int:
    """How many scenes the shipped test set holds."""
    return int(_scenes()[0].shape[0])


@functools.lru_cache(maxsize=1)
def _scenes() -> tuple[torch.Tensor, torch.Tensor]:
    return load_test_scenes()


def class_names_of(model: nn.Module) -> list[str]:
    """The model's class names (``class_names``), or the class indices."""
    names = getattr(model, "class_names", None)
    return list(names) if names else [str(i) for i in range(int(getattr(model, "num_classes", 0)))]


def is_multiclass(num_classes: int) -> bool:
    """Whether the page shows a model as multi-class label maps (more than one output map)."""
    return int(num_classes) > 1


def scene_input(index: int, model: nn.Module) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Scene ``index`` at the model's input size, and its ground-truth labels when the model
    speaks the scenes' classes (same class names), else None (the clean prediction is the reference)."""
    x, y = _scenes()
    xi, yi = x[index:index + 1].clone(), y[index:index + 1].clone()
    size = tuple(getattr(model, "input_size", xi.shape[-2:]))
    if tuple(xi.shape[-2:]) != size:
        xi = F.interpolate(xi, size=size, mode="bilinear", align_corners=False).clamp(0, 1)
        yi = F.interpolate(yi[:, None].float(), size=size, mode="nearest")[:, 0].long()
    truth = class_names_of(model) == CLASS_NAMES
    return xi, (yi if truth else None)


def predict_labels(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The clean label map (1, h, w) on the CPU."""
    dev = next((p.device for p in model.parameters()), x.device)
    with torch.no_grad():
        return dense_logits(model, x.to(dev)).argmax(1).cpu()


def present_classes(*maps: torch.Tensor | None) -> list[int]:
    """Sorted class indices occurring in any of the label maps (for the legend)."""
    found: set[int] = set()
    for m in maps:
        if m is not None:
            found |= {int(v) for v in torch.unique(m)}
    return sorted(found)
