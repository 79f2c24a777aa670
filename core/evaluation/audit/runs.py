"""What the audit page and ``python -m core audit`` audit: a registered model (a Fashion-MNIST zoo
model on the shipped test subset, or an ImageNet classifier on the bundled photos), optionally
behind a defense, with a surrogate to transfer from. One function, :func:`run_audit`, so that
the page and the command line give the same numbers for the same settings.

Choices:

* zoo models: the first ``n`` images of the shipped subset (assets/data) with their labels;
  ε default 0.1 (L∞). ImageNet classifiers: the bundled photos, each labelled with the model's
  clean prediction (there are no ImageNet labels in the project), ε default 4/255.
* ``through_mask``: a CIFS zoo model is attacked through its channel mask
  (:mod:`core.attacks.cifs_adaptive`); otherwise as shipped (mask-blind).
* a defense is audited as ``defense.as_model(adaptive=adaptive)``; randomized when its adaptive
  route is EOT. The default surrogate is then the undefended model.
* a zoo model whose entry is randomized (:attr:`core.models.zoo.catalogue.ZooEntry.randomized`, e.g.
  LT-NODE) is audited as randomized (EOT gradients, repeated verdicts).
* default surrogate for a zoo model: ``fmnist-pgd-at`` (``fmnist-trades`` for PGD-AT itself).
* Square's p_init: 0.8 for images of at most 64 px (AutoAttack's value for small images), the
  paper's ImageNet 0.05 (L∞) / 0.1 (L2) otherwise.
* the binarization test (:mod:`core.evaluation.audit.binarization`) runs by default on zoo models, on the first
  ``BINARIZATION_N`` = 10 clean-correct images (a few seconds per model); for ImageNet models it is
  off by default (999 inner points at 224 px cost about half a minute per image on a CPU).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any
from collections.abc import Sequence

import torch
from PIL import Image
from torch import nn

from core.attacks.cifs_adaptive import has_cifs
from core.attacks.cifs_adaptive import through_mask as mask_view
from core.evaluation.audit.checks import AuditConfig, AuditResult, audit
from core.defenses import make_defense
from core.data.image_sets import read_bundled
from core.data.images import prepare_for_model, to_tensor
from core.data.labelled_samples import labelled_samples
from core.models import get_spec, load_model
from core.models.zoo.catalogue import ZOO_BY_NAME
from core.runtime.progress import ProgressFn
from core.data.fashion_mnist import load_test_subset, to_float

ZOO_SURROGATE = "fmnist-pgd-at"
BINARIZATION_N = 10


@dataclass
class AuditTarget:
    model: nn.Module
    x: torch.Tensor
    y: torch.Tensor
    surrogate: nn.Module | None
    randomized: bool
    description: str
    data: str


def default_surrogate(model_name: str, defense: str | None) -> str | None:
    """The surrogate's registry name ("" = the undefended model itself, None = none)."""
    if defense:
        return ""
    if model_name.startswith("fmnist-"):
        return "fmnist-trades" if model_name == ZOO_SURROGATE else ZOO_SURROGATE
    return None


def prepare(model_name: str, *, n: int = 100, samples: Sequence[str] | None = None, through_mask: bool = False,
            defense: tuple[str, tuple[tuple[str, Any], ...]] | None = None, adaptive: bool = True,
            surrogate: str | None = "default", labelled: bool = False) -> AuditTarget:
    """Load the model, the labelled batch, the defense view and the surrogate. ``labelled``
    (ImageNet models): the shipped labelled ImageNet sample (true labels) instead of the bundled
    photos."""
    spec = get_spec(model_name)
    model = load_model(model_name)
    if spec.task == "fashion-mnist":
        xs, ys, _ = load_test_subset()
        x, y = to_float(xs)[:n], ys[:n].long()
        data = f"first {x.shape[0]} images of the shipped Fashion-MNIST test subset"
    elif spec.task == "classification" and labelled:
        items = labelled_samples("imagenet")[:n]
        x = torch.cat([to_tensor(prepare_for_model(Image.open(it.path).convert("RGB"), spec)) for it in items])
        y = torch.tensor([it.label for it in items], dtype=torch.long)
        data = f"{x.shape[0]} photos of the shipped labelled ImageNet sample (true labels)"
    elif spec.task == "classification":
        imgs = read_bundled(lambda im: to_tensor(prepare_for_model(im, spec)), samples, max_images=n)
        if not imgs.items:
            raise ValueError("no bundled photos to audit")
        x = torch.cat([t for _, t in imgs.items])
        with torch.no_grad():
            y = model(x).argmax(1)
        data = f"{x.shape[0]} bundled photos ({', '.join(n for n, _ in imgs.items)}), labelled with the model's clean prediction"
    else:
        raise ValueError(f"{model_name} is not a classifier")
    desc = model_name
    target: nn.Module = model
    # a randomized zoo model (LT-NODE: a new end time per forward pass) gets EOT gradients and repeated verdicts
    randomized = spec.task == "fashion-mnist" and model_name in ZOO_BY_NAME and ZOO_BY_NAME[model_name].randomized
    if through_mask:
        if not has_cifs(model):
            raise ValueError(f"{model_name} has no CIFS mask to differentiate")
        target = mask_view(model)
        desc += " (attacked through its CIFS mask)"
    if defense is not None:
        name, params = defense
        d = make_defense(name, model, **dict(params))
        target = d.as_model(adaptive=adaptive)
        randomized = randomized or d.adaptive_route == "eot"
        desc += f" + {name} ({'adaptive: ' + d.adaptive_route if adaptive else 'naive gradients'})"
    sur_name = default_surrogate(model_name, defense[0] if defense else None) if surrogate == "default" else surrogate
    sur = None
    if sur_name == "":
        sur = model
        desc += "; surrogate: the undefended model"
    elif sur_name:
        sur = load_model(sur_name)
        desc += f"; surrogate: {sur_name}"
    return AuditTarget(target, x, y, sur, randomized, desc, data)


def default_config(model_name: str, **overrides: Any) -> AuditConfig:
    """The audit budget for a model: ε 0.1 for the zoo, 4/255 otherwise; Square's p_init by size."""
    spec = get_spec(model_name)
    small = spec.task == "fashion-mnist"
    norm = overrides.get("norm", "linf")
    base = {"eps": 0.1 if small else (4 / 255 if norm == "linf" else 1.0),
            "binarization_n": BINARIZATION_N if small and norm == "linf" else 0,
            "square_p_init": 0.8 if small else (0.05 if norm == "linf" else 0.1)}
    if not small:
        base.update(steps=10, square_queries=300, random_dirs=4, eps_factors=(0.5, 1.0, 2.0, 8.0))
    base.update({k: v for k, v in overrides.items() if v is not None})
    return AuditConfig(**base)


HEAVY_RANDOMIZED_PIXELS = 64 * 64  # above this image size a randomized target is attacked one image per pass


def run_audit(target: AuditTarget, config: AuditConfig, *, seed: int = 0, progress: ProgressFn = None) -> AuditResult:
    """:func:`core.evaluation.audit.checks.audit` on a prepared target. A randomized target on large images
    (an ImageNet classifier behind smoothing or Smooth-Reduce) is attacked one image per pass unless
    ``config.attack_batch`` says otherwise: EOT over the vote's noise draws keeps every draw's graph for the
    backward pass, and 20 photos at once took over 20 GB."""
    if target.randomized and not config.attack_batch and target.x[0, 0].numel() > HEAVY_RANDOMIZED_PIXELS:
        config = replace(config, attack_batch=1)
    return audit(target.model, target.x, target.y, config, surrogate=target.surrogate,
                 randomized=target.randomized, seed=seed, progress=progress)



__all__ = ["BINARIZATION_N", "AuditTarget", "default_config", "default_surrogate", "prepare", "run_audit"]
