"""Training-free purification through equivariance, for the ImageNet classifiers.

Paper: Mao, L. Zhang, A. Joshi, J. Yang, H. Wang, C. Vondrick, *Robust Perception through
Equivariance*, ICML 2023 (arXiv 2212.06079; code ``cvlab-columbia/Equi4Rob``, whose released
pipeline is for segmentation). Summary: docs/ALGORITHMS.md.

Idea: on clean images a dense feature map F is roughly equivariant, F(x) ≈ g⁻¹(F(g(x))) for
flips, resizes, rotations and colour changes; adversarial noise breaks that. The defense adds a
reversal vector v to the (attacked) input and optimises it so that the back-warped feature maps
of all views agree again, then classifies ``x + v``. Nothing is trained.

Algorithm (L∞, as in the reference code):

* views: the identity plus K random views (fresh parameters at every step; see
  :mod:`core.defenses.equivariance_views`);
* for each view, the feature map of ``stage`` (``model.forward_features(x, keep=(stage,))``) is
  warped back to the identity's map size, multiplied by the rotation border mask, flattened
  and L2-normalised per image: f_0 … f_K; loss L_equi = −Σ_{i<j} ⟨f_i, f_j⟩ (its minimum,
  for an exactly equivariant map, is −K(K+1)/2);
* v ← U(−ε_v, ε_v), box-clipped; for t = 0 … T−1: g = ∇_v L_equi(x + v) normalised to unit L2
  norm per image, plus annealed Gaussian noise with weight (T−1−t)/T; v ← clip(v − η·sign(·),
  ±ε_v), then clip x + v to [0, 1];
* classify x + v.

Baselines from the paper: ``method="random"`` (v uniform in the same budget, no optimisation)
and ``method="invariance"`` (cosine of globally average-pooled features of the views, no
warping).

Defaults. CPU (docs/ALGORITHMS.md): K = 3 views (h-flip, ×0.75 resize with aspect jitter,
±10° rotation), T = 5, ε_v = 6/255 (1.5·ε for ε = 4/255), η = ε_v/4; noise annealed in units
of the normalised gradient's RMS (``noise="annealed"``, scale 1). ``paper_settings()``: the
paper's eight views, T = 20, η = 1.0 and the paper's absolute N(0, 1) noise on the unit-norm
gradient. With η = 1 the clip makes every step set v = −ε_v·sign(noisy gradient), and that
noise dominates the unit-norm gradient until the last, noise-free step.

Feature stage. The repository only releases segmentation; for classifiers we take a
pre-pool map (our inference, not the paper's). ``DEFAULT_STAGE`` = "stage6" (192×7×7 at 224 px) was chosen on EfficientNet-Lite0
by measuring which stage's purification recovers more PGD-attacked predictions
(``bench/equivariance_defaults.py``; figures in ``docs/BENCHMARKS.md``, Defenses): stage6
recovered the most (or tied) in every run, ``head`` (1280×7×7) recovered fewer but changed fewer
clean predictions, stage5 (14×14) recovered almost none. The recovery is modest (1 attacked image
in 7 to 1 in 5 against a non-adaptive PGD-10 at 4/255, versus none for a random reversal vector
of the same budget; the invariance baseline did about as well on one image set and worse on
another) and purification also changes clean predictions (the random reversal alone changes
about a quarter of them on these low-confidence crops, stage-6 purification about half). ``stage`` accepts any
name in ``model.stage_names``.

Adaptive attackers. The route is BPDA (Athalye et al. 2018): the purifier's forward, the
identity on the backward pass. Because v is optimised with detached gradients, ``x + v`` has
the identity Jacobian in autograd anyway, so the "naive" module of this defense equals BPDA.
The paper's stronger adaptive attacker maximises CE − λ·L_equi (``PGD_attack_new_adaptive``):
:func:`equivariance_aware_objective` and :class:`EquivarianceAwarePGD` provide it.

Deviations: views are drawn per batch, not per image; hue jitter is a YIQ chroma rotation;
the gradient is normalised per image rather than over the batch.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from core.runtime import limits
from core.attacks.base import Attack, Recorder, ascent_direction, attack_objective, project, random_start
from core.defenses.base import Defense, DefenseOutput, bpda_identity
from core.defenses.common import fast
from core.defenses.equivariance_views import (CPU_VIEWS, PAPER_VIEWS, View, group_by_size,
                                              sample_views)
from core.runtime.progress import ProgressFn, report

Method = Literal["equivariance", "invariance", "random"]
NoiseMode = Literal["off", "annealed", "paper"]

DEFAULT_STAGE = "stage6"


# --- features of every view --------------------------------------------------------------

@dataclass
class ViewFeatures:
    """Feature maps of all views, back-warped to the identity's map size, and the logits of
    the identity view (free: they come from the same forward pass)."""

    back: list[torch.Tensor]  # one (N, C, h, w) per view, identity first
    raw: list[torch.Tensor]  # the maps as computed on each view (before the inverse warp)
    mask: torch.Tensor  # (1, 1, h, w) valid positions (rotation borders excluded)
    logits: torch.Tensor  # (N, classes) of the identity view


def view_features(model: nn.Module, x: torch.Tensor, views: Sequence[View], stage: str) -> ViewFeatures:
    """Feature maps of ``stage`` for every view (views of one size share a batched pass)."""
    if not views or not views[0].is_identity:
        raise ValueError("the first view must be the identity")
    if stage not in model.stage_names:
        raise ValueError(f"unknown stage {stage!r}; stages: {', '.join(model.stage_names)}")
    hw = tuple(x.shape[-2:])
    n = x.shape[0]
    raw: list[torch.Tensor | None] = [None] * len(views)
    logits = None
    for _, idx in group_by_size(views, hw).items():
        batch = torch.cat([views[i].apply(x) for i in idx], dim=0)
        head, kept = model.forward_features(batch, keep=(stage,))
        fmap = kept[stage]
        for j, i in enumerate(idx):
            raw[i] = fmap[j * n:(j + 1) * n]
            if i == 0:
                logits = model.forward_head(head[j * n:(j + 1) * n])
    out_hw = tuple(raw[0].shape[-2:])
    mask = torch.ones(1, 1, *out_hw, device=x.device, dtype=raw[0].dtype)
    back = []
    for v, y in zip(views, raw):
        back.append(v.invert(y, out_hw))
        if v.angle:
            mask = mask * v.valid_mask(hw, tuple(y.shape[-2:]), out_hw, x.device).to(mask.dtype)
    return ViewFeatures(back=back, raw=raw, mask=mask, logits=logits)


def equivariance_loss_from_maps(maps: Sequence[torch.Tensor], mask: torch.Tensor | None = None) -> torch.Tensor:
    """L_equi = −Σ_{i<j} ⟨f_i, f_j⟩ of masked, flattened, per-image L2-normalised maps, (N,)."""
    f = torch.stack([(m if mask is None else m * mask).flatten(1) for m in maps], dim=0)  # (V, N, D)
    f = F.normalize(f, dim=2, eps=1e-12)
    gram = torch.einsum("vnd,wnd->nvw", f, f)
    v = gram.shape[1]
    iu = torch.triu_indices(v, v, offset=1, device=gram.device)
    return -gram[:, iu[0], iu[1]].sum(1)


def invariance_loss_from_maps(maps: Sequence[torch.Tensor]) -> torch.Tensor:
    """Baseline "inv": −Σ_{i<j} cos of globally average-pooled features (no warping), (N,)."""
    return equivariance_loss_from_maps([m.mean(dim=(2, 3), keepdim=True) for m in maps])


def equivariance_loss(model: nn.Module, x: torch.Tensor, views: Sequence[View], stage: str = DEFAULT_STAGE,
                      method: Method = "equivariance") -> tuple[torch.Tensor, torch.Tensor]:
    """(loss (N,), identity-view logits) of a batch for the given views."""
    vf = view_features(model, x, views, stage)
    if method == "invariance":
        return invariance_loss_from_maps(vf.raw), vf.logits
    return equivariance_loss_from_maps(vf.back, vf.mask), vf.logits


def min_equivariance_loss(num_views: int) -> float:
    """The loss of an exactly equivariant map with ``num_views`` views besides the identity:
    every pair has cosine 1, so L = −K(K+1)/2."""
    return -num_views * (num_views + 1) / 2


def equivariance_error_map(model: nn.Module, x: torch.Tensor, *, views: Sequence[str] = CPU_VIEWS,
                           stage: str = DEFAULT_STAGE, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-position equivariance error 1 − cos(f_identity(p), mean of the other views' back-warped
    f(p)), over channels; (N, h, w) at the stage's map size, and the (h, w) valid mask (errors
    are 0 where the mask is 0). Upsample for display."""
    gen = torch.Generator().manual_seed(int(seed))
    vs = sample_views(views, gen)
    dev = next((p.device for p in model.parameters()), x.device)
    with torch.no_grad():
        vf = view_features(model, x.to(dev), vs, stage)
        ident = vf.back[0]
        others = torch.stack(vf.back[1:], 0).mean(0) if len(vf.back) > 1 else ident
        cos = F.cosine_similarity(ident, others, dim=1, eps=1e-12)
        mask = vf.mask[0, 0]
        err = (1 - cos) * mask
    return err.cpu(), mask.cpu()


def equivariance_error_summary(model: nn.Module, images: dict[str, torch.Tensor], *, views: Sequence[str] = CPU_VIEWS,
                               stage: str = DEFAULT_STAGE, seed: int = 0) -> dict[str, tuple[float, torch.Tensor]]:
    """For each named image (1, 3, H, W): (mean equivariance error over the valid positions, the
    (h, w) error map), all with the same random views. The paper's ``measure_equi.py`` story is
    that clean images are the most equivariant, attacked ones the least, purified ones between."""
    out = {}
    for name, img in images.items():
        err, mask = equivariance_error_map(model, img, views=views, stage=stage, seed=seed)
        out[name] = (float(err[0].sum() / mask.sum().clamp_min(1)), err[0])
    return out


# --- purification -------------------------------------------------------------------------

@dataclass
class PurificationStep:
    """One step of the purifier, for the trajectory plot (values per image)."""

    step: int
    loss: torch.Tensor  # (N,) loss at the iterate evaluated at this step
    top1_prob: torch.Tensor  # (N,)
    top1_class: torch.Tensor  # (N,)
    v_linf: torch.Tensor  # (N,)


@dataclass
class PurificationResult:
    x_purified: torch.Tensor
    v: torch.Tensor
    logits: torch.Tensor
    trajectory: list[PurificationStep] = field(default_factory=list)


def reversal_step(x: torch.Tensor, v: torch.Tensor, g: torch.Tensor, t: int, steps: int, *, eta: float,
                  eps_v: float, noise: str, noise_scale: float, noise_gen: torch.Generator) -> torch.Tensor:
    """One update of the reversal vector (Equi4Rob's loop, shared by the classification and the
    segmentation purifiers): normalise the gradient of the equivariance loss per image, add
    Gaussian noise annealed as (T-1-t)/T (zero at the last step; "paper" scale 1, else 1/sqrt(d)),
    descend by eta times its sign, clip to the eps_v ball and keep x + v in [0, 1]."""
    g = g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1, 1)
    w = (steps - 1 - t) / steps
    if noise != "off" and w > 0:
        std = noise_scale * w * (1.0 if noise == "paper" else 1.0 / math.sqrt(x[0].numel()))
        g = g + std * torch.randn(g.shape, generator=noise_gen, device=g.device, dtype=g.dtype)
    v = (v.detach() - eta * g.sign()).clamp(-eps_v, eps_v)
    return (x + v).clamp(0, 1) - x


def _record(step: int, loss: torch.Tensor, logits: torch.Tensor, v: torch.Tensor) -> PurificationStep:
    p = logits.detach().float().softmax(1)
    prob, cls = p.max(1)
    return PurificationStep(step=step, loss=loss.detach().float().cpu(), top1_prob=prob.cpu(),
                            top1_class=cls.cpu(), v_linf=v.detach().flatten(1).abs().amax(1).cpu())


def purify(model: nn.Module, x: torch.Tensor, *, views: Sequence[str] = CPU_VIEWS, steps: int = 5,
           eps_v: float = 6 / 255, step_size: float | None = None, stage: str = DEFAULT_STAGE,
           method: Method = "equivariance", noise: NoiseMode = "annealed", noise_scale: float = 1.0,
           random_init: bool = True, seed: int = 0, progress: ProgressFn = None,
           final_loss: bool = True) -> PurificationResult:
    """Purify a batch (N, 3, H, W) in [0, 1]; see the module docstring. ``step_size`` defaults
    to ε_v/4. ``final_loss=False`` skips the loss evaluation of the final iterate (one forward
    of all views) and classifies it with one plain forward instead."""
    if method not in ("equivariance", "invariance", "random"):
        raise ValueError(f"unknown method {method!r}")
    if noise not in ("off", "annealed", "paper"):
        raise ValueError(f"unknown noise mode {noise!r}")
    if not (0 <= eps_v <= 1) or not (isinstance(steps, int) and 0 <= steps <= limits.MAX_PURIFICATION_STEPS):
        raise ValueError(f"eps_v must be in [0, 1] and steps in 0..{limits.MAX_PURIFICATION_STEPS}")
    if len(views) > limits.MAX_EQUIVARIANCE_VIEWS:
        raise ValueError(f"at most {limits.MAX_EQUIVARIANCE_VIEWS} views")
    eta = eps_v / 4 if step_size is None else float(step_size)
    x = x.detach()
    # One step puts every image through the model once per view (and the identity), with
    # gradients: a batch larger than the per-pass limit is purified in chunks that fit it. Each
    # chunk starts its generators from ``seed``, so the result is deterministic for a given batch.
    chunk = max(1, limits.MAX_GRAD_PIXELS // ((len(views) + 1) * x.shape[-2] * x.shape[-1]))
    if x.dim() == 4 and x.shape[0] > chunk:
        starts = list(range(0, x.shape[0], chunk))
        parts = []
        for k, i in enumerate(starts):
            sub = None if progress is None else (
                lambda d, t, m, k=k: progress(k * 1000 + int(1000 * d / max(t, 1)), len(starts) * 1000,
                                              f"images {k * chunk + 1}–{min((k + 1) * chunk, x.shape[0])}: {m}"))
            parts.append(purify(model, x[i:i + chunk], views=views, steps=steps, eps_v=eps_v, step_size=step_size,
                                stage=stage, method=method, noise=noise, noise_scale=noise_scale,
                                random_init=random_init, seed=seed, progress=sub, final_loss=final_loss))
        return _concat_results(parts)
    dev = x.device
    view_gen = torch.Generator().manual_seed(int(seed))
    noise_gen = torch.Generator(device=dev).manual_seed(int(seed) + 1)
    if random_init or method == "random":
        v = (torch.rand(x.shape, generator=noise_gen, device=dev, dtype=x.dtype) * 2 - 1) * eps_v
    else:
        v = torch.zeros_like(x)
    v = (x + v).clamp(0, 1) - x
    traj: list[PurificationStep] = []
    n_steps = 0 if method == "random" else steps
    for t in range(n_steps):
        vs = sample_views(views, view_gen)
        v.requires_grad_(True)
        with torch.enable_grad():
            loss, logits = equivariance_loss(model, x + v, vs, stage, method)
            (g,) = torch.autograd.grad(loss.sum(), v)
        traj.append(_record(t, loss, logits, v))
        v = reversal_step(x, v, g, t, steps, eta=eta, eps_v=eps_v, noise=noise, noise_scale=noise_scale,
                          noise_gen=noise_gen)
        report(progress, t + 1, n_steps + 1, f"purification step {t + 1}/{n_steps}")
    with torch.no_grad():
        if final_loss or method == "random":
            vs = sample_views(views, view_gen)
            loss, logits = equivariance_loss(model, x + v, vs, stage, "invariance" if method == "invariance" else "equivariance")
            traj.append(_record(n_steps, loss, logits, v))
        else:
            logits = model(x + v)
    report(progress, n_steps + 1, n_steps + 1, "purified")
    return PurificationResult(x_purified=(x + v).detach(), v=v.detach(), logits=logits.detach(), trajectory=traj)


def _concat_results(parts: Sequence[PurificationResult]) -> PurificationResult:
    """The results of consecutive chunks of one batch, as one result."""
    steps = [PurificationStep(step=p0.step, **{f: torch.cat([getattr(p.trajectory[t], f) for p in parts])
                                               for f in ("loss", "top1_prob", "top1_class", "v_linf")})
             for t, p0 in enumerate(parts[0].trajectory)]
    return PurificationResult(x_purified=torch.cat([p.x_purified for p in parts]), v=torch.cat([p.v for p in parts]),
                              logits=torch.cat([p.logits for p in parts]), trajectory=steps)


class EquivariancePurification(Defense):
    """Purification through equivariance (ICML 2023), training-free; see the module docstring."""

    name = "Equivariance purification"
    paper = "Mao, Zhang, Joshi, Yang, Wang, Vondrick: Robust Perception through Equivariance, ICML 2023"
    summary = ("Adds a small 'reversal' pattern v to the image and optimises it so that the network's "
               "feature maps agree across flipped, resized and rotated copies of the image (clean images "
               "are nearly equivariant; adversarial noise breaks that), then classifies the result. "
               "Nothing is trained; it costs a few forward and backward passes per step.")
    adaptive_route = "bpda"
    adaptive_options: ClassVar[tuple[str, ...]] = ("bpda", "equivariance-aware")

    def __init__(self, model: nn.Module, *, views: Sequence[str] = CPU_VIEWS, steps: int = 5,
                 eps_v: float = 6 / 255, step_size: float | None = None, stage: str = DEFAULT_STAGE,
                 method: Method = "equivariance", noise: NoiseMode = "annealed", noise_scale: float = 1.0,
                 random_init: bool = True) -> None:
        super().__init__(model)
        if stage not in model.stage_names:
            raise ValueError(f"unknown stage {stage!r}; stages: {', '.join(model.stage_names)}")
        self.views = tuple(views)
        self.steps = int(steps)
        self.eps_v = float(eps_v)
        self.step_size = step_size
        self.stage = stage
        self.method = method
        self.noise = noise
        self.noise_scale = float(noise_scale)
        self.random_init = random_init

    @classmethod
    def paper_settings(cls, model: nn.Module, **overrides: Any) -> EquivariancePurification:
        """The paper's settings: eight views, T = 20, η = 1.0, absolute N(0, 1) annealed noise,
        ε_v = 6/255 (1.5·ε for ε = 4/255). About 25 s per 224 px image on a 2-core CPU."""
        kw: dict[str, Any] = dict(views=PAPER_VIEWS, steps=20, eps_v=6 / 255, step_size=1.0, noise="paper",
                                  noise_scale=1.0)
        kw.update(overrides)
        return cls(model, **kw)

    def params(self) -> dict:
        return {"views": list(self.views), "steps": self.steps, "eps_v": self.eps_v,
                "step_size": self.eps_v / 4 if self.step_size is None else self.step_size,
                "stage": self.stage, "method": self.method, "noise": self.noise,
                "noise_scale": self.noise_scale, "random_init": self.random_init}

    def purify(self, x: torch.Tensor, seed: int = 0, progress: ProgressFn = None,
               final_loss: bool = True) -> PurificationResult:
        return purify(fast(self.model), x, views=self.views, steps=self.steps, eps_v=self.eps_v,
                      step_size=self.step_size, stage=self.stage, method=self.method, noise=self.noise,
                      noise_scale=self.noise_scale, random_init=self.random_init, seed=seed,
                      progress=progress, final_loss=final_loss)

    def _defend(self, x: torch.Tensor, *, seed: int, progress: ProgressFn) -> DefenseOutput:
        res = self.purify(x, seed=seed, progress=progress)
        traj = res.trajectory
        return DefenseOutput(
            logits=res.logits, x_classified=res.x_purified,
            diagnostics={
                "trajectory": {
                    "step": [s.step for s in traj],
                    "loss": torch.stack([s.loss for s in traj], 1) if traj else torch.empty(x.shape[0], 0),
                    "top1_prob": torch.stack([s.top1_prob for s in traj], 1) if traj else torch.empty(x.shape[0], 0),
                    "top1_class": torch.stack([s.top1_class for s in traj], 1) if traj else torch.empty(x.shape[0], 0, dtype=torch.long),
                    "loss_min": min_equivariance_loss(len(self.views)),
                },
                "v": res.v.cpu(),
                "params": self.params(),
            })

    def _adaptive_forward(self, x: torch.Tensor, seed: int) -> torch.Tensor:
        res = self.purify(x.detach(), seed=seed, final_loss=False)
        return fast(self.model)(bpda_identity(x, res.x_purified))

    # The purifier's v is optimised with detached gradients, so autograd through the defense as
    # run already has the identity Jacobian: the naive module equals BPDA-identity.
    _naive_forward = _adaptive_forward

    def adaptive_attack(self, threat, lam: float = 1.0) -> EquivarianceAwarePGD:
        """The paper's adaptive attacker for this defense (CE − λ·L_equi on the base model)."""
        return EquivarianceAwarePGD(threat, views=self.views, stage=self.stage, lam=lam)


# --- the paper's adaptive attacker -----------------------------------------------------------

def equivariance_aware_objective(model: nn.Module, x_adv: torch.Tensor, labels: torch.Tensor,
                                 targets: torch.Tensor | None, views: Sequence[View], stage: str = DEFAULT_STAGE,
                                 lam: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """(objective (N,), logits): the attack objective (CE of the label, or −CE of the target)
    minus λ·L_equi, so that the attack keeps the features equivariant and the purifier finds
    little to undo (``PGD_attack_new_adaptive`` in Equi4Rob, λ = 1)."""
    vf = view_features(model, x_adv, views, stage)
    obj = attack_objective(vf.logits, labels, targets)
    if lam:
        obj = obj - lam * equivariance_loss_from_maps(vf.back, vf.mask)
    return obj, vf.logits


class EquivarianceAwarePGD(Attack):
    """PGD on the undefended model ascending CE − λ·L_equi (the paper's adaptive attack);
    fresh random views at every step. Cost per step: one forward+backward of every view."""

    name = "PGD (CE − λ·L_equi)"
    paper = "Mao et al., ICML 2023 (adaptive attack); Madry et al., ICLR 2018 (PGD)"

    def __init__(self, threat=None, *, views: Sequence[str] = CPU_VIEWS, stage: str = DEFAULT_STAGE,
                 lam: float = 1.0) -> None:
        super().__init__(threat)
        if len(tuple(views)) > limits.MAX_EQUIVARIANCE_VIEWS:
            raise ValueError(f"at most {limits.MAX_EQUIVARIANCE_VIEWS} views")
        self.views = tuple(views)
        self.stage = stage
        self.lam = float(lam)

    def params(self) -> dict:
        return {"views": list(self.views), "stage": self.stage, "lambda": self.lam}

    def _perturb(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, targets: torch.Tensor | None,
                 gen: torch.Generator, rec: Recorder) -> torch.Tensor:
        tm = self.threat
        view_gen = torch.Generator().manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=gen, device=gen.device)))
        best = x.clone()
        best_obj = torch.full((x.shape[0],), -float("inf"), device=x.device)
        for _ in range(tm.restarts):
            delta = random_start(x, tm.norm, tm.eps, gen) if tm.random_start else torch.zeros_like(x)
            for _ in range(tm.steps):
                delta.requires_grad_(True)
                x_it = x + delta
                vs = sample_views(self.views, view_gen)
                obj, logits = equivariance_aware_objective(model, x_it, y, targets, vs, self.stage, self.lam)
                (grad,) = torch.autograd.grad(obj.sum(), delta)
                rec.log(logits, obj, x_it)
                delta = project(delta.detach() + tm.step * ascent_direction(grad, tm.norm), x, tm.norm, tm.eps)
            if tm.restarts == 1:
                return x + delta
            with torch.no_grad():
                obj, _ = equivariance_aware_objective(model, x + delta, y, targets,
                                                      sample_views(self.views, view_gen), self.stage, self.lam)
            better = obj > best_obj
            best[better] = (x + delta)[better]
            best_obj = torch.where(better, obj, best_obj)
        return best
