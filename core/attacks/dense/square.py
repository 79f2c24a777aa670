"""Dense Square: the gradient-free Square Attack on a segmentation model's mIoU itself.

Andriushchenko, Croce, Flammarion, Hein, *Square Attack: a query-efficient black-box adversarial
attack via random search*, ECCV 2020 (the classifier version is :mod:`core.attacks.square`,
whose schedule ``p_schedule`` and window size ``square_side`` are reused). L∞ only, as the
paper's main variant:

* start: vertical stripes, x⁽⁰⁾ = clip(x + ε·s), s ∈ {−1, +1} per channel and column;
* iteration k: a window of side ``square_side(p_k)`` at a random position (one per batch, as in
  :mod:`core.attacks.square`) is set to x ± ε per channel (random signs), projected to the ε-ball
  and the box; the candidate is kept per image when it is better.

Score (forward passes only, so a masked or obfuscated gradient cannot hide a weakness): the
image's mIoU against the reference (:func:`core.attacks.dense.metrics.per_image_miou`), lower is better;
ties (mIoU is piecewise constant) are broken by the mean per-pixel cross-entropy to the
reference, higher is better — the paper's margin loss plays that role for classifiers.
Targeted: the share of pixels equal to the target map (higher is better), ties broken by −CE to
the target. ``n_queries`` counts forward passes (the start included); no early stop (mIoU has no
"fooled" state).

Defaults (CPU): 300 queries, p_init = 0.1 (the paper's 0.05 suits 224-px images; a 96-px scene
needs larger windows).
"""
from __future__ import annotations

import torch
from torch import nn

from core.attacks.base import ThreatModel
from core.attacks.dense.common import BestTracker, DenseAttackResult, dense_logits, pixel_ce
from core.attacks.dense.pgd import run_dense
from core.attacks.square import p_schedule, square_side
from core.attacks.dense.metrics import per_image_miou, per_image_pixel_accuracy
from core.runtime.progress import ProgressFn

DEFAULT_QUERIES = 300


class DenseSquare:
    """Square Attack on the per-image mIoU (see the module docstring)."""

    name = "Dense Square (mIoU)"
    paper = "Andriushchenko et al., ECCV 2020 (score: per-image mIoU)"

    def __init__(self, threat: ThreatModel | None = None, *, n_queries: int = DEFAULT_QUERIES,
                 p_init: float = 0.1) -> None:
        self.threat = threat or ThreatModel(norm="linf", eps=4 / 255, step=1 / 255, steps=1)
        if self.threat.norm != "linf":
            raise ValueError("Dense Square supports L∞ only")
        if n_queries < 1:
            raise ValueError("n_queries must be at least 1")
        self.n_queries, self.p_init = int(n_queries), float(p_init)

    def params(self) -> dict:
        return {"n_queries": self.n_queries, "p_init": self.p_init}

    def _score(self, logits: torch.Tensor, ref: torch.Tensor, target: torch.Tensor | None,
               c: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(primary, tie-break), both lower = better for the attacker."""
        pred = logits.argmax(1)
        if target is None:
            return per_image_miou(ref, pred, c), -pixel_ce(logits, ref).flatten(1).mean(1)
        return -per_image_pixel_accuracy(target, pred), pixel_ce(logits, target).flatten(1).mean(1)

    def perturb(self, model: nn.Module, x: torch.Tensor, ref: torch.Tensor, target: torch.Tensor | None,
                num_classes: int, *, seed: int = 0, progress: ProgressFn = None) -> tuple[torch.Tensor, list]:
        _, tr = self._search(model, x, ref, target, num_classes, seed=seed, progress=progress)
        return tr.best, tr.steps

    def _search(self, model: nn.Module, x: torch.Tensor, ref: torch.Tensor, target: torch.Tensor | None,
                num_classes: int, *, seed: int = 0, progress: ProgressFn = None) -> tuple[torch.Tensor, BestTracker]:
        """The random search on ``_score``: (the search's own best images, the tracker of every step)."""
        eps = self.threat.eps
        n, ch, h, w = x.shape
        gen = torch.Generator(device=x.device).manual_seed(int(seed))
        tr = BestTracker(x, ref, target, num_classes, self.n_queries, progress)

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
        return xb, tr

    def run(self, model: nn.Module, x: torch.Tensor, ref: torch.Tensor | None = None,
            target: torch.Tensor | None = None, *, num_classes: int | None = None, seed: int = 0,
            progress: ProgressFn = None) -> DenseAttackResult:
        return run_dense(self, model, x, ref, target, num_classes=num_classes, seed=seed, progress=progress)
