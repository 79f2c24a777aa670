"""Per-class numbers of a zoo model: clean and attacked accuracy of each Fashion-MNIST class, and
how often an attack pushes other classes' images *into* chosen (protected) classes.

A robust accuracy averaged over the classes can hide that one class is defenceless, and a
cost-sensitive model can "protect" a class simply by moving its decision boundary towards the
others — which shows as more images of the other classes ending up in it. Both need the per-image
verdicts of one attack run:

* from the worst case (``tools/ensemble_zoo.py`` keeps ``robust_per_image``, ``found_by`` and
  ``adv_pred_per_image`` — the class of the first successful example, else of the clean image —
  in its output JSON): :func:`per_class_block` with ``source="worst_case"``;
* where no per-image worst case exists, from the card's PGD-20 on the shipped subset (the same
  attack and seeds as the card, :func:`core.evaluation.zoo.cards.robust_correct`), which reproduces
  the card's PGD-20 count: ``source="pgd20"``.

Counts are integers, so the per-class rows sum exactly to the overall counts (a test checks it).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch

from core.models.zoo.net import FMNIST_CLASSES

PROTECTED = (4, 6)  # the cost-sensitive model's protected classes (Coat, Shirt): core/train/adversarial/cost_sensitive.py
SOURCES = {"worst_case": "the worst-case ensemble (APGD-CE, APGD-T, Square; the card's worst_case block)",
           "pgd20": "PGD-20 (the card's attack and seeds, step 2.5ε/20, random start)"}


def per_class_table(labels: torch.Tensor, clean_correct: torch.Tensor, robust: torch.Tensor,
                    class_names: Sequence[str] = FMNIST_CLASSES) -> dict:
    """{"classes": [{"class", "name", "n", "clean_correct", "clean_accuracy", "robust", "attacked_accuracy"}],
    "overall": {...}} from per-image labels and verdicts (robust implies clean-correct)."""
    labels, cc, rb = labels.long().cpu(), clean_correct.bool().cpu(), robust.bool().cpu()
    if not (labels.shape == cc.shape == rb.shape):
        raise ValueError("labels, clean_correct and robust must have the same length")
    if (rb & ~cc).any():
        raise ValueError("an image counted robust is not classified correctly clean")
    rows = []
    for k, name in enumerate(class_names):
        sel = labels == k
        n = int(sel.sum())
        c, r = int((cc & sel).sum()), int((rb & sel).sum())
        rows.append({"class": k, "name": name, "n": n, "clean_correct": c, "clean_accuracy": c / n if n else None,
                     "robust": r, "attacked_accuracy": r / n if n else None})
    n = int(labels.numel())
    overall = {"n": n, "clean_correct": int(cc.sum()), "clean_accuracy": int(cc.sum()) / n if n else None,
               "robust": int(rb.sum()), "attacked_accuracy": int(rb.sum()) / n if n else None}
    return {"classes": rows, "overall": overall}


def push_in(labels: torch.Tensor, clean_correct: torch.Tensor, final_pred: torch.Tensor,
            protected: Sequence[int] = PROTECTED) -> dict:
    """How often images of the *other* classes end in a protected class: clean (misclassified into it
    without an attack) and by the attack (clean-correct, then fooled into it). ``final_pred``: per
    image, the class of its first successful adversarial example, else of the clean image."""
    labels, cc, pred = labels.long().cpu(), clean_correct.bool().cpu(), final_pred.long().cpu()
    prot = torch.zeros_like(labels, dtype=torch.bool)
    for k in protected:
        prot |= labels == int(k)
    into = torch.zeros_like(prot)
    for k in protected:
        into |= pred == int(k)
    other = ~prot
    n_other = int(other.sum())
    attacked = other & cc
    by_clean, by_attack = int((other & ~cc & into).sum()), int((attacked & into).sum())
    fooled_other = int((attacked & (pred != labels)).sum())
    return {"protected": [int(k) for k in protected], "protected_names": [FMNIST_CLASSES[int(k)] for k in protected],
            "other_images": n_other, "attacked_other_images": int(attacked.sum()),
            "clean_into_protected": by_clean, "attack_into_protected": by_attack,
            "fooled_other_images": fooled_other,
            "attack_push_in_rate": by_attack / int(attacked.sum()) if int(attacked.sum()) else None,
            "share_of_fooled_into_protected": by_attack / fooled_other if fooled_other else None,
            "total_into_protected_rate": (by_clean + by_attack) / n_other if n_other else None}


def per_class_block(labels: torch.Tensor, clean_correct: torch.Tensor, robust: torch.Tensor,
                    final_pred: torch.Tensor | None, source: str, data: str, eps: float = 0.1,
                    protected: Sequence[int] = PROTECTED) -> dict:
    """The card's ``per_class`` block."""
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}; known: {', '.join(SOURCES)}")
    block = {"source": source, "attack": SOURCES[source], "eps": float(eps), "norm": "linf", "data": data,
             **per_class_table(labels, clean_correct, robust)}
    if final_pred is not None:
        block["push_in"] = push_in(labels, clean_correct, final_pred, protected)
    return block


def from_worst_case_run(view: dict, labels: torch.Tensor, data: str, eps: float = 0.1,
                        protected: Sequence[int] = PROTECTED) -> dict:
    """The block from one view of a ``tools/ensemble_zoo.py`` result (``as_shipped`` / ``through_mask``)."""
    n = len(view["robust_per_image"])
    robust = torch.tensor(view["robust_per_image"], dtype=torch.bool)
    clean = torch.tensor([f != "clean" for f in view["found_by"]], dtype=torch.bool)
    pred = torch.tensor(view["adv_pred_per_image"]) if "adv_pred_per_image" in view else None
    return per_class_block(labels[:n], clean, robust, pred, "worst_case", data, eps, protected)
