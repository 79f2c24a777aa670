"""Square Attack on the Dice of a few-shot segmenter's predicted mask (gradient-free).

Andriushchenko, Croce, Flammarion, Hein, "Square Attack: a query-efficient black-box adversarial
attack via random search", ECCV 2020 (arXiv 1912.00049). The loop is the one of
:class:`core.attacks.dense.square.DenseSquare` (vertical-stripe start, one random window per
iteration set to x ± ε per channel, the candidate kept per image when it is better); only the
score differs: the **Dice** of the predicted foreground (class 1) against the reference mask,
lower is better, ties (Dice is piecewise constant) broken by the mean per-pixel cross-entropy to
the reference, higher is better. The returned example of each image is the best *accepted* one
(lowest Dice), not :class:`DenseSquare`'s lowest-mIoU iterate.

R-PNODE's code ran Square inside its "AutoAttack" for 5 iterations; the defaults here are
``n_queries`` = 100 forward passes, p_init = 0.1 (64 px images).
"""
from __future__ import annotations

import torch
from torch import nn

from core.attacks.dense.common import pixel_ce
from core.attacks.dense.square import DenseSquare
from core.attacks.dense.fewshot_metrics import dice
from core.runtime.progress import ProgressFn

DEFAULT_QUERIES = 100


class DiceSquare(DenseSquare):
    """Square Attack on the per-image Dice of class 1 (module docstring); untargeted only."""

    name = "Square (Dice)"
    paper = "Andriushchenko et al., ECCV 2020 (score: Dice of the predicted mask)"

    def __init__(self, threat=None, *, n_queries: int = DEFAULT_QUERIES, p_init: float = 0.1) -> None:
        super().__init__(threat, n_queries=n_queries, p_init=p_init)

    def _score(self, logits: torch.Tensor, ref: torch.Tensor, target: torch.Tensor | None,
               c: int) -> tuple[torch.Tensor, torch.Tensor]:
        if target is not None:
            raise ValueError("Square (Dice) is untargeted")
        return dice(logits.argmax(1) == 1, ref == 1).to(logits.device), -pixel_ce(logits, ref).flatten(1).mean(1)

    def perturb(self, model: nn.Module, x: torch.Tensor, ref: torch.Tensor, target: torch.Tensor | None,
                num_classes: int, *, seed: int = 0, progress: ProgressFn = None) -> tuple[torch.Tensor, list]:
        # the search's own best by Dice: the tracker's best is by the label map's mIoU, not this score
        xb, tr = self._search(model, x, ref, target, num_classes, seed=seed, progress=progress)
        return xb, tr.steps


__all__ = ["DEFAULT_QUERIES", "DiceSquare"]
