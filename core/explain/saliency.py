"""Saliency maps through captum, one registry for every map the app offers, and map agreement.

Methods (captum 0.9 classes; each returns one (N, H, W) map per image):

* ``saliency`` - Simonyan, Vedaldi, Zisserman, "Deep Inside Convolutional Networks", 2014:
  ``captum.attr.Saliency(abs=True)``; the map is the channel max of |∂z_t/∂x| (Simonyan et
  al.'s reduction). This is the vanilla input gradient that SIGR regularises. Cost 1 P.
* ``input_x_gradient`` - Shrikumar et al. 2016 ("Not just a black box"): x ⊙ ∂z_t/∂x,
  ``captum.attr.InputXGradient``; signed, summed over the colour channels. Cost 1 P.
* ``integrated_gradients`` - Sundararajan, Taly, Yan, ICML 2017:
  ``captum.attr.IntegratedGradients``, Gauss-Legendre rule with ``n_steps`` = 16 (the paper
  and captum use 50; 16 keeps it under a second on the CPU), baseline black (zeros) or a
  Gaussian-blurred copy of the image (σ = 8 px; Sturmfels, Lundberg, Lee, Distill 2020,
  "Visualizing the Impact of Feature Attribution Baselines"). Signed, summed over channels, so
  the map's sum approximates z_t(x) − z_t(baseline) (completeness). Cost n_steps P.
* ``smoothgrad`` - Smilkov et al. 2017: ``captum.attr.NoiseTunnel(Saliency)`` with
  ``nt_type="smoothgrad"``, 16 samples, σ = 0.15 in [0, 1] pixel units (paper: 10-20 % of the
  input range); the noisy inputs are not clipped to [0, 1] (as in the paper). Channel max of
  the averaged |gradient|. Seeded: captum draws the noise from torch's global generator, so
  the draw is wrapped in ``torch.random.fork_rng`` with ``manual_seed(seed)``, under a
  process-wide lock (``GLOBAL_RNG_LOCK``) so that concurrent sessions (threads of one server)
  cannot reseed the generator between another call's seed and draw; nothing else in ``core``
  draws from the global generator. Cost nt_samples P.
* ``occlusion`` - Zeiler & Fergus, ECCV 2014: ``captum.attr.Occlusion`` with a 32 px window,
  stride 16 (169 forward passes at 224 px), baseline black or blurred. Signed change
  z_t(x) − z_t(x occluded), averaged over the windows that cover each pixel.
* ``gradcam`` - Selvaraju et al., ICCV 2017: ``captum.attr.LayerGradCam`` on a named stage
  (default ``head``, the last conv map before pooling), with the paper's ReLU
  (``relu_attributions=True``; captum's default is False), bilinearly upsampled to the image.
  Cost 1 P.
* ``perturbation`` - Greydanus et al. 2018 blur-perturbation saliency, see
  :mod:`core.explain.perturbation`.
* ``jacobian`` - per-pixel Jacobian norm over the top-5 classes, see
  :mod:`core.explain.jacobian`.

Not offered: captum's ``GuidedBackprop``, ``Deconvolution`` and ``GuidedGradCam``. They work by
overriding the backward pass of ``nn.ReLU`` *modules* with hooks; EfficientNet-Lite calls the
functional ``F.relu6``, which has no module to hook, so captum would silently return the plain
gradient (or plain Grad-CAM × gradient) under a "guided" label. Swapping the activation for a
module on a copy of the model would work but would also change what is being explained.

Grad-CAM needs a layer *module* for captum, while our stage outputs come from
``forward_features``. :class:`StageTap` is a small wrapper that owns an ``nn.Identity`` and
passes the chosen stage's tensor through it; captum's temporary hooks go on that Identity, never
on the shared model.

Agreement between two maps: Spearman's rank correlation of the pixel values
(``scipy.stats.spearmanr``) and the intersection-over-union of their top-k % pixels.
"""
from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Any, Literal
from collections.abc import Callable

import numpy as np
import torch
from captum.attr import (InputXGradient, IntegratedGradients, LayerAttribution, LayerGradCam,
                         NoiseTunnel, Occlusion, Saliency)
from scipy.stats import spearmanr
from torch import nn

from core.runtime import limits
from core.explain.common import as_float_input, blur, check_range, default_batch
from core.explain.jacobian import jacobian_norm_map
from core.explain.perturbation import perturbation_saliency
from core.models.fast import fast_view
from core.runtime.progress import ProgressFn, report

Baseline = Literal["black", "blur"]

IG_STEPS = 16
IG_BLUR_SIGMA = 8.0
SMOOTHGRAD_SAMPLES = 16
SMOOTHGRAD_STD = 0.15
OCCLUSION_WINDOW = 32
OCCLUSION_STRIDE = 16
GRADCAM_STAGE = "head"
# Held while a computation seeds and draws from torch's global generator (captum's NoiseTunnel
# has no generator argument); without it, concurrent sessions changed each other's noise.
GLOBAL_RNG_LOCK = threading.Lock()


# --------------------------------------------------------------------------- helpers
def _device(model: nn.Module, x: torch.Tensor) -> torch.device:
    return next((p.device for p in model.parameters()), x.device)


def _targets(target: int | torch.Tensor | list[int], n: int, dev: torch.device) -> torch.Tensor:
    t = torch.as_tensor(target, dtype=torch.long, device=dev).reshape(-1)
    if t.numel() == 1:
        t = t.expand(n)
    if t.shape != (n,):
        raise ValueError(f"target must be one class or one class per image ({n}), got {tuple(t.shape)}")
    return t.contiguous()


def make_baseline(x: torch.Tensor, kind: Baseline, blur_sigma: float = IG_BLUR_SIGMA) -> torch.Tensor:
    """The reference input of IG / occlusion: zeros ("black") or a blurred copy ("blur")."""
    if kind == "black":
        return torch.zeros_like(x)
    if kind == "blur":
        return blur(x, blur_sigma)
    raise ValueError(f"baseline must be 'black' or 'blur', not {kind!r}")


def _prep(model: nn.Module, x: torch.Tensor, target, grad: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    if model.training:
        raise RuntimeError("saliency needs a model in eval mode")
    if x.dim() != 4:
        raise ValueError(f"images must have shape (N, C, H, W), got {tuple(x.shape)}")
    dev = _device(model, x)
    x = as_float_input(x, dev).clone().requires_grad_(grad)
    return x, _targets(target, x.shape[0], dev)


# --------------------------------------------------------------------------- captum methods
def saliency_map(model: nn.Module, x: torch.Tensor, target) -> torch.Tensor:
    """max_c |∂z_t/∂x_c| per pixel, (N, H, W)."""
    x, t = _prep(model, x, target)
    with torch.enable_grad():
        a = Saliency(model).attribute(x, target=t, abs=True)
    return a.amax(1).detach()


def input_x_gradient_map(model: nn.Module, x: torch.Tensor, target) -> torch.Tensor:
    """Σ_c x_c ∂z_t/∂x_c per pixel (signed), (N, H, W)."""
    x, t = _prep(model, x, target)
    with torch.enable_grad():
        a = InputXGradient(model).attribute(x, target=t)
    return a.sum(1).detach()


def integrated_gradients_map(model: nn.Module, x: torch.Tensor, target, *, n_steps: int = IG_STEPS,
                             baseline: Baseline = "black", blur_sigma: float = IG_BLUR_SIGMA,
                             internal_batch_size: int | None = None, return_delta: bool = False
                             ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Integrated gradients summed over channels (signed), (N, H, W).

    With ``return_delta`` also captum's completeness error Σ attr − (z_t(x) − z_t(b)) per image.
    """
    check_range("n_steps", n_steps, 1, limits.MAX_IG_STEPS)
    x, t = _prep(model, x, target)
    b = make_baseline(x.detach(), baseline, blur_sigma)
    ibs = internal_batch_size or default_batch(x.device, cuda=int(n_steps), cpu=8)
    with torch.enable_grad():
        out = IntegratedGradients(model).attribute(
            x, baselines=b, target=t, n_steps=int(n_steps), internal_batch_size=ibs,
            return_convergence_delta=return_delta)
    if return_delta:
        return out[0].sum(1).detach(), out[1].detach()
    return out.sum(1).detach()


def smoothgrad_map(model: nn.Module, x: torch.Tensor, target, *, nt_samples: int = SMOOTHGRAD_SAMPLES,
                   stdev: float = SMOOTHGRAD_STD, seed: int = 0, batch_size: int | None = None) -> torch.Tensor:
    """SmoothGrad of |gradient|, channel max, (N, H, W); seeded (see module docstring)."""
    check_range("nt_samples", nt_samples, 1, limits.MAX_SMOOTHGRAD_SAMPLES)
    x, t = _prep(model, x, target)
    devices = [x.device] if x.device.type == "cuda" else []
    with GLOBAL_RNG_LOCK, torch.random.fork_rng(devices=devices), torch.enable_grad():
        torch.manual_seed(int(seed))
        a = NoiseTunnel(Saliency(model)).attribute(
            x, nt_type="smoothgrad", nt_samples=int(nt_samples),
            nt_samples_batch_size=batch_size or default_batch(x.device),
            stdevs=float(stdev), target=t, abs=True)
    return a.amax(1).detach()


def occlusion_map(model: nn.Module, x: torch.Tensor, target, *, window: int = OCCLUSION_WINDOW,
                  stride: int = OCCLUSION_STRIDE, baseline: Baseline = "black",
                  blur_sigma: float = IG_BLUR_SIGMA, batch_size: int | None = None) -> torch.Tensor:
    """Signed drop of the target logit when a window is replaced by the baseline, (N, H, W)."""
    x, t = _prep(model, x, target, grad=False)
    c, h, w = x.shape[1:]
    check_range("window", window, 1, min(h, w))
    check_range("stride", stride, 1, min(h, w))
    positions = ((h - window) // stride + 1) * ((w - window) // stride + 1)
    check_range("occlusion window positions", positions, 1, limits.MAX_OCCLUSION_WINDOWS)
    b = make_baseline(x, baseline, blur_sigma)
    with torch.no_grad():
        a = Occlusion(model).attribute(x, sliding_window_shapes=(c, window, window), strides=(c, stride, stride),
                                       baselines=b, target=t,
                                       perturbations_per_eval=batch_size or default_batch(x.device))
    # Every channel of a pixel gets the same value (the window spans all channels).
    return a.mean(1).detach()


class StageTap(nn.Module):
    """Classifier whose ``tap`` (an ``nn.Identity``) sees the output of one named stage.

    ``forward`` runs the shared model's ``forward_features`` and ``forward_head``; the stage's
    tensor passes through ``self.tap`` so that layer methods (captum's LayerGradCam) can hook
    this wrapper's own Identity instead of the shared model. For the last map (``head``) the
    tap's output feeds the head; for earlier stages the tap's output is discarded and captum
    differentiates with respect to the tensor it saw, which is the stage's output in the graph.
    """

    def __init__(self, model: nn.Module, stage: str) -> None:
        super().__init__()
        if stage not in model.stage_names:
            raise ValueError(f"unknown stage {stage!r}; stages: {', '.join(model.stage_names)}")
        self.model = model
        self.stage = stage
        self.tap = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        keep = () if self.stage == "head" else (self.stage,)
        fmap, feats = self.model.forward_features(x, keep)
        if self.stage == "head":
            fmap = self.tap(fmap)
        else:
            self.tap(feats[self.stage])
        return self.model.forward_head(fmap)


def gradcam_map(model: nn.Module, x: torch.Tensor, target, *, stage: str = GRADCAM_STAGE,
                upsample: bool = True) -> torch.Tensor:
    """Grad-CAM on ``stage``: ReLU(Σ_c mean_hw(∂z_t/∂A_c) · A_c), bilinearly upsampled to the
    image when ``upsample`` (else the stage's own h × w). (N, H, W)."""
    x, t = _prep(model, x, target)
    wrapper = StageTap(model, stage)
    with torch.enable_grad():
        a = LayerGradCam(wrapper, wrapper.tap).attribute(x, target=t, relu_attributions=True)
    if upsample:
        a = LayerAttribution.interpolate(a.detach(), tuple(x.shape[-2:]), interpolate_mode="bilinear")
    return a[:, 0].detach()


# --------------------------------------------------------------------------- registry
@dataclass(frozen=True)
class MethodInfo:
    """One saliency method as the app lists it."""

    key: str
    label: str
    signed: bool  # signed maps are shown on a diverging scale centred on 0
    cost: str  # in units of P = one forward+backward pass, F = one forward pass
    summary: str  # one sentence for a newcomer
    fn: Callable[..., torch.Tensor]


def _perturbation(model, x, target, **kw):
    return perturbation_saliency(model, x, **kw)


def _jacobian(model, x, target, **kw):
    return jacobian_norm_map(model, x, **kw)


METHODS: dict[str, MethodInfo] = {m.key: m for m in [
    MethodInfo("saliency", "Gradient (Saliency)", False, "1 P",
               "How much a tiny change of each pixel would move the class score (largest over colours).",
               saliency_map),
    MethodInfo("input_x_gradient", "Input × gradient", True, "1 P",
               "The gradient weighted by the pixel value: a first-order guess of each pixel's contribution.",
               input_x_gradient_map),
    MethodInfo("integrated_gradients", "Integrated gradients", True, f"{IG_STEPS} P",
               "Gradients averaged along a path from a reference image (black or blurred) to the photo; "
               "the map sums to the score difference.",
               integrated_gradients_map),
    MethodInfo("smoothgrad", "SmoothGrad", False, f"{SMOOTHGRAD_SAMPLES} P",
               "The gradient map averaged over noisy copies of the image, which removes much of its speckle.",
               smoothgrad_map),
    MethodInfo("occlusion", "Occlusion", True, "169 F at 224 px",
               "How much the class score drops when a 32 px square is blacked out (or blurred), square by square.",
               occlusion_map),
    MethodInfo("gradcam", "Grad-CAM", False, "1 P",
               "Which regions of the last feature map the class score depends on, blown up to the image size.",
               gradcam_map),
    MethodInfo("perturbation", "Blur perturbation (Greydanus)", False, "64 F at 224 px",
               "How much the whole output changes when a soft spot of the image is blurred; "
               "the map J-SIGR asks gradients to imitate.",
               _perturbation),
    MethodInfo("jacobian", "Jacobian norm (top-5)", False, "5 P",
               "How strongly each pixel moves the five highest class scores together (squared gradients summed).",
               _jacobian),
]}


def compute_map(model: nn.Module, x: torch.Tensor, method: str, target, *, progress: ProgressFn = None,
                **params: Any) -> torch.Tensor:
    """The (N, H, W) map of ``method`` (a key of :data:`METHODS`) for class ``target`` (one
    class or one per image; ignored by the perturbation and Jacobian maps, which look at the
    whole output), on the CPU. Runs on the model's fused fast view when it has one."""
    try:
        info = METHODS[method]
    except KeyError:
        raise KeyError(f"unknown saliency method {method!r}; known: {', '.join(METHODS)}") from None
    report(progress, 0, 1, info.label)
    # The fused (BN folded, channels_last) copy where the model has one: the same function to
    # float rounding, 1.5-2x faster passes (core/models/fast.py); other models are used as given.
    out = info.fn(fast_view(model), x, target, **params)
    report(progress, 1, 1, info.label)
    return out.detach().float().cpu()


# --------------------------------------------------------------------------- agreement
def spearman(a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray) -> float:
    """Spearman's rank correlation between the pixel values of two maps of the same shape
    (nan when a map is constant)."""
    a = np.asarray(a.detach().cpu() if isinstance(a, torch.Tensor) else a, dtype=np.float64).ravel()
    b = np.asarray(b.detach().cpu() if isinstance(b, torch.Tensor) else b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"maps differ in size: {a.shape} vs {b.shape}")
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(spearmanr(a, b).statistic)


def top_fraction_mask(m: torch.Tensor | np.ndarray, frac: float) -> np.ndarray:
    """Boolean mask of the ``frac`` (0-1] largest pixels (exactly ceil(frac·n) pixels; ties
    broken by position, stably)."""
    if not 0 < frac <= 1:
        raise ValueError("frac must be in (0, 1]")
    v = np.asarray(m.detach().cpu() if isinstance(m, torch.Tensor) else m, dtype=np.float64).ravel()
    k = max(1, math.ceil(frac * v.size))
    idx = np.argsort(-v, kind="stable")[:k]
    mask = np.zeros(v.size, dtype=bool)
    mask[idx] = True
    return mask.reshape(np.shape(m))


def topk_iou(a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray, frac: float = 0.1) -> float:
    """Intersection over union of the top-``frac`` pixels of two maps."""
    ma, mb = top_fraction_mask(a, frac), top_fraction_mask(b, frac)
    if ma.shape != mb.shape:
        raise ValueError(f"maps differ in size: {ma.shape} vs {mb.shape}")
    return float((ma & mb).sum() / (ma | mb).sum())


def magnitude(m: torch.Tensor, signed: bool) -> torch.Tensor:
    """What the agreement metrics compare: |m| for signed maps (importance regardless of sign),
    m itself for maps that are already magnitudes."""
    return m.abs() if signed else m


def agreement(a: torch.Tensor, b: torch.Tensor, signed: bool, frac: float = 0.1) -> dict[str, float]:
    """Spearman ρ and top-``frac`` IoU of two (H, W) maps, compared as magnitudes."""
    a, b = magnitude(a, signed), magnitude(b, signed)
    return {"spearman": spearman(a, b), "topk_iou": topk_iou(a, b, frac)}
