"""Square Attack with Expectation over Transformation, for randomized models: Square
(Andriushchenko, Croce, Flammarion, Hein, "Square Attack: a query-efficient black-box adversarial
attack via random search", ECCV 2020; :mod:`core.attacks.square`) whose score of every candidate
is averaged over ``eot_samples`` draws of the model's randomness (Athalye, Carlini & Wagner,
"Obfuscated Gradients Give a False Sense of Security", ICML 2018, section 4.3: attack the
expectation over the randomness, not one draw).

Why: plain Square reads one forward pass per candidate. Against a randomized model (randomized
smoothing, a noisy defense) that one score is a single draw, so its random search

* accepts a candidate whenever *its draw* is lower than the stored best's draw — a lucky draw,
  not a better point (and a lucky draw of the best then blocks real progress), and
* stops an image as "fooled" as soon as one draw puts another class on top, although the model
  classifies it correctly most of the time (its majority vote).

AutoAttack's "rand" version leaves Square out for this reason; its issue 56
(``fra31/auto-attack``, "Square attack with EOT") asks for this variant. Reading used here: the
margin and the loss of a candidate are the **means over the draws** of the per-draw margins and
losses (the margin of the mean logits would mix classes across draws), the acceptance rule
compares those means (a candidate is kept when its mean loss is lower, or its mean margin ≤ 0),
and an image stops once its mean margin is ≤ 0 — the model is then wrong in expectation.

Everything else — the initialisation, the square-size schedule, the windows, the L∞/L2 updates
and the seeded generator — is :class:`core.attacks.square.Square`'s, unchanged. With
``eot_samples = 1`` the attack is exactly Square.

Conventions: ``n_queries`` counts scored candidates (iterations, the initial point included), as
for Square; each costs ``eot_samples`` forward passes, and ``params()["queries"]`` reports the
forward passes actually used (iterations × draws). Each draw is its own forward call, so a model
that draws its noise once per call still gets independent draws. Defaults: 8 draws (the
ensemble's and the audit's EOT draws). Not in the attack picker (a randomized model is what the
ensemble's "rand" version and the audit attack with it).
"""
from __future__ import annotations

import torch
from torch import nn

from core.runtime import limits
from core.attacks.base import ThreatModel
from core.attacks.square import Square, SquareLoss


class SquareEOT(Square):
    name = "Square (EOT)"
    paper = "Andriushchenko et al., ECCV 2020; EOT: Athalye et al., ICML 2018"
    summary = ("Square Attack for randomized models: every candidate's score is averaged over several draws of "
               "the model's randomness, and a candidate is kept only if that average improves, so lucky noise "
               "neither fakes progress nor ends the search early.")
    gradient_free = True

    def __init__(self, threat: ThreatModel | None = None, *, n_queries: int = 1000, p_init: float | None = None,
                 loss: SquareLoss | None = None, eot_samples: int = 8) -> None:
        super().__init__(threat, n_queries=n_queries, p_init=p_init, loss=loss)
        if not (isinstance(eot_samples, int) and 1 <= eot_samples <= limits.MAX_EOT_SAMPLES):
            raise ValueError(f"eot_samples must be an integer in 1..{limits.MAX_EOT_SAMPLES}, not {eot_samples!r}")
        self.eot_samples = eot_samples

    @property
    def forwards_per_query(self) -> int:  # type: ignore[override]
        return self.eot_samples

    def params(self) -> dict:
        return {**super().params(), "eot_samples": self.eot_samples,
                "queries_unit": "forward passes (scored candidates × EOT draws)"}

    def _query(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, t: torch.Tensor | None
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(mean logits, mean margin, mean loss) over ``eot_samples`` forward calls."""
        logits = margin = loss = None
        for _ in range(self.eot_samples):
            z = model(x).float()
            m, l_ = self._margin_and_loss(z, y, t)
            logits = z if logits is None else logits + z
            margin = m if margin is None else margin + m
            loss = l_ if loss is None else loss + l_
        k = float(self.eot_samples)
        return logits / k, margin / k, loss / k


__all__ = ["SquareEOT"]
