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

from core.attacks.dense.common import BestTracker, dense_logits, pixel_ce
from core.attacks.dense.square import DenseSquare
from core.attacks.square import p_schedule, square_side
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
        eps = self.threat.eps
        n, ch, h, w = x.shape
        gen = torch.Generator(device=x.device).manual_seed(int(seed))
        tr = BestTracker(x, ref, target, num_classes, self.n_queries, progress)  # the per-step record only

        def signs(shape: tuple[int, ...]) -> torch.Tensor:
            return torch.randint(0, 2, shape, generator=gen, device=x.device).to(x.dtype) * 2 - 1

        with torch.no_grad():
            xb = (x + eps * signs((n, ch, 1, w))).clamp(0, 1)
            lb = dense_logits(model, xb)
            s1, s2 = self._score(lb, ref, target, num_classes)
            tr.update(xb, lb, -s1)
            for it in range(1, self.n_queries):
                s = square_side(p_schedule(it, self.n_queries, self.p_init), h, w, "linf")
                vh = int(torch.randint(0, h - s + 1, (1,), generator=gen))
                vw = int(torch.randint(0, w - s + 1, (1,), generator=gen))
                cand = xb.clone()
                cand[:, :, vh:vh + s, vw:vw + s] = x[:, :, vh:vh + s, vw:vw + s] + eps * signs((n, ch, 1, 1))
                cand = torch.minimum(torch.maximum(cand, x - eps), x + eps).clamp(0, 1)
                lc = dense_logits(model, cand)
                c1, c2 = self._score(lc, ref, target, num_classes)
                better = (c1 < s1) | ((c1 == s1) & (c2 < s2))
                xb[better] = cand[better]
                s1, s2 = torch.where(better, c1, s1), torch.where(better, c2, s2)
                tr.update(cand, lc, -c1)
        return xb, tr.steps


__all__ = ["DEFAULT_QUERIES", "DiceSquare"]
