"""Purification through equivariance for the person-segmentation models (dense outputs).

Paper: Mao, L. Zhang, A. Joshi, J. Yang, H. Wang, C. Vondrick, *Robust Perception through
Equivariance*, ICML 2023 (arXiv 2212.06079; ``cvlab-columbia/Equi4Rob``, whose released
pipeline *is* segmentation; summary in docs/ALGORITHMS.md). The views, their inverse warps and the
cosine loss are shared with the classifier version: :mod:`core.defenses.equivariance_views`
(``sample_views``, ``dense_views``) and ``equivariance_loss_from_maps`` of
:mod:`core.defenses.equivariance`; this file adds what is specific to dense outputs.

Dense map. The reference code uses the class-score map before the final upsampling (index 1 of
DRNSeg's outputs). Our models have one class, so the default ``feature="logits"`` is the
pre-sigmoid person map at the model's output resolution; ``"probs"`` (σ of it) and any name in
``model.stage_names`` (e.g. ``decoder3``, the 16-channel map before the transposed conv, or
``cam`` for the CAM masks) are also accepted.

Views run at their own resolution. Each view's image is resized by the same factor that takes
the identity image to the model size and then run *without* the model's own stretch
(``forward_features(..., resize=False)``: the networks are fully convolutional with global
pools), so that a ×0.75 view really is seen smaller; the identity view is exactly the model's
ordinary prediction.

Algorithm (L∞, as in the reference code): views = identity + K random views, redrawn at every
step; for each view the dense map is warped back to the identity's geometry (rotation borders
masked), flattened and L2-normalised per image; L_equi = −Σ_{i<j} ⟨f_i, f_j⟩ (minimum −K(K+1)/2).
v ← U(−ε_v, ε_v); for t < T: g = ∇_v L_equi(x + v) normalised per image, plus Gaussian noise
annealed with weight (T−1−t)/T (in units of the normalised gradient's RMS by default, or the
paper's absolute N(0, 1) with ``noise="paper"``); v ← clip(v − η·sign(g), ±ε_v), box clip.
The defended mask is the model's mask of x + v.

Defaults (CPU, docs/ALGORITHMS.md): K = 3 views (h-flip, ×0.75 resize with aspect jitter,
±10° rotation), T = 5, ε_v = 6/255 (1.5·ε for ε = 4/255), η = ε_v/4, annealed noise.
Paper: K = 8, T = 20, η = 1.0.

Diagnostics: the per-view back-warped masks, an equivariance-error heatmap (per pixel:
1 − cos over channels between the identity map and the mean of the other views' back-warped
maps when the map has several channels; for a one-channel map |σ(identity) − mean σ(others)|,
since a cosine over one channel only says whether the signs agree), and the purification
trajectory (loss, person share, and IoU with a reference mask when one is given).

Adaptive attackers (both on the undefended model's gradient route):

* BPDA (Athalye et al. 2018): :meth:`SegEquivariancePurification.as_model` runs the purifier
  and passes the gradient through it as the identity (``bpda_identity``). v is optimised with
  detached gradients, so the naive module is the same thing.
* Equivariance-aware (the paper's ``PGD_attack_new_adaptive``, λ = 1): maximise
  seg loss − λ·L_equi(x_adv), so the attack keeps the maps equivariant and the purifier finds
  little to undo: :meth:`SegEquivariancePurification.adaptive_attack`.

Deviations: views are drawn per batch, not per image; hue jitter is a YIQ chroma rotation (see
the views module); the gradient is normalised per image; the feature is the full-resolution
logit map, not a 1/8-resolution class-score map.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from core.runtime import limits
from core.attacks.base import ThreatModel
from core.attacks.dense.segmentation import SegmentationPGD, mask_iou
from core.defenses.base import Defense, DefenseOutput, bpda_identity
from core.defenses.equivariance import equivariance_loss_from_maps, min_equivariance_loss, reversal_step
from core.defenses.equivariance_views import CPU_VIEWS, View, dense_views, sample_views
from core.runtime.progress import ProgressFn, report

NoiseMode = Literal["off", "annealed", "paper"]
DEFAULT_FEATURE = "logits"


# --- dense maps of every view ---------------------------------------------------------------
def _model_hw(model: nn.Module) -> tuple[int, int]:
    s = model.input_size
    return (s, s) if isinstance(s, int) else (int(s[0]), int(s[1]))


def dense_fn(model: nn.Module, image_hw: tuple[int, int], feature: str = DEFAULT_FEATURE):
    """``fn(images) -> (N, C, h, w)``: the chosen dense map of a view's images.

    A view image of size (h', w') is resized by the factor that takes ``image_hw`` to the
    model size, then run at that size without the model's own stretch.
    """
    H, W = image_hw
    h0, w0 = _model_hw(model)
    valid = set(getattr(model, "stage_names", ())) | {"logits", "probs"}
    if feature not in valid:
        raise ValueError(f"unknown feature {feature!r}; choose from {', '.join(sorted(valid))}")

    def fn(z: torch.Tensor) -> torch.Tensor:
        sh, sw = z.shape[-2:]
        size = (max(16, round(sh * h0 / H)), max(16, round(sw * w0 / W)))
        if (sh, sw) == (H, W):
            z = model.resize_input(z) if hasattr(model, "resize_input") else F.interpolate(
                z, size=(h0, w0), mode="bilinear", align_corners=False)
        elif size != (sh, sw):
            z = F.interpolate(z, size=size, mode="bilinear", align_corners=False)
        keep = () if feature in ("logits", "probs") else (feature,)
        logits, kept = model.forward_features(z, keep, resize=False)
        if feature == "logits":
            return logits
        if feature == "probs":
            return torch.sigmoid(logits)
        return kept[feature]

    return fn


@dataclass
class SegViewMaps:
    """Dense maps of all views, back-warped to the identity's geometry."""

    views: list[View]
    back: list[torch.Tensor]  # one (N, C, h, w) per view, identity first
    mask: torch.Tensor  # (1, 1, h, w) valid positions (rotation borders excluded)


def seg_view_maps(model: nn.Module, x: torch.Tensor, views: Sequence[View],
                  feature: str = DEFAULT_FEATURE) -> SegViewMaps:
    """The ``feature`` map of every view of ``x`` (views of one size share a batched pass)."""
    if not views or not views[0].is_identity:
        raise ValueError("the first view must be the identity")
    back, mask = dense_views(dense_fn(model, tuple(x.shape[-2:]), feature), x, views)
    return SegViewMaps(views=list(views), back=back, mask=mask)


def seg_equivariance_loss(model: nn.Module, x: torch.Tensor, views: Sequence[View],
                          feature: str = DEFAULT_FEATURE) -> tuple[torch.Tensor, SegViewMaps]:
    """(L_equi per image (N,), the view maps)."""
    vm = seg_view_maps(model, x, views, feature)
    return equivariance_loss_from_maps(vm.back, vm.mask), vm


def equivariance_error(back: Sequence[torch.Tensor], mask: torch.Tensor) -> torch.Tensor:
    """Per-pixel error (N, h, w) between the identity map and the mean of the other views'
    back-warped maps (see the module docstring); 0 outside the valid mask."""
    ident = back[0]
    others = torch.stack(list(back[1:]), 0).mean(0) if len(back) > 1 else ident
    if ident.shape[1] == 1:
        err = (torch.sigmoid(ident) - torch.sigmoid(others)).abs()[:, 0]
    else:
        err = 1 - F.cosine_similarity(ident, others, dim=1, eps=1e-12)
    return err * mask[0, 0]


@dataclass
class ViewDiagnostics:
    """What the page shows about the views of one image batch."""

    names: list[str]
    view_images: list[torch.Tensor]  # g(x) per view, (N, 3, h', w'), CPU
    masks: list[torch.Tensor]  # per view: σ(back-warped logits), (N, 1, h, w), CPU
    error: torch.Tensor  # (N, h, w) equivariance error of the chosen feature
    valid: torch.Tensor  # (h, w)
    loss: torch.Tensor  # (N,) L_equi of the chosen feature

    def row(self, i: int) -> ViewDiagnostics:
        """The diagnostics of image ``i`` of the batch alone."""
        sl = slice(i, i + 1)
        return ViewDiagnostics(names=list(self.names), view_images=[v[sl] for v in self.view_images],
                               masks=[m[sl] for m in self.masks], error=self.error[sl], valid=self.valid,
                               loss=self.loss[sl])


def view_diagnostics(model: nn.Module, x: torch.Tensor, *, views: Sequence[str] = CPU_VIEWS,
                     feature: str = DEFAULT_FEATURE, seed: int = 0) -> ViewDiagnostics:
    """Back-warped masks of every view, the equivariance-error heatmap and L_equi of ``x``."""
    dev = next((p.device for p in model.parameters()), x.device)
    x = x.detach().to(dev)
    vs = sample_views(views, torch.Generator().manual_seed(int(seed)))
    with torch.no_grad():
        lm = seg_view_maps(model, x, vs, "logits")
        fm = lm if feature == "logits" else seg_view_maps(model, x, vs, feature)
        loss = equivariance_loss_from_maps(fm.back, fm.mask)
        err = equivariance_error(fm.back, fm.mask)
        imgs = [v.apply(x).clamp(0, 1).cpu() for v in vs]
    return ViewDiagnostics(names=[v.name for v in vs], view_images=imgs,
                           masks=[torch.sigmoid(b).cpu() for b in lm.back], error=err.cpu(),
                           valid=fm.mask[0, 0].cpu(), loss=loss.cpu())


# --- purification -----------------------------------------------------------------------------
@dataclass
class SegPurificationStep:
    """One purifier step (values per image) for the trajectory plot."""

    step: int
    loss: torch.Tensor  # (N,) L_equi at the iterate evaluated at this step
    person_share: torch.Tensor  # (N,) share of "person" pixels of the identity view's mask
    iou_reference: torch.Tensor | None  # (N,) IoU with the reference mask, when given
    v_linf: torch.Tensor  # (N,)
    mask: torch.Tensor | None = None  # (N, 1, h, w) uint8, when recorded


@dataclass
class SegPurificationResult:
    x_purified: torch.Tensor
    v: torch.Tensor
    logits: torch.Tensor  # (N, 1, h, w) of x + v
    trajectory: list[SegPurificationStep] = field(default_factory=list)
    loss_min: float = 0.0

    def rows(self, sl: slice) -> SegPurificationResult:
        """The same result for the images ``sl`` of the batch (every per-image tensor sliced)."""
        def cut(t: torch.Tensor | None) -> torch.Tensor | None:
            return None if t is None else t[sl]

        return SegPurificationResult(
            x_purified=self.x_purified[sl], v=self.v[sl], logits=self.logits[sl], loss_min=self.loss_min,
            trajectory=[SegPurificationStep(step=r.step, loss=r.loss[sl], person_share=r.person_share[sl],
                                            iou_reference=cut(r.iou_reference), v_linf=r.v_linf[sl],
                                            mask=cut(r.mask)) for r in self.trajectory])


def _step_record(t: int, loss: torch.Tensor, logits: torch.Tensor, v: torch.Tensor,
                 reference: torch.Tensor | None, record_masks: bool) -> SegPurificationStep:
    pred = logits.detach() > 0
    return SegPurificationStep(
        step=t, loss=loss.detach().float().cpu(), person_share=pred.flatten(1).float().mean(1).cpu(),
        iou_reference=None if reference is None else mask_iou(pred, reference.bool()).cpu(),
        v_linf=v.detach().flatten(1).abs().amax(1).cpu(),
        mask=pred.to(torch.uint8).cpu() if record_masks else None)


def purify_segmentation(model: nn.Module, x: torch.Tensor, *, views: Sequence[str] = CPU_VIEWS,
                        steps: int = 5, eps_v: float = 6 / 255, step_size: float | None = None,
                        feature: str = DEFAULT_FEATURE, noise: NoiseMode = "annealed",
                        noise_scale: float = 1.0, random_init: bool = True, seed: int = 0,
                        reference: torch.Tensor | None = None, record_masks: bool = False,
                        progress: ProgressFn = None, final_loss: bool = True) -> SegPurificationResult:
    """Purify a batch (N, 3, H, W) in [0, 1] (see the module docstring). ``step_size`` defaults
    to ε_v/4; ``reference`` (N, 1, h, w) {0, 1}, e.g. the clean mask, adds an IoU per step;
    ``final_loss=False`` skips evaluating L_equi of the final iterate (one pass of every view)."""
    if noise not in ("off", "annealed", "paper"):
        raise ValueError(f"unknown noise mode {noise!r}")
    if not (0 <= eps_v <= 1) or not (isinstance(steps, int) and 0 <= steps <= limits.MAX_PURIFICATION_STEPS):
        raise ValueError(f"eps_v must be in [0, 1] and steps in 0..{limits.MAX_PURIFICATION_STEPS}")
    if len(views) > limits.MAX_EQUIVARIANCE_VIEWS:
        raise ValueError(f"at most {limits.MAX_EQUIVARIANCE_VIEWS} views")
    eta = eps_v / 4 if step_size is None else float(step_size)
    dev = next((p.device for p in model.parameters()), x.device)
    x = x.detach().to(dev)
    ref = None if reference is None else reference.to(dev)
    view_gen = torch.Generator().manual_seed(int(seed))
    noise_gen = torch.Generator(device=dev).manual_seed(int(seed) + 1)
    if random_init:
        v = (torch.rand(x.shape, generator=noise_gen, device=dev, dtype=x.dtype) * 2 - 1) * eps_v
    else:
        v = torch.zeros_like(x)
    v = (x + v).clamp(0, 1) - x
    traj: list[SegPurificationStep] = []
    for t in range(steps):
        vs = sample_views(views, view_gen)
        v.requires_grad_(True)
        with torch.enable_grad():
            loss, vm = seg_equivariance_loss(model, x + v, vs, feature)
            (g,) = torch.autograd.grad(loss.sum(), v)
        ident = vm.back[0] if feature == "logits" else None
        if ident is None:
            with torch.no_grad():
                ident = model.forward_logits(x + v)
        traj.append(_step_record(t, loss, ident, v, ref, record_masks))
        v = reversal_step(x, v, g, t, steps, eta=eta, eps_v=eps_v, noise=noise, noise_scale=noise_scale,
                          noise_gen=noise_gen)
        report(progress, t + 1, steps + 1, f"purification step {t + 1}/{steps}")
    with torch.no_grad():
        logits = model.forward_logits(x + v)
        if final_loss:
            loss, _ = seg_equivariance_loss(model, x + v, sample_views(views, view_gen), feature)
            traj.append(_step_record(steps, loss, logits, v, ref, record_masks))
    report(progress, steps + 1, steps + 1, "purified")
    return SegPurificationResult(x_purified=(x + v).detach(), v=v.detach(), logits=logits.detach(),
                                 trajectory=traj, loss_min=min_equivariance_loss(len(views)))


class SegEquivariancePurification(Defense):
    """Dense equivariance purification for one-class segmentation models (see module docstring).

    ``defend(x).logits`` is the dense logit map (N, 1, h, w) of the purified image, and
    ``as_model(...)`` a module whose forward returns that map (for :class:`SegmentationPGD`).
    """

    name = "Equivariance purification (segmentation)"
    paper = "Mao, Zhang, Joshi, Yang, Wang, Vondrick: Robust Perception through Equivariance, ICML 2023"
    summary = ("Adds a small 'reversal' pattern to the photo and tunes it so that the masks of "
               "flipped, resized and rotated copies, turned back, agree with each other again. Clean "
               "photos give nearly consistent masks; adversarial noise breaks that consistency. "
               "Nothing is trained.")
    adaptive_route = "bpda"
    adaptive_options: ClassVar[tuple[str, ...]] = ("bpda", "equivariance-aware")

    def __init__(self, model: nn.Module, *, views: Sequence[str] = CPU_VIEWS, steps: int = 5,
                 eps_v: float = 6 / 255, step_size: float | None = None, feature: str = DEFAULT_FEATURE,
                 noise: NoiseMode = "annealed", noise_scale: float = 1.0, random_init: bool = True) -> None:
        super().__init__(model)
        self.views = tuple(views)
        self.steps = int(steps)
        self.eps_v = float(eps_v)
        self.step_size = step_size
        self.feature = feature
        self.noise = noise
        self.noise_scale = float(noise_scale)
        self.random_init = bool(random_init)

    def params(self) -> dict:
        return {"views": list(self.views), "steps": self.steps, "eps_v": self.eps_v,
                "step_size": self.eps_v / 4 if self.step_size is None else self.step_size,
                "feature": self.feature, "noise": self.noise, "noise_scale": self.noise_scale,
                "random_init": self.random_init}

    def purify(self, x: torch.Tensor, *, seed: int = 0, reference: torch.Tensor | None = None,
               record_masks: bool = False, progress: ProgressFn = None,
               final_loss: bool = True) -> SegPurificationResult:
        return purify_segmentation(self.model, x, views=self.views, steps=self.steps, eps_v=self.eps_v,
                                   step_size=self.step_size, feature=self.feature, noise=self.noise,
                                   noise_scale=self.noise_scale, random_init=self.random_init, seed=seed,
                                   reference=reference, record_masks=record_masks, progress=progress,
                                   final_loss=final_loss)

    def _defend(self, x: torch.Tensor, *, seed: int, progress: ProgressFn) -> DefenseOutput:
        res = self.purify(x, seed=seed, progress=progress)
        return DefenseOutput(logits=res.logits, x_classified=res.x_purified,
                             diagnostics={"trajectory": res.trajectory, "v": res.v.cpu(),
                                          "loss_min": res.loss_min, "params": self.params()})

    def _adaptive_forward(self, x: torch.Tensor, seed: int) -> torch.Tensor:
        res = self.purify(x.detach(), seed=seed, final_loss=False)
        return self.model.forward_logits(bpda_identity(x, res.x_purified))

    # v is optimised with detached gradients: autograd through the defense as run already has
    # the identity Jacobian, so the naive module equals BPDA-identity.
    _naive_forward = _adaptive_forward

    def adaptive_attack(self, threat: ThreatModel | None = None, lam: float = 1.0,
                        seed: int = 0) -> SegmentationPGD:
        """The paper's adaptive attacker: segmentation PGD on the undefended model ascending
        seg loss − λ·L_equi, with fresh views (seeded) at every step."""
        view_gen = torch.Generator().manual_seed(int(seed) + 7)
        model, views, feature = self.model, self.views, self.feature

        def regularizer(x_it: torch.Tensor) -> torch.Tensor:
            loss, _ = seg_equivariance_loss(model, x_it, sample_views(views, view_gen), feature)
            return -lam * loss

        return SegmentationPGD(threat, regularizer=regularizer,
                               regularizer_name=f"−{lam:g}·L_equi ({feature}, views {', '.join(views)})")


def defend_and_compare(defense: SegEquivariancePurification, x_clean: torch.Tensor, x_adv: torch.Tensor,
                       *, seed: int = 0, record_masks: bool = False, progress: ProgressFn = None
                       ) -> dict[str, Any]:
    """Purify ``x_adv`` with the clean mask as the reference; returns the purification result,
    the clean / attacked / defended probabilities and IoUs with the clean mask (for the page)."""
    t0 = time.perf_counter()
    model = defense.model
    dev = next((p.device for p in model.parameters()), x_clean.device)
    with torch.no_grad():
        clean_prob = torch.sigmoid(model.forward_logits(x_clean.to(dev)))
        adv_prob = torch.sigmoid(model.forward_logits(x_adv.to(dev)))
    clean_mask = clean_prob > 0.5
    res = defense.purify(x_adv, seed=seed, reference=clean_mask.float(), record_masks=record_masks,
                         progress=progress)
    def_prob = torch.sigmoid(res.logits)
    return {"result": res, "clean_prob": clean_prob.cpu(), "adv_prob": adv_prob.cpu(),
            "defended_prob": def_prob.cpu(),
            "iou_attacked": mask_iou(adv_prob > 0.5, clean_mask).cpu(),
            "iou_defended": mask_iou(def_prob > 0.5, clean_mask).cpu(),
            "elapsed_s": time.perf_counter() - t0}


# --- one experiment, as the page runs it ----------------------------------------------------------
Adaptive = Literal["none", "bpda", "equivariance-aware"]


@dataclass
class SegExperiment:
    """Clean, attacked and (optionally) defended masks of one photo, with every diagnostic."""

    attack: Any  # core.attacks.dense.segmentation.SegAttackResult
    adaptive: str
    defended_prob: torch.Tensor | None = None  # (N, 1, h, w)
    purification: SegPurificationResult | None = None
    clean_defended_prob: torch.Tensor | None = None  # the defense applied to the clean photo
    diagnostics: dict[str, ViewDiagnostics] = field(default_factory=dict)  # clean / attacked / defended
    elapsed_s: float = 0.0

    @property
    def iou_defended(self) -> torch.Tensor | None:
        if self.defended_prob is None:
            return None
        return mask_iou(self.defended_prob > 0.5, self.attack.clean_mask)

    @property
    def iou_clean_defended(self) -> torch.Tensor | None:
        if self.clean_defended_prob is None:
            return None
        return mask_iou(self.clean_defended_prob > 0.5, self.attack.clean_mask)

    @property
    def target_reached_defended(self) -> torch.Tensor | None:
        if self.defended_prob is None or self.attack.target is None:
            return None
        return ((self.defended_prob > 0.5) == self.attack.target.bool()).flatten(1).float().mean(1)


def _phase(progress: ProgressFn, lo: float, hi: float, label: str) -> ProgressFn:
    """A progress callback that maps a sub-task's (done, total) into [lo, hi] of 1000."""
    if progress is None:
        return None

    def cb(done: int, total: int, message: str = "") -> None:
        frac = lo + (hi - lo) * done / max(total, 1)
        progress(int(round(1000 * frac)), 1000, f"{label}: {message}")

    return cb


def run_experiment(model: nn.Module, x: torch.Tensor, target: torch.Tensor | None, threat: ThreatModel,
                   defense: SegEquivariancePurification | None = None, *, adaptive: Adaptive = "none",
                   lam: float = 1.0, seed: int = 0, diagnostics: bool = True, check_clean: bool = True,
                   progress: ProgressFn = None) -> SegExperiment:
    """Attack ``x`` (untargeted when ``target`` is None), then purify the result when a defense
    is given. ``adaptive``: "none" (the attacker ignores the defense), "bpda" (PGD through the
    purifier with an identity backward) or "equivariance-aware" (seg loss − λ·L_equi).
    ``check_clean`` also purifies the clean photo (does the defense hurt clean masks?)."""
    t0 = time.perf_counter()
    if adaptive not in ("none", "bpda", "equivariance-aware"):
        raise ValueError(f"unknown adaptive mode {adaptive!r}")
    if adaptive != "none" and defense is None:
        raise ValueError("an adaptive attack needs a defense")
    dev = next((p.device for p in model.parameters()), x.device)
    x = x.detach().to(dev)
    with torch.no_grad():
        clean_prob = torch.sigmoid(model.forward_logits(x))
    has_def = defense is not None
    a_hi = 0.55 if has_def else 0.9
    p_attack = _phase(progress, 0.0, a_hi, "attack")
    if adaptive == "equivariance-aware":
        attack = defense.adaptive_attack(threat, lam=lam, seed=seed)
        res = attack.run(model, x, target, seed=seed, progress=p_attack, record_masks=True)
    elif adaptive == "bpda":
        res = SegmentationPGD(threat).run(defense.as_model(adaptive=True, seed=seed), x, target, seed=seed,
                                          progress=p_attack, record_masks=True, clean_prob=clean_prob)
        with torch.no_grad():  # report the undefended model's view of the adversarial image
            res.adv_prob = torch.sigmoid(model.forward_logits(res.x_adv.to(dev))).cpu()
        res.attack = "Segmentation PGD through the purifier (BPDA)"
    else:
        res = SegmentationPGD(threat).run(model, x, target, seed=seed, progress=p_attack, record_masks=True)
    out = SegExperiment(attack=res, adaptive=adaptive)
    if has_def:
        # With check_clean the attacked and the clean photo are purified as one batch of two: the
        # same steps and views for both, each image on its own (per-image losses, eval-mode
        # model), in one set of passes instead of two (about 1.5x faster on the CPU).
        xs = torch.cat([res.x_adv.to(dev), x]) if check_clean else res.x_adv
        ref = res.clean_mask.float()
        both = defense.purify(xs, seed=seed, reference=torch.cat([ref] * xs.shape[0]), record_masks=True,
                              progress=_phase(progress, a_hi, 0.9, "purify" + (" (attacked and clean)"
                                                                               if check_clean else "")))
        out.purification = pur = both.rows(slice(0, 1)) if check_clean else both
        out.defended_prob = torch.sigmoid(pur.logits).cpu()
        if check_clean:
            out.clean_defended_prob = torch.sigmoid(both.logits[1:]).cpu()
    if diagnostics:
        add_details(out, model, x, defense, seed=seed, check_clean=False,
                    progress=None if progress is None else lambda d, t, m="": progress(900 + 100 * d // t, 1000, m))
    out.elapsed_s = time.perf_counter() - t0
    return out


def add_details(exp: SegExperiment, model: nn.Module, x: torch.Tensor,
                defense: SegEquivariancePurification | None, *, seed: int = 0, check_clean: bool = True,
                progress: ProgressFn = None) -> SegExperiment:
    """Fill in, in place, what a page shows after the result of :func:`run_experiment` (called
    with ``check_clean=False, diagnostics=False``): the defense applied to the clean photo (when
    ``check_clean`` and a defense is given) and the views' diagnostics of the clean, attacked and
    defended images, the three as one batch (the same views for each, as before: one seed).
    The clean photo is purified on its own here, so its noise draws differ from those of the
    batch of two that ``run_experiment(check_clean=True)`` uses; both are the same procedure."""
    dev = next((p.device for p in model.parameters()), x.device)
    x = x.detach().to(dev)
    has_def = defense is not None
    n_parts = 1 + int(check_clean and has_def)
    if check_clean and has_def and exp.clean_defended_prob is None:
        pur = defense.purify(x, seed=seed, final_loss=False,
                             progress=_phase(progress, 0.0, 1 / n_parts, "purify (clean)"))
        exp.clean_defended_prob = torch.sigmoid(pur.logits).cpu()
    views = defense.views if has_def else CPU_VIEWS
    feature = defense.feature if has_def else DEFAULT_FEATURE
    imgs = {"clean": x, "attacked": exp.attack.x_adv.to(dev)}
    if has_def and exp.purification is not None:
        imgs["defended"] = exp.purification.x_purified.to(dev)
    both = view_diagnostics(model, torch.cat(list(imgs.values())), views=views, feature=feature, seed=seed)
    exp.diagnostics = {k: both.row(i) for i, k in enumerate(imgs)}
    report(progress, 1, 1, "views")
    return exp
