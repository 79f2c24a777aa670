"""The binarization test: can the evaluation's attack find an adversarial example that provably exists?

Source: Zimmermann, Brendel, Tramèr & Carlini, "Increasing Confidence in Adversarial Robustness
Evaluations", NeurIPS 2022 (arXiv 2206.13991); reference code ``google-research/active-adversarial-tests``
(Apache-2.0), ``active_tests/decision_boundary_binarization.py`` (read for the details below; the code
here is written anew).

The test, per test image x (what the paper and its code do, and the defaults here):

1. **Points.** ``n_inner`` inner points: x itself and ``n_inner − 1`` points x + δ with δ uniform in
   [−ηε, ηε] per pixel (L∞; η = 0.95, the code's ``1 − relative_inner_boundary_gap``), clipped to
   [0, 1]; label 0. One boundary point (the code's default ``n_boundary_points = 1``): δ uniform in
   [−ε, ε], rescaled so that after clipping to [0, 1] its L∞ distance to x is exactly ε (the code's
   "clipping-aware rescaling"; here in closed form: the scale is the smallest ε/|δᵢ| over the pixels
   that have room ε in the direction of δᵢ); label 1.
2. **Features.** The model's penultimate features of every point, i.e. the input of its final
   linear layer, *as the model's forward computes them*: behind a defense, the features of the
   purified / transformed / noisy input the defense hands to the classifier.
3. **Readout.** A linear binary readout z = w·f + b (logits (−z, z), as the code builds them from its
   logistic regression), fitted by logistic regression with balanced class weights; the code's
   default logit rescaling ("fixed": the readout's logits on the training points span a range of 1)
   is applied.
4. **Feasibility.** The case is kept only if the binarized model (the model with its final layer
   replaced by the readout) puts x and every inner point in class 0 and the boundary point in class 1
   (the code's "perfect" solution goodness). Then an input within ε of x that the binarized model
   calls 1 provably exists: the boundary point.
5. **Attack.** The evaluation's attack runs against the binarized model from x with label 0, with the
   model's own gradient route (plain, the defense's BPDA or naive route, EOT for randomized models);
   it succeeds when it returns an input within ε (and [0, 1]) that the binarized model classifies 1.

**Score** = successes / feasible cases. A strong enough attack scores close to 1; the paper reads a
low score as "this attack is too weak for this model, so its robustness number cannot be trusted"
(11 of 13 published defences' original evaluations failed). The public code fixes no numeric pass
mark, and of the paper only its abstract could be consulted for this implementation; this module
warns below ``PASS_SCORE`` = 0.9 (a choice, not the paper's number) and reports the exact
(Clopper–Pearson) 95 % interval of the score beside it, so a reader sees how much a score on a few
cases can move.

**Random baseline** (the reference code's "random attack success rate" validation, which samples the
ε-surface and the corners of the ε-box): per feasible case, ``n_random`` = 64 points, half drawn like
the boundary point and half corners x ± ε, are classified by the binarized model; ``random_found``
counts the cases where one of them already reaches class 1. Such a case tests little (any attack
that moves to the edge of the ball wins it); the score over the other cases (``nontrivial_*``) is
the demanding part. With too few inner points for the feature dimension the readout overfits and
random points win almost always (the tests show it with 200 points for 192 features), which is why
the default keeps the case studies' 999.

How the features are found (generic for every model here): the **last ``nn.Linear`` called in a
forward pass whose output has one column per class** is taken as the head (or a parameter-free module
marked ``linear_head = True`` that computes the logits as a fixed linear map of its input, such as the
sNODE's "first ten components of x(T)", :class:`core.models.zoo.snode.FirstComponents`). The test works on a deep
copy of the model under test (the shared model is never touched), in which that layer is replaced by
a :class:`_Head` that either records its input (fitting) or applies the readout (the binarized
model). Because the replacement sits *inside* the copied module, everything around it is kept as
it is: a defense's preprocessing and its BPDA / naive gradient, a randomized model's draws, a log of
averaged probabilities (LT-NODE, smoothing's EOT). When one forward pass feeds the head k·B rows
for a batch of B (k draws batched draw-major, as LT-NODE and smoothing's EOT do), the features of
a point are the mean over its k draws; the EOT view then averages the binarized logits over draws,
which for a linear readout is the readout of the mean features.

Randomized models (``randomized=True``): features are averaged over ``feature_draws`` forward passes;
the attack uses EOT gradients (:class:`core.evaluation.ensemble.EOTModel`, ``eot_samples`` draws); x and the
boundary point must also get their class (0, 1) by a majority of ``repeats`` single evaluations of the
binarized model, and success is judged by the same majority vote.

Defaults and deviations from the paper's case studies: ``n_inner`` = 999 inner points as in the
case studies (``--n_inner_points=999``), one boundary point, no far-off or adversarial boundary
points; the readout is fitted here by 200 L-BFGS steps in torch (the code: scikit-learn's
unpenalised logistic regression, which is not installed here) on standardized features with
balanced class weights (the code's ``class_weight`` option; without it one boundary point among
999 inner points is often left on the wrong side); cases are drawn from the first images the model
classifies correctly (the code takes test images in order, correct or not: an image the model
already gets wrong is no harder for the binarized model, but keeping to correct ones matches the
audit's other checks). The attack is the caller's: the audit passes its white-box PGD (``steps``
steps of 2.5ε/steps from a random start); APGD-CE works the same way. L∞ only.
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from core.runtime import limits
from core.attacks.base import Attack, Goal
from core.evaluation.ensemble import EOTModel
from core.runtime.progress import ProgressFn, report
from core.judging.stats import accuracy_interval

ETA = 0.95
N_INNER = 999
PASS_SCORE = 0.9
FIT_STEPS = 200
N_RANDOM = 64


# -- points -------------------------------------------------------------------------------------------

def inner_points(x: torch.Tensor, eps: float, n: int, gen: torch.Generator, eta: float = ETA) -> torch.Tensor:
    """x itself and ``n − 1`` points x + δ, δ uniform in [−ηε, ηε] (L∞), clipped to [0, 1]; (n, C, H, W)."""
    d = (torch.rand((n - 1, *x.shape), generator=gen, dtype=x.dtype) * 2 - 1) * (eta * eps)
    return torch.cat([x[None], (x[None] + d).clamp(0, 1)])


def boundary_point(x: torch.Tensor, eps: float, gen: torch.Generator) -> torch.Tensor | None:
    """A point at L∞ distance exactly ε from x inside [0, 1]: δ uniform in [−ε, ε], scaled by the
    largest s for which no pixel's clipped change exceeds ε (s = min ε/|δᵢ| over the pixels with
    room ε towards δᵢ), so the pixel that sets s moves by exactly ε. None if no pixel has room ε."""
    d = (torch.rand(x.shape, generator=gen, dtype=x.dtype) * 2 - 1) * eps
    room = torch.where(d > 0, 1 - x, x)
    ok = (room >= eps) & (d != 0)
    if not ok.any():
        return None
    s = (eps / d.abs()[ok]).min()
    return (x + s * d).clamp(0, 1)


def random_surface_points(x: torch.Tensor, eps: float, n: int, gen: torch.Generator) -> torch.Tensor:
    """The random baseline's points: half drawn like the boundary point (on the ε-surface), half
    corners x ± ε (signs uniform), clipped to [0, 1]; (n, C, H, W)."""
    pts = [p for p in (boundary_point(x, eps, gen) for _ in range(n // 2)) if p is not None]
    signs = torch.randint(0, 2, (n - n // 2, *x.shape), generator=gen).to(x.dtype) * 2 - 1
    pts += list((x[None] + eps * signs).clamp(0, 1))
    return torch.stack(pts)


# -- the head swap ------------------------------------------------------------------------------------

class _Head(nn.Module):
    """The replaced final layer: records its input (``readout`` None) or applies the readout."""

    def __init__(self, head: nn.Module) -> None:
        super().__init__()
        self.head = head
        self.readout: nn.Linear | None = None
        self.captured: list[torch.Tensor] = []

    def forward(self, f: torch.Tensor) -> torch.Tensor:  # noqa: D102
        if self.readout is None:
            self.captured.append(f.detach())
            return self.head(f)
        return self.readout(f)


def _find_head(model: nn.Module, x: torch.Tensor) -> str:
    """Dotted name of the last nn.Linear called in a forward pass whose output has as many
    columns as the model's logits (see the module docstring)."""
    calls: list[str] = []
    names = {m: n for n, m in model.named_modules()}
    hooks = [m.register_forward_hook(lambda m, i, o: calls.append((names.get(m, ""), o.shape[-1])))
             for m in names if isinstance(m, nn.Linear) or getattr(m, "linear_head", False)]
    try:
        with torch.no_grad():
            classes = model(x[:1]).shape[1]
    finally:
        for h in hooks:
            h.remove()
    heads = [n for n, c in calls if c == classes and n]
    if not heads:
        raise ValueError("no linear layer produces the logits: the binarization test needs a final linear layer")
    return heads[-1]


def _swap(model: nn.Module, name: str) -> _Head:
    parent = model.get_submodule(name.rsplit(".", 1)[0]) if "." in name else model
    leaf = name.rsplit(".", 1)[-1]
    head = _Head(getattr(parent, leaf))
    setattr(parent, leaf, head)
    return head


def binarizable_copy(model: nn.Module, x: torch.Tensor) -> tuple[nn.Module, _Head]:
    """A deep copy of ``model`` with its head replaced by a :class:`_Head` (never the shared model).
    Fused fast views are switched off in the copy (core.models.fast caches one per module, which
    would keep a stale head)."""
    clone = copy.deepcopy(model)
    for m in clone.modules():
        if getattr(m, "fused_copy", None) is not None:
            m.fused_copy = None  # an instance attribute: fast_view then returns the module itself
    return clone, _swap(clone, _find_head(clone, x))  # found in the copy: a defense's fast view is off there


def features(model: nn.Module, head: _Head, x: torch.Tensor, draws: int = 1, batch: int = 256) -> torch.Tensor:
    """(N, d) features: the head's input for each image, averaged over ``draws`` forward passes and
    over the draws a single pass batches draw-major (module docstring). Batches stay within
    ``limits.MAX_FORWARD_PIXELS``."""
    batch = max(1, min(batch, limits.MAX_FORWARD_PIXELS // max(1, x.shape[-1] * x.shape[-2])))
    out = []
    with torch.no_grad():
        for s in range(0, x.shape[0], batch):
            xb = x[s:s + batch]
            acc = 0.0
            for _ in range(draws):
                head.captured.clear()
                model(xb)
                f = torch.cat([c.flatten(1) for c in head.captured])
                if f.shape[0] % xb.shape[0]:
                    raise ValueError(f"the head saw {f.shape[0]} rows for a batch of {xb.shape[0]}")
                acc = acc + f.view(-1, xb.shape[0], f.shape[1]).mean(0)
            out.append((acc / draws).cpu())
    head.captured.clear()
    return torch.cat(out)


def fit_readout(f: torch.Tensor, labels: torch.Tensor, steps: int = FIT_STEPS) -> nn.Linear:
    """Logistic regression (balanced class weights, no penalty) by L-BFGS on standardized features;
    returns nn.Linear(d, 2) with logits (−z, z) on the raw features, rescaled so that its logits on
    ``f`` span a range of 1 (the reference code's "fixed" rescaling). Written in torch because
    scikit-learn, which the reference code uses, is not a dependency here."""
    f = f.double()
    mu, sd = f.mean(0), f.std(0).clamp_min(1e-8)
    g = (f - mu) / sd
    y = labels.double()
    wts = torch.where(y > 0, 0.5 / y.sum().clamp_min(1), 0.5 / (1 - y).sum().clamp_min(1))
    w = torch.zeros(f.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=steps, line_search_fn="strong_wolfe", tolerance_grad=1e-12,
                            tolerance_change=1e-14)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = (wts * F.binary_cross_entropy_with_logits(g @ w + b, y, reduction="none")).sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        wr, br = w / sd, b - (w * mu / sd).sum()  # back to raw features
        z = f @ wr + br
        scale = max(float(2 * z.abs().max()), 1e-12)  # the logits (−z, z) span [−max|z|, max|z|]
        lin = nn.Linear(f.shape[1], 2)
        lin.weight.copy_(torch.stack([-wr, wr]).float() / scale)
        lin.bias.copy_(torch.stack([-br, br]).float() / scale)
    lin.requires_grad_(False)
    return lin


# -- the test -----------------------------------------------------------------------------------------

@dataclass
class BinarizationResult:
    """Per case (image) the outcome; the score and its interval over the feasible cases."""

    eps: float
    attack: str
    cases: list[dict] = field(default_factory=list)  # {"index", "feasible", "found", "random_found", "reason"}
    elapsed_s: float = 0.0
    n_inner: int = N_INNER
    n_random: int = N_RANDOM

    @property
    def tried(self) -> int:
        return len(self.cases)

    @property
    def feasible(self) -> int:
        return sum(c["feasible"] for c in self.cases)

    @property
    def found(self) -> int:
        return sum(c["found"] for c in self.cases)

    @property
    def random_found(self) -> int:
        return sum(c["random_found"] for c in self.cases)

    @property
    def score(self) -> float:
        return self.found / self.feasible if self.feasible else float("nan")

    @property
    def nontrivial(self) -> tuple[int, int]:
        """(found, feasible) over the feasible cases where no random point already won."""
        cs = [c for c in self.cases if c["feasible"] and not c["random_found"]]
        return sum(c["found"] for c in cs), len(cs)

    @property
    def passed(self) -> bool | None:
        """None when no case was feasible (the test says nothing)."""
        return None if not self.feasible else self.score >= PASS_SCORE

    def summary(self) -> dict:
        ci = accuracy_interval(self.found, self.feasible).as_list() if self.feasible else None
        return {"tried": self.tried, "feasible": self.feasible, "found": self.found,
                "random_found": self.random_found, "n_random": self.n_random,
                "nontrivial_found": self.nontrivial[0], "nontrivial_feasible": self.nontrivial[1],
                "score": None if not self.feasible else round(self.score, 4), "ci95": ci,
                "pass_score": PASS_SCORE, "eps": self.eps, "attack": self.attack, "n_inner": self.n_inner,
                "seconds": round(self.elapsed_s, 1)}


def _votes(model: nn.Module, x: torch.Tensor, repeats: int) -> torch.Tensor:
    """Per row: the class a majority of ``repeats`` evaluations gives (2 classes: mean vote > ½)."""
    with torch.no_grad():
        v = torch.stack([model(x).argmax(1).cpu().float() for _ in range(repeats)])
    return (v.mean(0) > 0.5).long()


def binarization_test(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float,
                      attack: Callable[[], Attack], *, n_cases: int = 10, n_inner: int = N_INNER,
                      randomized: bool = False, eot_samples: int = 8, repeats: int = 5, feature_draws: int = 4,
                      n_random: int = N_RANDOM, seed: int = 0, progress: ProgressFn = None) -> BinarizationResult:
    """Run the test on up to ``n_cases`` images of ``x`` (float, [0, 1], (N, C, H, W)) that ``model``
    classifies correctly (labels ``y``), in order. ``attack()`` makes the evaluation's attack (an
    :class:`core.attacks.base.Attack` with ``threat.eps`` = ``eps``, L∞). See the module docstring."""
    if model.training:
        raise RuntimeError("the binarization test needs a model in eval mode")
    if n_inner < 1:
        raise ValueError("n_inner must be at least 1")
    t0 = time.perf_counter()
    dev = next((p.device for p in model.parameters()), torch.device("cpu"))
    x, y = x.detach().cpu(), y.detach().cpu().long()
    clone, head = binarizable_copy(model, x[:1].to(dev))
    rep = repeats if randomized else 1
    with torch.no_grad():
        correct = torch.stack([(clone(x.to(dev)).argmax(1).cpu() == y) for _ in range(rep)]).float().mean(0) > 0.5
    idx = torch.nonzero(correct).flatten()[:n_cases].tolist()
    atk = attack()
    res = BinarizationResult(eps=eps, attack=f"{atk.name}, {atk.threat.steps} steps", n_inner=n_inner,
                             n_random=n_random)
    draws = feature_draws if randomized else 1
    target = EOTModel(clone, eot_samples) if randomized else clone
    for k, i in enumerate(idx):
        # the points' stream is kept apart from the attack's (seed + 100 + i): the same stream would make the
        # attack's random start the boundary point's unscaled draw
        gen = torch.Generator().manual_seed(2**40 + seed * 1_000_003 + i)
        xi = x[i]
        bnd = boundary_point(xi, eps, gen)
        case = {"index": int(i), "feasible": False, "found": False, "random_found": False, "reason": ""}
        res.cases.append(case)
        report(progress, k + 1, len(idx), f"binarization test: image {k + 1} of {len(idx)}")
        if bnd is None:
            case["reason"] = "no pixel has room ε inside [0, 1]"
            continue
        pts = torch.cat([inner_points(xi, eps, n_inner, gen), bnd[None]])
        labels = torch.zeros(pts.shape[0], dtype=torch.long)
        labels[-1] = 1
        head.readout = None
        f = features(clone, head, pts.to(dev), draws)
        head.readout = fit_readout(f, labels).to(dev)
        with torch.no_grad():
            z = head.readout(f.to(dev)).argmax(1).cpu()
        ok = bool((z == labels).all())
        if ok:  # the binarized model itself (with any post-processing, and its draws) must agree
            ok = _votes(clone, torch.stack([xi, bnd]).to(dev), rep).tolist() == [0, 1]
        if not ok:
            case["reason"] = "the readout does not separate the points"
            continue
        case["feasible"] = True
        if n_random:  # the random baseline: does a random point on the ε-surface or a corner already win?
            rnd = random_surface_points(xi, eps, n_random, gen).to(dev)
            case["random_found"] = bool((_votes(clone, rnd, rep) == 1).any())
        adv, _ = atk.perturb(target, xi[None].to(dev), torch.zeros(1, dtype=torch.long, device=dev), Goal(),
                             seed=seed + 100 + i)
        adv = adv.cpu()
        if (adv - xi[None]).abs().max() > eps * (1 + 1e-4) + 1e-6 or adv.min() < 0 or adv.max() > 1:
            raise AssertionError("the attack left the ε-ball or [0, 1]")  # a bug, never a result
        case["found"] = bool(_votes(clone, adv.to(dev), rep)[0] == 1)
    head.readout = None
    res.elapsed_s = time.perf_counter() - t0
    return res


def _pct(v: float) -> str:
    return f"{100 * v:.0f} %"


def binarization_check(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float,
                       attack: Callable[[], Attack], *, norm: str = "linf", **kwargs) -> tuple[str, dict, str]:
    """The audit's check (core.evaluation.audit.checks): (verdict, numbers, one sentence). ``kwargs`` go to
    :func:`binarization_test`. Verdict "warn" below :data:`PASS_SCORE`, "n/a" with no feasible case."""
    if norm != "linf":
        return "n/a", {}, "The binarization test is implemented for L∞ only."
    try:
        r = binarization_test(model, x, y, eps, attack, **kwargs)
    except ValueError as e:  # e.g. a model without a final linear layer
        return "n/a", {}, f"The binarization test could not run on this model: {e}."
    nums = r.summary()
    if not r.feasible:
        return "n/a", nums, (f"None of the {r.tried} images gave a feasible case (no linear readout of the features "
                             "separates the point at distance ε from the inner points), so the test says nothing.")
    lo, hi = nums["ci95"]
    head = (f"The model was binarized on {r.feasible} images (a linear readout of its features puts the image and "
            f"{r.n_inner - 1} points within 0.95ε in one class and a point at distance ε in the other, so an "
            f"adversarial example within ε provably exists); the audit's attack ({r.attack}) found one in "
            f"{r.found} of {r.feasible} ({_pct(r.score)}, 95 % interval {_pct(lo)}–{_pct(hi)}).")
    k, m = r.nontrivial
    if r.random_found:
        head += (f" In {r.random_found} of the cases a random point on the ε-surface or a corner already reaches the "
                 f"adversarial class, so they test little; the attack found the example in {k} of the other {m}.")
    if r.passed:
        return "pass", nums, head + " It is strong enough to find adversarial examples that exist for this model."
    return "warn", nums, head + (f" Below {_pct(PASS_SCORE)}: the attack is too weak for this model, so the robust "
                                 "accuracy it measures overstates the model's robustness (Zimmermann et al. 2022).")


__all__ = ["ETA", "N_INNER", "PASS_SCORE", "BinarizationResult", "binarizable_copy", "binarization_check",
           "binarization_test",
           "boundary_point", "features", "fit_readout", "inner_points"]
