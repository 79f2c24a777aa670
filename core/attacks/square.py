"""Square Attack (Andriushchenko, Croce, Flammarion, Hein, "Square Attack: a query-efficient
black-box adversarial attack via random search", ECCV 2020; reference code in
``fra31/auto-attack: autoattack/square.py``).

Score-based: it only reads the model's output scores (one forward pass per query, no gradient).
Random search over localised square updates, keeping a candidate when it lowers the loss:

* loss (minimised): untargeted the margin z_y − max_{i≠y} z_i; targeted CE(f(x), t) (the
  paper's choices); an image counts as fooled, and stops querying, once its margin is ≤ 0
  (untargeted: another class on top; targeted: the target on top).
* square size: a square of side s = max(round(√(p·H·W)), 1) (L2: at least 3, odd), where the
  fraction p of pixels changed follows the paper's piecewise-constant schedule, halving from
  ``p_init`` after 10, 50, 200, 500, 1000, 2000, 4000, 6000 and 8000 iterations, the iteration
  count rescaled to a 10,000-query budget (``it · 10000 / n_queries``, as the authors' code does
  for other budgets).
* L∞: start from vertical stripes x + ε·(±1) per column and channel; each update sets one random
  s×s window to x ± ε per channel (sign drawn per image and channel, window position shared by
  the batch as in the authors' code), then clips to the ε-ball and the box.
* L2: start from a 5×5 grid of "rings" (the pattern η of the paper: nested squares weighted
  1/(k+1)², sign-flipped halves) with a random sign per image and channel, rescaled to ‖δ‖₂ = ε;
  each update moves the mass of a second random window into a first one: the first window gets
  η·(±1) + its old content (normalised), rescaled so that the total budget is kept, the second
  window is zeroed, and the whole perturbation is rescaled to ‖δ‖₂ = ε before clipping to the box.

Paper defaults: ImageNet p_init = 0.05 (L∞) and 0.1 (L2), 10,000 queries; AutoAttack (CIFAR,
MNIST) uses p_init = 0.8 and 5,000 queries. App defaults (CPU): p_init as in the paper for the
norm, ``n_queries`` = 1,000 (at most :data:`core.runtime.limits.MAX_SQUARE_QUERIES`).

Conventions and deviations:

* ``threat.step`` and ``threat.steps`` are not used (no gradient steps); ``n_queries`` counts
  every forward pass of an image, the initial one included. ``last_queries`` (per image) and
  ``params()["queries"]`` give the queries actually used: an image stops once fooled.
* ``threat.restarts`` > 1 starts again, from a fresh random initialisation, on the images not
  yet fooled (each restart gets ``n_queries``).
* The trajectory logs the best point so far of every image at (at most) 200 evenly spaced
  iterations; the objective logged is −loss (ascended, as for every attack).
* ``threat.random_start`` is ignored: the random initialisation is part of the method.
* Randomness comes from the attack's seeded generator only (windows, signs, patterns).
"""
from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from core.runtime import limits
from core.attacks.base import Attack, Recorder, ThreatModel

SquareLoss = Literal["margin", "ce"]
MAX_LOGGED = 200  # trajectory records per run
_SCHEDULE = ((10, 1), (50, 2), (200, 4), (500, 8), (1000, 16), (2000, 32), (4000, 64), (6000, 128),
             (8000, 256))


def p_schedule(it: int, n_queries: int, p_init: float) -> float:
    """The fraction p of pixels changed at iteration ``it`` (the paper's schedule, rescaled from
    a 10,000-query budget to ``n_queries``)."""
    it = int(it / n_queries * 10000)
    div = 512
    for bound, d in _SCHEDULE:
        if it <= bound:
            div = d
            break
    return p_init / div


def square_side(p: float, h: int, w: int, norm: str) -> int:
    """Side s of the square window for a fraction ``p`` of an H×W image."""
    s = int(round(math.sqrt(p * h * w)))
    if norm == "l2":
        s = max(s, 3)
        if s % 2 == 0:
            s += 1
    return max(1, min(s, h, w))


def _rings(a: int, b: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """a×b block of nested rectangles centred at (a//2, b//2), ring k weighted 1/(k+1)², unit L2."""
    d = torch.zeros(a, b, dtype=dtype, device=device)
    ca, cb = a // 2, b // 2
    for k in range(max(ca + 1, cb + 1)):
        d[max(ca - k, 0):min(ca - k + 2 * k + 1, a), max(cb - k, 0):min(cb - k + 2 * k + 1, b)] += 1.0 / (k + 1) ** 2
    return d / d.pow(2).sum().sqrt().clamp_min(1e-12)


def eta_pattern(s: int, flip: bool, dtype: torch.dtype = torch.float32,
                device: torch.device | str = "cpu") -> torch.Tensor:
    """The paper's s×s L2 update pattern: rings on the top half, negated rings on the bottom
    half, unit L2 norm; transposed when ``flip``."""
    d = torch.zeros(s, s, dtype=dtype, device=device)
    d[: s // 2] = _rings(s // 2, s, dtype, device) if s // 2 > 0 else d[: s // 2]
    d[s // 2:] = -_rings(s - s // 2, s, dtype, device)
    d = d / d.pow(2).sum().sqrt().clamp_min(1e-12)
    return d.t().contiguous() if flip else d


def _sign(shape: tuple[int, ...], gen: torch.Generator, like: torch.Tensor) -> torch.Tensor:
    return torch.randint(0, 2, shape, generator=gen, device=like.device).to(like.dtype) * 2 - 1


def _l2(t: torch.Tensor) -> torch.Tensor:
    return t.flatten(1).norm(dim=1).view(-1, *([1] * (t.dim() - 1)))


class Square(Attack):
    name = "Square"
    paper = "Andriushchenko et al., ECCV 2020"
    summary = ("Never looks at gradients: it only asks the model for its scores, trying random square "
               "patches of ±ε and keeping the ones that lower the correct class's margin. Because it needs no "
               "gradient, a defense that hides or breaks its gradients does not stop it.")
    gradient_free = True

    def __init__(self, threat: ThreatModel | None = None, *, n_queries: int = 1000, p_init: float | None = None,
                 loss: SquareLoss | None = None) -> None:
        super().__init__(threat)
        if not (isinstance(n_queries, int) and 1 <= n_queries <= limits.MAX_SQUARE_QUERIES):
            raise ValueError(f"n_queries must be an integer in 1..{limits.MAX_SQUARE_QUERIES}, not {n_queries!r}")
        if p_init is None:
            p_init = 0.05 if self.threat.norm == "linf" else 0.1
        if not (isinstance(p_init, (int, float)) and math.isfinite(p_init) and 0 < p_init <= 1):
            raise ValueError(f"p_init must be in (0, 1], not {p_init!r}")
        if loss not in (None, "margin", "ce"):
            raise ValueError(f"loss must be 'margin' or 'ce', not {loss!r}")
        self.n_queries = n_queries
        self.p_init = float(p_init)
        self.loss = loss
        self.last_queries: torch.Tensor | None = None

    def total_steps(self) -> int:
        return min(self.n_queries, MAX_LOGGED) * self.threat.restarts

    def params(self) -> dict:
        p = {"n_queries": self.n_queries, "p_init": self.p_init, "loss": self.loss or "paper default"}
        if self.last_queries is not None:
            p["queries"] = [int(q) for q in self.last_queries]
        return p

    # -- losses ---------------------------------------------------------------------------------
    def _margin_and_loss(self, logits: torch.Tensor, y: torch.Tensor, t: torch.Tensor | None
                         ) -> tuple[torch.Tensor, torch.Tensor]:
        """(margin, loss), both minimised; fooled when margin ≤ 0."""
        logits = logits.float()
        ref = y if t is None else t
        z_ref = logits.gather(1, ref[:, None])[:, 0]
        z_other = logits.scatter(1, ref[:, None], float("-inf")).amax(1)
        if t is None:
            margin = z_ref - z_other
            loss = margin if self.loss in (None, "margin") else -F.cross_entropy(logits, y, reduction="none")
        else:
            margin = z_other - z_ref
            loss = F.cross_entropy(logits, t, reduction="none") if self.loss in (None, "ce") else margin
        return margin, loss

    forwards_per_query = 1  # forward passes of the model per scored candidate (Square-EOT: its draws)

    def _query(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, t: torch.Tensor | None
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Score candidates: (logits, margin, loss) from one forward pass. Square-EOT
        (:mod:`core.attacks.square_eot`) averages them over draws of a randomized model."""
        logits = model(x).float()
        margin, loss = self._margin_and_loss(logits, y, t)
        return logits, margin, loss

    # -- one run --------------------------------------------------------------------------------
    def _init(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        n, c, h, w = x.shape
        eps = self.threat.eps
        if self.threat.norm == "linf":
            return (x + eps * _sign((n, c, 1, w), gen, x)).clamp(0, 1)
        delta = torch.zeros_like(x)
        s = max(h // 5, 1)
        start = (h - s * 5) // 2 if h >= 5 else 0
        vh = start
        # Only windows that fit: the authors' loop runs h // s times, which for sides like 12
        # (s = 2, start = 1: six windows) steps past the border.
        for _ in range((h - start) // s):
            vw = start
            for _ in range((w - start) // s):
                flip = bool(torch.randint(0, 2, (1,), generator=gen, device=x.device))
                pat = eta_pattern(s, flip, x.dtype, x.device)
                delta[:, :, vh:vh + s, vw:vw + s] += pat.view(1, 1, s, s) * _sign((n, c, 1, 1), gen, x)
                vw += s
            vh += s
        return (x + delta / _l2(delta).clamp_min(1e-12) * eps).clamp(0, 1)

    def _candidate(self, x: torch.Tensor, x_best: torch.Tensor, it: int, gen: torch.Generator) -> torch.Tensor:
        n, c, h, w = x.shape
        eps = self.threat.eps
        p = p_schedule(it, self.n_queries, self.p_init)
        s = square_side(p, h, w, self.threat.norm)

        def pos() -> tuple[int, int]:
            vh = int(torch.randint(0, h - s + 1, (1,), generator=gen, device=x.device))
            vw = int(torch.randint(0, w - s + 1, (1,), generator=gen, device=x.device))
            return vh, vw

        if self.threat.norm == "linf":
            vh, vw = pos()
            x_new = x_best.clone()
            x_new[:, :, vh:vh + s, vw:vw + s] = x_best[:, :, vh:vh + s, vw:vw + s] + 2 * eps * _sign((n, c, 1, 1), gen, x)
            return torch.minimum(torch.maximum(x_new, x - eps), x + eps).clamp(0, 1)
        delta = x_best - x
        vh, vw = pos()
        vh2, vw2 = pos()
        win1 = (slice(None), slice(None), slice(vh, vh + s), slice(vw, vw + s))
        win2 = (slice(None), slice(None), slice(vh2, vh2 + s), slice(vw2, vw2 + s))
        mask = torch.zeros_like(x[:1, :1])
        mask[win1] = 1
        mask[win2] = 1
        norm_image = _l2(delta)  # (N, 1, 1, 1)
        norm_windows = _l2(delta * mask)
        old = delta[win1]
        old = old / old.pow(2).sum(dim=(-2, -1), keepdim=True).sqrt().add(1e-12)
        flip = bool(torch.randint(0, 2, (1,), generator=gen, device=x.device))
        new = eta_pattern(s, flip, x.dtype, x.device).view(1, 1, s, s) * _sign((n, c, 1, 1), gen, x) + old
        budget = ((eps ** 2 - norm_image ** 2).clamp_min(0) / c + norm_windows ** 2).sqrt()
        new = new / new.pow(2).sum(dim=(-2, -1), keepdim=True).sqrt().add(1e-12) * budget
        delta = delta.clone()
        delta[win2] = 0
        delta[win1] = new
        return (x + delta / _l2(delta).clamp_min(1e-12) * eps).clamp(0, 1)

    def _single_run(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, t: torch.Tensor | None,
                    gen: torch.Generator, rec: Recorder, x_best: torch.Tensor, logits_best: torch.Tensor,
                    margin_best: torch.Tensor, active: torch.Tensor, queries: torch.Tensor) -> None:
        """Random search on the rows ``active``; updates x_best, logits_best, margin_best and
        queries in place."""
        idx = torch.nonzero(active).flatten()
        log_every = max(1, math.ceil(self.n_queries / MAX_LOGGED))
        n_logs = 0

        def log() -> None:
            m, l_ = self._margin_and_loss(logits_best, y, t)
            rec.log(logits_best, -l_, x_best)

        if idx.numel():
            xa, ya = x[idx], y[idx]
            ta = None if t is None else t[idx]
            xb = self._init(xa, gen)
            lb, margin, loss = self._query(model, xb, ya, ta)
            queries[idx] += self.forwards_per_query
            x_best[idx], logits_best[idx] = xb, lb.to(logits_best.dtype)
            margin_best[idx] = margin.to(margin_best.dtype)
            for it in range(1, self.n_queries):
                if (it - 1) % log_every == 0 and n_logs < MAX_LOGGED:
                    log()
                    n_logs += 1
                todo = torch.nonzero(margin > 0).flatten()
                if todo.numel() == 0:
                    break
                xc = xa[todo]
                cand = self._candidate(xc, xb[todo], it, gen)
                lc, m_c, l_c = self._query(model, cand, ya[todo], None if ta is None else ta[todo])
                queries[idx[todo]] += self.forwards_per_query
                better = (l_c < loss[todo]) | (m_c <= 0)
                keep = todo[better]
                xb[keep] = cand[better]
                loss[keep] = l_c[better]
                margin[keep] = m_c[better]
                x_best[idx[keep]] = cand[better]
                logits_best[idx[keep]] = lc[better].to(logits_best.dtype)
                margin_best[idx[keep]] = m_c[better].to(margin_best.dtype)
        while n_logs < min(self.n_queries, MAX_LOGGED):  # fill the progress bar on an early stop
            log()
            n_logs += 1

    def _perturb(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, targets: torch.Tensor | None,
                 gen: torch.Generator, rec: Recorder) -> torch.Tensor:
        with torch.no_grad():
            logits, margin, _ = self._query(model, x, y, targets)
            x_best = x.clone()
            queries = torch.zeros(x.shape[0], dtype=torch.long, device=x.device)
            active = margin > 0  # already fooled images are left as they are
            for _ in range(self.threat.restarts):
                self._single_run(model, x, y, targets, gen, rec, x_best, logits, margin, active, queries)
                active = margin > 0
        self.last_queries = queries.cpu()
        return x_best
