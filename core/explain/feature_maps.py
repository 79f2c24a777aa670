"""Feature-map size probes: does a larger last map make the pretrained model harder to fool?

Paper: Xu, Zhang, Wang, Yang, "Understanding Adversarial Robustness from Feature Maps of
Convolutional Layers", arXiv 2202.12435 / IEEE TNNLS 2025 (``MTandHJ/rcm``); summary in
docs/ALGORITHMS.md. The model variants (nearest input upsampling inside the wrapper, stride 1 in chosen
stages on a deep copy) come from :mod:`core.defenses.feature_size`, the one implementation the
defense page uses too.

For each setting, :func:`compare_settings` measures, on one image:

* the (C, H, W) of every stage (from the clean pass, as :func:`core.defenses.feature_size.stage_sizes`
  measures them);
* the clean prediction;
* the sensitivity to a *fixed* random perturbation n (Gaussian, σ = 4/255 by default, seeded,
  the same n for every setting since every setting sees the same original-size image):
  ‖g(x+n) − g(x)‖₂ / ‖g(x)‖₂ for the pooled feature g (global average of the last map) and
  for the logits, averaged over a few draws;
* whether a short PGD (5 steps, ε = 1/255 by default, no random start) changes the label
  (the setting's own clean prediction unless a label is given);
* the smallest L∞ ε at which that PGD changes the label, by bisection over [0, 2/255] down to
  max(0.005/255, 10 % of ε) (:func:`min_flip_eps`, built on the generic
  :func:`min_eps_bisection`). On a non-robust ImageNet model this ε is often far below
  0.5/255, i.e. below what survives saving the image with 8 bits per channel.

Deviations (the app says so): the paper *trains* with the larger maps; here the pretrained
weights are reused as they are, so clean accuracy may drop and objects change scale relative
to the receptive fields. The PGD used inside the bisection has a step of 2.5·ε/steps (Madry
et al.'s rule) and no random start, so that its success is a deterministic, close to
monotone function of ε; bisection assumes monotonicity and reports the smallest ε it *saw*
succeed, which is an upper bound on the true smallest flipping ε for that attack.

:func:`pooling_demo` is a self-contained numeric demonstration (no model) of the mechanism the
paper appeals to: averaging over more positions damps a perturbation's effect on the pooled
feature, taking the maximum does not.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from core.runtime import limits
from core.attacks import Goal, ThreatModel
from core.attacks.pgd import PGD
from core.defenses.feature_size import build_feature_size_model, downsampling_stages
from core.models.fast import fast_view
from core.runtime.progress import ProgressFn, report

NOISE_SIGMA = 4 / 255
NOISE_DRAWS = 4
NOISE_CHUNK = 4  # draws per forward pass (4 at 4× upsampling of 260 px stays within limits.MAX_FORWARD_PIXELS)
PGD_EPS = 1 / 255
PGD_STEPS = 5
BISECT_HI = 2 / 255
BISECT_TOL = 0.005 / 255
BISECT_REL_TOL = 0.1


# --------------------------------------------------------------------------- bisection
@dataclass
class Bisection:
    """Outcome of :func:`min_eps_bisection`: ``eps`` is the smallest value seen to satisfy the
    predicate (None when even ``hi`` does not), ``evaluations`` every (value, outcome) tried."""

    eps: float | None
    lo: float
    hi: float
    evaluations: list[tuple[float, bool]] = field(default_factory=list)


def min_eps_bisection(predicate: Callable[[float], bool], lo: float, hi: float, tol: float,
                      rel_tol: float = 0.0, max_evals: int = limits.MAX_BISECTION_EVALS) -> Bisection:
    """Smallest ε in [lo, hi] with ``predicate(ε)`` True, to within ``tol`` (or ``rel_tol``
    times the answer, whichever is larger), assuming the predicate is monotone (False below a
    threshold, True above).

    Evaluates ``hi`` first (None if False), then ``lo`` (returns lo if True), then halves the
    bracket [last False, first True] until it is at most max(tol, rel_tol · upper end) wide;
    returns its upper end.
    """
    if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi):
        raise ValueError("need finite lo <= hi")
    if not tol > 0 or rel_tol < 0:
        raise ValueError("tol must be > 0 and rel_tol >= 0")
    if not 2 <= max_evals <= limits.MAX_BISECTION_EVALS:
        raise ValueError(f"max_evals must be in 2..{limits.MAX_BISECTION_EVALS}")
    evals: list[tuple[float, bool]] = []

    def ask(e: float) -> bool:
        r = bool(predicate(e))
        evals.append((e, r))
        return r

    if not ask(hi):
        return Bisection(None, lo, hi, evals)
    if ask(lo):
        return Bisection(lo, lo, lo, evals)
    a, b = lo, hi
    while b - a > max(tol, rel_tol * b) and len(evals) < max_evals:
        mid = 0.5 * (a + b)
        if ask(mid):
            b = mid
        else:
            a = mid
    return Bisection(b, a, b, evals)


def pgd_flips(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, steps: int = PGD_STEPS,
              seed: int = 0) -> torch.Tensor:
    """Per image: does an L∞ PGD of radius ``eps`` (step 2.5·ε/steps, no random start) change
    the label ``y``?"""
    if eps <= 0:
        with torch.no_grad():
            return model(x).argmax(1).cpu() != y.cpu()
    tm = ThreatModel(norm="linf", eps=float(eps), step=2.5 * float(eps) / steps, steps=int(steps),
                     random_start=False)
    return PGD(tm).run(model, x, y, Goal(), seed=seed).success


def min_flip_eps(model: nn.Module, x: torch.Tensor, y: torch.Tensor | int | None = None, *,
                 lo: float = 0.0, hi: float = BISECT_HI, tol: float = BISECT_TOL,
                 rel_tol: float = BISECT_REL_TOL, steps: int = PGD_STEPS, seed: int = 0,
                 progress: ProgressFn = None) -> Bisection:
    """Smallest L∞ ε (to max(``tol``, ``rel_tol``·ε)) at which a short PGD changes the label
    of one image (default label: the clean prediction)."""
    if x.shape[0] != 1:
        raise ValueError("min_flip_eps works on one image")
    dev = next((p.device for p in model.parameters()), x.device)
    x = x.detach().to(dev)
    if y is None:
        with torch.no_grad():
            y = model(x).argmax(1)
    y = torch.as_tensor(y, dtype=torch.long, device=dev).reshape(1)
    budget = 2 + math.ceil(math.log2(max((hi - lo) / max(tol, rel_tol * hi), 1.0))) + (
        math.ceil(math.log2(1 / rel_tol)) if rel_tol > 0 else 0)  # a rough bound, for the bar
    count = [0]

    def pred(e: float) -> bool:
        count[0] += 1
        report(progress, count[0], budget, f"ε = {e * 255:.2f}/255")
        return bool(pgd_flips(model, x, y, e, steps, seed)[0])

    return min_eps_bisection(pred, lo, hi, tol, rel_tol)


# --------------------------------------------------------------------------- sensitivity
@torch.no_grad()
def noise_sensitivity(model: nn.Module, x: torch.Tensor, *, sigma: float = NOISE_SIGMA,
                      draws: int = NOISE_DRAWS, seed: int = 0,
                      clean_fmap: torch.Tensor | None = None) -> dict[str, float]:
    """Relative change of the pooled feature and of the logits under fixed Gaussian noise.

    The noise is drawn on the CPU from a generator seeded with ``seed``, so it is the same for
    every model that sees an image of this size; x + n is clipped to [0, 1]. Returns the means
    over ``draws`` of ‖Δg‖/‖g‖ (``pooled``) and ‖Δz‖/‖z‖ (``logits``), and the absolute norms.
    ``clean_fmap``: the pre-pool map of ``x`` when the caller already has it (saves a pass).
    """
    if not 1 <= int(draws) <= limits.MAX_NOISE_DRAWS:
        raise ValueError(f"draws must be in 1..{limits.MAX_NOISE_DRAWS}")
    dev = next((p.device for p in model.parameters()), x.device)
    x = x.detach().to(dev)
    net = fast_view(model)  # the fused copy where there is one: same function, fewer kernels
    gen = torch.Generator().manual_seed(int(seed))
    fmap = net.forward_features(x)[0] if clean_fmap is None else clean_fmap.detach().to(dev)
    g0 = fmap.mean(dim=(2, 3))
    z0 = net.forward_head(fmap)
    g0_norm, z0_norm = max(float(g0.norm()), 1e-12), max(float(z0.norm()), 1e-12)
    dg_sum = dz_sum = 0.0
    left = int(draws)
    while left:  # the draws go through the model NOISE_CHUNK at a time (one pass each, not one per draw)
        k = min(left, NOISE_CHUNK)
        left -= k
        # one draw of k·(C, H, W) values is the same sequence as k draws of (C, H, W) from this generator
        n = torch.randn((k, *x.shape[1:]), generator=gen).to(dev, x.dtype) * sigma
        f1, _ = net.forward_features((x + n).clamp(0, 1))
        dg = (f1.mean(dim=(2, 3)) - g0).flatten(1).norm(dim=1)
        dz = (net.forward_head(f1) - z0).flatten(1).norm(dim=1)
        dg_sum += float(dg.sum())
        dz_sum += float(dz.sum())
    dg_mean, dz_mean = dg_sum / draws, dz_sum / draws
    return {"pooled": dg_mean / g0_norm, "logits": dz_mean / z0_norm, "pooled_abs": dg_mean, "logits_abs": dz_mean}


# --------------------------------------------------------------------------- settings
@dataclass(frozen=True)
class Setting:
    """One feature-map-size setting: input upsampling factor and stride-1 stages."""

    upsample: float = 1.0
    stride1: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        parts = [f"×{self.upsample:g}"]
        if self.stride1:
            parts.append("stride 1: " + ", ".join(self.stride1))
        return " · ".join(parts)


@dataclass
class SettingResult:
    """What :func:`compare_settings` measured for one setting."""

    setting: Setting
    sizes: dict[str, tuple[int, int, int]]
    final_hw: tuple[int, int]
    clean_pred: int
    clean_prob: float
    label: int  # the label PGD tries to change
    label_prob: float  # its clean probability
    sensitivity: dict[str, float]
    pgd_success: bool
    min_eps: Bisection | None
    elapsed_s: float

    @property
    def final_positions(self) -> int:
        return self.final_hw[0] * self.final_hw[1]


def default_settings(model: nn.Module) -> list[Setting]:
    """×1, ×1.5, ×2 upsampling, and stride 1 in the last downsampling stage."""
    out = [Setting(1.0), Setting(1.5), Setting(2.0)]
    down = downsampling_stages(model)
    if down:
        out.append(Setting(1.0, (down[-1],)))
    return out


def variant_model(model: nn.Module, setting: Setting) -> nn.Module:
    """The model of a setting, from :func:`core.defenses.feature_size.build_feature_size_model`,
    in eval mode (a fresh ``UpsampledClassifier`` wrapper starts with ``training=True`` like any new
    ``nn.Module``; ``eval()`` on it touches only flags, and the shared model is already in eval
    mode)."""
    m = build_feature_size_model(model, setting.upsample, setting.stride1)
    if m.training:
        m.eval()
    return m


def compare_settings(model: nn.Module, x: torch.Tensor, settings: list[Setting], *,
                     label: int | None = None, noise_sigma: float = NOISE_SIGMA, noise_draws: int = NOISE_DRAWS,
                     pgd_eps: float = PGD_EPS, pgd_steps: int = PGD_STEPS, bisect: bool = True,
                     bisect_hi: float = BISECT_HI, bisect_tol: float = BISECT_TOL,
                     bisect_rel_tol: float = BISECT_REL_TOL, seed: int = 0,
                     progress: ProgressFn = None) -> list[SettingResult]:
    """Measure every setting on one image (see the module docstring). The label PGD tries to
    change is ``label`` when given, otherwise each setting's own clean prediction (a setting
    may already predict another class than the plain model)."""
    if x.dim() != 4 or x.shape[0] != 1:
        raise ValueError("compare_settings works on one image of shape (1, 3, H, W)")
    if not 1 <= len(settings) <= limits.MAX_FEATURE_SETTINGS:
        raise ValueError(f"compare 1 to {limits.MAX_FEATURE_SETTINGS} settings at a time")
    if not 1 <= pgd_steps <= limits.MAX_ATTACK_STEPS or not 1 <= noise_draws <= 64:
        raise ValueError("pgd_steps or noise_draws out of range")
    dev = next((p.device for p in model.parameters()), x.device)
    x = x.detach().to(dev)
    results = []
    for i, s in enumerate(settings):
        t0 = time.perf_counter()
        report(progress, 100 * i, 100 * len(settings), s.label)
        m = variant_model(model, s)
        with torch.no_grad():  # one pass gives the clean prediction, every stage's size and the noise probe's reference
            fast = fast_view(m)
            fmap, kept = fast.forward_features(x, keep=tuple(m.stage_names))
            p = fast.forward_head(fmap).softmax(1)[0]
        sizes = {k: tuple(int(d) for d in v.shape[1:]) for k, v in kept.items()}
        last = sizes[m.stage_names[-1]]
        ref = int(p.argmax()) if label is None else int(label)
        y = torch.tensor([ref], device=dev)
        sens = noise_sensitivity(m, x, sigma=noise_sigma, draws=noise_draws, seed=seed, clean_fmap=fmap)
        success = bool(pgd_flips(m, x, y, pgd_eps, pgd_steps, seed)[0])
        def bisect_progress(done: int, total: int, msg: str, i: int = i, label: str = s.label) -> None:
            frac = min(done / max(total, 1), 1.0)
            report(progress, int(100 * (i + 0.2 + 0.8 * frac)), 100 * len(settings), f"{label}: bisection, {msg}")
        bis = (min_flip_eps(m, x, y, hi=bisect_hi, tol=bisect_tol, rel_tol=bisect_rel_tol, steps=pgd_steps,
                            seed=seed, progress=bisect_progress if progress is not None else None)
               if bisect else None)
        results.append(SettingResult(
            setting=s, sizes=sizes, final_hw=(last[1], last[2]), clean_pred=int(p.argmax()),
            clean_prob=float(p.max()), label=ref, label_prob=float(p[ref]), sensitivity=sens,
            pgd_success=success, min_eps=bis, elapsed_s=time.perf_counter() - t0))
    report(progress, 100 * len(settings), 100 * len(settings), "done")
    return results


# --------------------------------------------------------------------------- pooling demo
def pooling_demo(sizes: tuple[int, ...] = (1, 2, 4, 7, 14, 28), trials: int = 400, noise_sigma: float = 0.5,
                 bump: float = 1.0, seed: int = 0) -> dict[str, np.ndarray]:
    """Average vs max pooling of an n × n map of activations under three perturbations.

    Base activations: ReLU(N(0, 1)), i.e. what follows a ReLU. Perturbations, of the same size
    per position whatever n is:

    * ``noise``: independent zero-mean N(0, σ²) at every position (a perturbation that varies in
      sign across the map);
    * ``bump``: one position raised by ``bump`` (the worst position for each pooling: for the
      average any position, for the max the current argmax);
    * ``shift``: every position raised by ``bump`` (a coherent change of the whole channel).

    Returns, for every n, the mean over ``trials`` of |pool(A + P) − pool(A)| for average and max
    pooling (keys ``avg_noise``, ``max_noise``, ...), and ``positions`` = n². Expected, and
    computed here rather than assumed: with averaging the change falls like σ/n for noise and
    bump/n² for the bump, while max pooling passes the bump on in full and the noise's largest
    excursion (which grows with n); a coherent shift passes through *both* poolings unchanged.
    """
    if not 1 <= int(trials) <= limits.MAX_POOLING_TRIALS or not sizes or max(sizes) > 64 or min(sizes) < 1:
        raise ValueError(f"trials must be in 1..{limits.MAX_POOLING_TRIALS} and sizes in 1..64")
    rng = np.random.default_rng(seed)
    keys = [f"{p}_{k}" for k in ("noise", "bump", "shift") for p in ("avg", "max")]
    out = {k: np.zeros(len(sizes)) for k in keys}
    for i, n in enumerate(sizes):
        a = np.maximum(rng.standard_normal((trials, n * n)), 0.0)
        variants = {"noise": a + noise_sigma * rng.standard_normal(a.shape), "shift": a + bump}
        bumped_avg = a.copy()
        bumped_avg[:, 0] += bump  # any position does for the average
        bumped_max = a.copy()
        bumped_max[np.arange(trials), a.argmax(1)] += bump
        for k, v in variants.items():
            out[f"avg_{k}"][i] = np.abs(v.mean(1) - a.mean(1)).mean()
            out[f"max_{k}"][i] = np.abs(v.max(1) - a.max(1)).mean()
        out["avg_bump"][i] = np.abs(bumped_avg.mean(1) - a.mean(1)).mean()
        out["max_bump"][i] = np.abs(bumped_max.max(1) - a.max(1)).mean()
    out["positions"] = np.array([n * n for n in sizes])
    return out
