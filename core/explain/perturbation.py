"""Blur-perturbation saliency (Greydanus, Koul, Dodge, Fern, "Visualizing and Understanding
Atari Agents", ICML 2018; ``greydanus/visualize_atari: saliency.py``), the interpretable map
that J-SIGR asks the model's gradients to imitate (:mod:`core.train.jsigr`).

For each centre c of a regular grid:

* a soft mask M_c(p) = exp(−|p − c|² / (2 r²)), cut to 0 beyond 4 r and scaled to max 1.
  Greydanus blurs a one-pixel disc with a Gaussian of σ = r (``scipy.ndimage.gaussian_filter``,
  whose kernel is cut at 4σ); that is this Gaussian up to discretisation, so it is written
  in closed form here;
* the perturbed image x' = x ⊙ (1 − M_c) + blur_σ(x) ⊙ M_c, with σ_blur = 3 px (as Greydanus);
* the score S(c) = ½ ‖f(x) − f(x')‖² over the whole output vector f. Greydanus scores the
  policy *logits* (and the value); the default here is the logits too (``output="logits"``).
  ``output="softmax"`` scores the probabilities instead, which ignores changes of the logits
  that do not change the prediction's confidence (every logit shifted alike, or changes among
  classes of negligible probability) and saturates for very confident predictions;
* S is bilinearly upsampled to the image size.

Defaults at 224 px: grid stride d = 28 (an 8 × 8 grid, 64 forward passes, batched), mask
r = 10 px, σ_blur = 3 px. Greydanus used d = 5, r = 5 on 80 × 80 Atari frames.

Deviations: the grid is gh = round(H / d) by gw = round(W / d) cells whose centres sit where
``F.interpolate(..., mode="bilinear", align_corners=False)`` places them, (k + ½)·H/gh − ½, so the
upsampled map peaks exactly at the grid centres (Greydanus starts the grid at pixel 0). No final
rescaling (Greydanus multiplies by max/max after resizing, which is a no-op for bilinear).
The blur uses reflect padding (``torchvision``'s ``gaussian_blur``); scipy's default is reflect too.
"""
from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from core.runtime import limits
from core.explain.common import as_float_input, blur, check_range, default_batch
from core.runtime.progress import ProgressFn, report

Output = Literal["logits", "softmax"]

GRID_STRIDE = 28
MASK_RADIUS = 10.0
BLUR_SIGMA = 3.0
TRUNCATE = 4.0


def grid_centres(size: int, stride: float) -> torch.Tensor:
    """Centres (pixel coordinates) of round(size / stride) cells, as bilinear upsampling of
    the cell grid to ``size`` pixels places them."""
    n = max(1, round(size / stride))
    return (torch.arange(n, dtype=torch.float32) + 0.5) * size / n - 0.5


def soft_masks(h: int, w: int, stride: float = GRID_STRIDE, radius: float = MASK_RADIUS,
               truncate: float = TRUNCATE, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """One soft Gaussian mask per grid centre, shape (gh·gw, H, W), each with max 1 and exactly
    0 beyond ``truncate · radius`` pixels from its centre."""
    if radius <= 0:
        raise ValueError("radius must be positive")
    cy, cx = grid_centres(h, stride).to(dtype), grid_centres(w, stride).to(dtype)
    ys = torch.arange(h, dtype=dtype)
    xs = torch.arange(w, dtype=dtype)
    dy2 = (ys[None, :] - cy[:, None]) ** 2  # (gh, H)
    dx2 = (xs[None, :] - cx[:, None]) ** 2  # (gw, W)
    d2 = dy2[:, None, :, None] + dx2[None, :, None, :]  # (gh, gw, H, W)
    m = torch.exp(-d2 / (2 * radius ** 2))
    m = torch.where(d2 <= (truncate * radius) ** 2, m, torch.zeros_like(m))
    m = m / m.amax(dim=(2, 3), keepdim=True).clamp_min(1e-12)
    return m.reshape(-1, h, w)


def _output(model: nn.Module, x: torch.Tensor, output: Output) -> torch.Tensor:
    z = model(x)
    if z.dtype not in (torch.float32, torch.float64):
        z = z.float()
    if output == "softmax":
        return z.softmax(1)
    if output != "logits":
        raise ValueError(f"output must be 'logits' or 'softmax', not {output!r}")
    return z


@torch.no_grad()
def perturbation_scores(model: nn.Module, x: torch.Tensor, *, stride: float = GRID_STRIDE,
                        radius: float = MASK_RADIUS, blur_sigma: float = BLUR_SIGMA,
                        output: Output = "logits", batch_size: int | None = None,
                        progress: ProgressFn = None) -> torch.Tensor:
    """The grid of scores S(c) = ½‖f(x) − f(x')‖², shape (N, gh, gw), on the CPU."""
    if x.dim() != 4:
        raise ValueError(f"images must have shape (N, C, H, W), got {tuple(x.shape)}")
    dev = next((p.device for p in model.parameters()), x.device)
    x = as_float_input(x, dev)
    n, _, h, w = x.shape
    check_range("perturbation grid cells", len(grid_centres(h, stride)) * len(grid_centres(w, stride)), 1,
                limits.MAX_PERTURBATION_CELLS)
    masks = soft_masks(h, w, stride, radius, dtype=x.dtype).to(dev)  # (K, H, W)
    gh, gw = len(grid_centres(h, stride)), len(grid_centres(w, stride))
    k = masks.shape[0]
    batch_size = batch_size or default_batch(dev)
    scores = torch.empty(n, k, dtype=torch.float64)
    total, done = n * math.ceil(k / batch_size), 0
    for i in range(n):
        xi = x[i:i + 1]
        f0 = _output(model, xi, output)
        xb = blur(xi, blur_sigma)
        for s in range(0, k, batch_size):
            m = masks[s:s + batch_size, None]  # (B, 1, H, W)
            xp = xi * (1 - m) + xb * m
            fp = _output(model, xp, output)
            scores[i, s:s + m.shape[0]] = (0.5 * (fp - f0).pow(2).sum(1)).cpu()
            done += 1
            report(progress, done, total, f"perturbation saliency {done}/{total}")
    return scores.reshape(n, gh, gw)


def perturbation_saliency(model: nn.Module, x: torch.Tensor, *, stride: float = GRID_STRIDE,
                          radius: float = MASK_RADIUS, blur_sigma: float = BLUR_SIGMA,
                          output: Output = "logits", batch_size: int | None = None,
                          progress: ProgressFn = None) -> torch.Tensor:
    """Greydanus blur-perturbation saliency upsampled to the image, shape (N, H, W), CPU."""
    s = perturbation_scores(model, x, stride=stride, radius=radius, blur_sigma=blur_sigma,
                            output=output, batch_size=batch_size, progress=progress)
    return F.interpolate(s[:, None], size=tuple(x.shape[-2:]), mode="bilinear", align_corners=False)[:, 0]
