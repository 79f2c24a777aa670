"""Classic input-transformation defenses, kept as baselines that an adaptive attacker breaks.

* **JPEG re-encoding** (Dziugaite, Ghahramani, Roy 2016, *A study of the effect of JPG
  compression on adversarial images*; Guo, Rana, Cissé, van der Maaten, *Countering Adversarial
  Images using Input Transformations*, ICLR 2018): encode each image as JPEG with Pillow at
  ``quality`` (default 75, as in Guo et al.) and decode it.
* **Bit-depth reduction** (Xu, Evans, Qi, *Feature Squeezing*, NDSS 2018): round every channel
  to ``bits`` bits, x ← round(x·(2^b − 1))/(2^b − 1) (default 5 bits, the paper's ImageNet
  setting).
* **Median filter** (Feature Squeezing's "median smoothing"): the median of each k×k
  neighbourhood per channel, reflect padding (default k = 3; only odd k, so the window is
  centred; the paper also uses 2×2 on ImageNet).

All three break gradients: JPEG and bit-depth are piecewise constant (zero gradient almost
everywhere; through Pillow autograd has no graph at all, so the naive module passes a zero
gradient explicitly), and the median passes gradient to one pixel per window. Athalye, Carlini,
Wagner (ICML 2018) showed that BPDA with the identity on the backward pass defeats them:
adaptive route "bpda".
"""
from __future__ import annotations

import io

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from core.runtime import limits
from core.defenses.base import Defense, DefenseOutput, bpda_identity
from core.defenses.common import fast
from core.runtime.progress import ProgressFn


def jpeg(x: torch.Tensor, quality: int = 75) -> torch.Tensor:
    """JPEG round trip of a batch in [0, 1] (Pillow, 4:2:0 chroma subsampling as Pillow's
    default), returned as float in [0, 1] on the input's device; no gradient."""
    if not 1 <= int(quality) <= 100:
        raise ValueError("quality must be in 1..100")
    arr = (x.detach().clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    out = []
    for a in arr:
        buf = io.BytesIO()
        Image.fromarray(a, "RGB").save(buf, format="JPEG", quality=int(quality))
        buf.seek(0)
        out.append(np.asarray(Image.open(buf).convert("RGB"), dtype=np.uint8).copy())
    t = torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).to(x.device, torch.float32) / 255
    return t.to(x.dtype)


def bit_depth(x: torch.Tensor, bits: int = 5) -> torch.Tensor:
    """Round each channel to ``bits`` bits (autograd gives a zero gradient)."""
    if not 1 <= int(bits) <= 8:
        raise ValueError("bits must be in 1..8")
    levels = 2 ** int(bits) - 1
    return torch.round(x.clamp(0, 1) * levels) / levels


def median_filter(x: torch.Tensor, kernel: int = 3) -> torch.Tensor:
    """k×k median per channel with reflect padding (k odd)."""
    k = int(kernel)
    if k < 1 or k % 2 == 0 or k > limits.MAX_MEDIAN_KERNEL:
        raise ValueError(f"kernel must be odd and in 1..{limits.MAX_MEDIAN_KERNEL}")
    if k == 1:
        return x
    p = k // 2
    xp = F.pad(x, (p, p, p, p), mode="reflect")
    u = xp.unfold(2, k, 1).unfold(3, k, 1)  # (N, C, H, W, k, k)
    return u.reshape(*u.shape[:4], k * k).median(dim=-1).values


class _TransformDefense(Defense):
    """A fixed input transform T, then the model. Route "bpda": forward T, backward identity."""

    adaptive_route = "bpda"

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _defend(self, x: torch.Tensor, *, seed: int, progress: ProgressFn) -> DefenseOutput:
        t = self.transform(x)
        return DefenseOutput(logits=fast(self.model)(t), x_classified=t.detach(),
                             diagnostics={"params": self.params(),
                                          "changed_linf": (t - x).flatten(1).abs().amax(1).detach().cpu()})

    def _adaptive_forward(self, x: torch.Tensor, seed: int) -> torch.Tensor:
        return fast(self.model)(bpda_identity(x, self.transform(x.detach())))

    def _naive_forward(self, x: torch.Tensor, seed: int) -> torch.Tensor:
        return fast(self.model)(self.transform(x))


class JPEGDefense(_TransformDefense):
    name = "JPEG re-encoding"
    paper = "Dziugaite et al. 2016; Guo et al., ICLR 2018"
    summary = ("Saves the image as a JPEG and reads it back before classifying, hoping the compression "
               "removes the fine adversarial pattern. It has no useful gradient, which fools naive attacks; "
               "an adaptive attacker (BPDA) goes straight through.")

    def __init__(self, model: nn.Module, *, quality: int = 75) -> None:
        super().__init__(model)
        self.quality = int(quality)
        jpeg(torch.zeros(1, 3, 8, 8), self.quality)  # validates quality

    def params(self) -> dict:
        return {"quality": self.quality}

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        return jpeg(x, self.quality)

    def _naive_forward(self, x: torch.Tensor, seed: int) -> torch.Tensor:
        # Pillow leaves no autograd graph; the codec's output is 8-bit, piecewise constant in x:
        # its gradient is zero almost everywhere, and that is what the naive module passes on.
        return fast(self.model)(self.transform(x) + 0.0 * x)


class BitDepthDefense(_TransformDefense):
    name = "Bit-depth reduction"
    paper = "Xu, Evans, Qi: Feature Squeezing, NDSS 2018"
    summary = ("Rounds every colour channel to a few bits (5 bits = 32 levels) before classifying, so "
               "perturbations smaller than a quantisation step may vanish. Rounding has zero gradient, "
               "which only hides the model from naive attacks; BPDA breaks it.")

    def __init__(self, model: nn.Module, *, bits: int = 5) -> None:
        super().__init__(model)
        bit_depth(torch.zeros(1), bits)
        self.bits = int(bits)

    def params(self) -> dict:
        return {"bits": self.bits}

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        return bit_depth(x, self.bits)


class MedianFilterDefense(_TransformDefense):
    name = "Median filter"
    paper = "Xu, Evans, Qi: Feature Squeezing, NDSS 2018"
    summary = ("Replaces each pixel by the median of its k×k neighbourhood, smoothing away isolated "
               "adversarial speckle (and some detail). An adaptive attacker (BPDA) treats the filter as "
               "the identity when computing gradients.")

    def __init__(self, model: nn.Module, *, kernel: int = 3) -> None:
        super().__init__(model)
        median_filter(torch.zeros(1, 1, 4, 4), kernel)
        self.kernel = int(kernel)

    def params(self) -> dict:
        return {"kernel": self.kernel}

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        return median_filter(x, self.kernel)
