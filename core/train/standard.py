"""Standard training: cross-entropy on clean images (the zoo's non-robust baseline).

No paper beyond the usual empirical risk minimisation; same architecture and budget as every
other zoo model (:class:`core.train.common.TrainConfig`). Cost: 1 pass per step.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from core.models.zoo.net import ZooClassifier
from core.train.common import Recipe


class Standard(Recipe):
    key = "standard"

    def loss(self, model: ZooClassifier, x: torch.Tensor, y: torch.Tensor, idx: torch.Tensor,
             gen: torch.Generator) -> tuple[torch.Tensor, dict[str, float]]:
        logits = model(x)
        return F.cross_entropy(logits, y), {"correct": float((logits.argmax(1) == y).sum())}
