"""MediaPipe selfie segmentation (general 256×256 and landscape 144×256), ported to PyTorch.

Source: ``mediapipe/modules/selfie_segmentation/selfie_segmentation{,_landscape}.tflite`` in the
mediapipe 0.10.21 wheel (Apache-2.0), model card "MediaPipe Selfie Segmentation" (Google, 2021).
The architecture below is written from the operators of the .tflite graph (read with the pure
Python ``tflite`` package by ``tools/convert_selfie_segmentation.py``); the weights are the
graph's fp16 constants, dequantised to float32. See ``docs/models/selfie_segmentation.md``.

Architecture (about 106k parameters; every convolution has a bias, BatchNorm is folded):

* encoder: a MobileNetV3-small-like stack. Stem 3×3/2 conv + hard-swish, then eight
  inverted-residual blocks (1×1 expand, depthwise k×k, optional squeeze-excite with a *sigmoid*
  gate, 1×1 project, residual when the shape is kept), down to 1/16 resolution;
* head: an LR-ASPP-like gate, ``relu(conv1x1(x)) * sigmoid(conv1x1(mean(x)))``;
* decoder: three stages, each upsampling ×2 (bilinear, half-pixel centres), projecting with a
  1×1 conv, fusing with the encoder skip through a global attention gate, then a 1×1 conv and
  a residual depthwise 3×3;
* output: MediaPipe's custom op ``Convolution2DTransposeBias`` = a 2×2, stride-2 transposed
  convolution with bias (16 -> 1 channel), giving full-resolution logits; a sigmoid gives the
  person probability.

Padding is TensorFlow "same" (:class:`core.models.imagenet.efficientnet_lite.SameConv2d`); the global
pools are means (the .tflite graphs use fixed-size average pools for the general model and MEAN
for the landscape one; both are global at the native size).

Input convention: RGB in [0, 1], shape (N, 3, H, W). MediaPipe's graph stretches the whole
frame to the model size without keeping the aspect ratio (``ImageToTensorCalculator``,
``keep_aspect_ratio: false``, range [0, 1], bilinear). :meth:`SelfieSegmenter.forward` does the
same *inside* the module (:func:`mediapipe_stretch`, a differentiable bilinear resample with
MediaPipe's OpenCV pixel mapping, skipped when the input already has the model size), so an
attacker can perturb the photo at its own resolution. The output is the
person probability at *model* resolution; :func:`upsample_mask` brings it back to the image
size (MediaPipe's ``TensorsToSegmentationCalculator`` also resizes bilinearly).

The port matches MediaPipe's own runtime (XNNPACK) on the reference images in
``tests/fixtures/selfie_segmentation_reference.npz`` to better than 1e-3 (see the test).
"""
from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from core.runtime import limits
from core.models.imagenet.efficientnet_lite import SameConv2d
from core.models.wrappers import ReadOnlyMixin

GENERAL_SIZE = (256, 256)  # (H, W)
LANDSCAPE_SIZE = (144, 256)

# Encoder blocks: (cin, expanded, cout, kernel, stride, squeeze channels or 0, activation).
ENCODER_SPECS: tuple[tuple[int, int, int, int, int, int, str], ...] = (
    (16, 16, 16, 3, 2, 8, "relu"),
    (16, 72, 24, 3, 2, 0, "relu"),
    (24, 88, 24, 3, 1, 0, "relu"),
    (24, 96, 32, 5, 2, 24, "hswish"),
    (32, 128, 32, 5, 1, 32, "hswish"),
    (32, 128, 32, 5, 1, 32, "hswish"),
    (32, 96, 32, 5, 1, 24, "hswish"),
    (32, 96, 32, 5, 1, 24, "hswish"),
)
# Decoder stages: (channels in, channels out), deepest first. Skips: block 3, block 1, stem.
DECODER_SPECS: tuple[tuple[int, int], ...] = ((128, 24), (24, 16), (16, 16))


def _act(name: str, x: torch.Tensor) -> torch.Tensor:
    return F.relu(x) if name == "relu" else F.hardswish(x)


def _conv1x1(cin: int, cout: int) -> SameConv2d:
    return SameConv2d(cin, cout, 1, bias=True)


def _gap(x: torch.Tensor) -> torch.Tensor:
    return x.mean(dim=(2, 3), keepdim=True)


class SqueezeExcite(nn.Module):
    """x · sigmoid(W2 relu(W1 mean(x))) (sigmoid gate, not the hard sigmoid of MobileNetV3)."""

    def __init__(self, ch: int, squeeze: int) -> None:
        super().__init__()
        self.reduce = _conv1x1(ch, squeeze)
        self.expand = _conv1x1(squeeze, ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return x * torch.sigmoid(self.expand(F.relu(self.reduce(_gap(x)))))


class InvertedResidual(nn.Module):
    """1×1 expand + act, depthwise k×k + act, optional squeeze-excite, 1×1 project."""

    def __init__(self, cin: int, mid: int, cout: int, kernel: int, stride: int, squeeze: int,
                 act: str) -> None:
        super().__init__()
        self.expand = _conv1x1(cin, mid)
        self.dw = SameConv2d(mid, mid, kernel, stride=stride, groups=mid, bias=True)
        self.se = SqueezeExcite(mid, squeeze) if squeeze else None
        self.project = _conv1x1(mid, cout)
        self.act = act
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        h = _act(self.act, self.expand(x))
        h = _act(self.act, self.dw(h))
        if self.se is not None:
            h = self.se(h)
        h = self.project(h)
        return h + x if self.residual else h


class GatedHead(nn.Module):
    """LR-ASPP-like head: relu(conv1x1(x)) · sigmoid(conv1x1(mean(x)))."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.proj = _conv1x1(cin, cout)
        self.gate = _conv1x1(cin, cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return F.relu(self.proj(x)) * torch.sigmoid(self.gate(_gap(x)))


class DecoderStage(nn.Module):
    """Upsample ×2, project, fuse with the skip through a global attention gate, refine.

    s = conv(up(h)); a = skip + s; g = sigmoid(W2 relu(W1 mean(a))); m = skip·g + s;
    r = relu(conv1x1(m)); out = r + relu(dw3x3(r)).
    """

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.up_proj = _conv1x1(cin, cout)
        self.att_reduce = _conv1x1(cout, cout)
        self.att_expand = _conv1x1(cout, cout)
        self.conv = _conv1x1(cout, cout)
        self.dw = SameConv2d(cout, cout, 3, groups=cout, bias=True)

    def forward(self, h: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:  # noqa: D102
        up = F.interpolate(h, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        s = self.up_proj(up)
        g = torch.sigmoid(self.att_expand(F.relu(self.att_reduce(_gap(skip + s)))))
        r = F.relu(self.conv(skip * g + s))
        return r + F.relu(self.dw(r))


class SelfieSegmenter(ReadOnlyMixin, nn.Module):
    """MediaPipe selfie segmentation on [0, 1] RGB input (see the module docstring).

    ``forward(x)`` -> person probability (N, 1, h, w) at the model resolution ``input_size``;
    ``forward_logits(x)`` -> the pre-sigmoid map; ``forward_features(x, keep)`` -> the logits
    and named intermediate maps (``stem``, ``block1`` ... ``block8``, ``head``, ``decoder1`` ...
    ``decoder3``), e.g. for dense equivariance losses.
    """

    task = "segmentation"

    def __init__(self, input_size: tuple[int, int] = GENERAL_SIZE, name: str = "") -> None:
        super().__init__()
        self.stem = SameConv2d(3, 16, 3, stride=2, bias=True)
        self.blocks = nn.ModuleList(InvertedResidual(*s) for s in ENCODER_SPECS)
        self.head = GatedHead(32, 128)
        self.decoder = nn.ModuleList(DecoderStage(*s) for s in DECODER_SPECS)
        self.final = nn.ConvTranspose2d(16, 1, kernel_size=2, stride=2, bias=True)
        self.input_size = tuple(input_size)
        self.name = name
        self.class_names = ["background", "person"]

    @property
    def stage_names(self) -> list[str]:
        """Probe-able maps, shallow to deep to output."""
        return (["stem"] + [f"block{i + 1}" for i in range(len(self.blocks))] + ["head"]
                + [f"decoder{i + 1}" for i in range(len(self.decoder))] + ["logits"])

    def resize_input(self, x: torch.Tensor) -> torch.Tensor:
        """Stretch to the model size like MediaPipe (identity when already there)."""
        return mediapipe_stretch(x, self.input_size)

    def forward_features(self, x: torch.Tensor, keep: tuple[str, ...] = (), *,
                         resize: bool = True) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Logits (N, 1, h, w) and the maps named in ``keep``.

        ``resize=False`` runs the (fully convolutional) network at the input's own size instead
        of stretching it to the model size; sizes divisible by 16 keep the ×2 upsampling exact.
        """
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f"expected (N, 3, H, W) images, got {tuple(x.shape)}")
        if resize:
            x = self.resize_input(x)
        limits.check_batch_pixels(x)  # the batch limit of core/runtime/limits.py
        out: dict[str, torch.Tensor] = OrderedDict()
        h = F.hardswish(self.stem(x))
        skips = [h]
        if "stem" in keep:
            out["stem"] = h
        for i, block in enumerate(self.blocks):
            h = block(h)
            if i in (0, 2):  # 1/4 and 1/8 resolution skips
                skips.append(h)
            if f"block{i + 1}" in keep:
                out[f"block{i + 1}"] = h
        h = self.head(h)
        if "head" in keep:
            out["head"] = h
        for i, stage in enumerate(self.decoder):
            h = stage(h, skips[-1 - i])
            if f"decoder{i + 1}" in keep:
                out[f"decoder{i + 1}"] = h
        logits = self.final(h)
        if "logits" in keep:
            out["logits"] = logits
        return logits, out

    def forward_logits(self, x: torch.Tensor, *, resize: bool = True) -> torch.Tensor:
        """Pre-sigmoid person logits (N, 1, h, w)."""
        return self.forward_features(x, resize=resize)[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return torch.sigmoid(self.forward_logits(x))


def mediapipe_stretch(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resample (N, C, H, W) images to ``size`` = (h, w) the way MediaPipe's CPU
    ``ImageToTensorCalculator`` does for a full-frame ROI without keeping the aspect ratio.

    MediaPipe maps the frame's corners (0, 0)-(W, H) onto the tensor's corners with OpenCV's
    ``warpPerspective`` (bilinear, zero border), and OpenCV puts pixel i at coordinate i, so
    output pixel u samples the input at u·W/w (no half-pixel offset; the last rows and columns
    of an upscaled frame blend with the zero border). This reproduces that mapping with
    ``grid_sample``; plain ``F.interpolate`` (half-pixel centres) would shift the frame by
    (W/w − 1)/2 pixels, which changed the mask by up to 0.3 at the person's outline on the
    240×320 reference frame (this mapping: 0.05, the rest being OpenCV's 1/32-pixel fixed-point
    interpolation).
    """
    h, w = int(size[0]), int(size[1])
    H, W = x.shape[-2:]
    if (H, W) == (h, w):
        return x
    if H < 2 or W < 2:
        raise ValueError(f"images must be at least 2×2 pixels, got {H}×{W}")
    ys = torch.arange(h, device=x.device, dtype=x.dtype) * (H / h)
    xs = torch.arange(w, device=x.device, dtype=x.dtype) * (W / w)
    gy = (2 * ys / (H - 1) - 1).view(h, 1).expand(h, w)
    gx = (2 * xs / (W - 1) - 1).view(1, w).expand(h, w)
    grid = torch.stack((gx, gy), dim=-1).unsqueeze(0).expand(x.shape[0], h, w, 2)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=True)


def upsample_mask(mask: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of a (N, 1, h, w) probability or logit map to ``size`` = (H, W)."""
    if tuple(mask.shape[-2:]) == tuple(size):
        return mask
    return F.interpolate(mask, size=tuple(size), mode="bilinear", align_corners=False)


def build_selfie_segmenter(state_dict: dict[str, torch.Tensor], input_size: tuple[int, int],
                           name: str = "") -> SelfieSegmenter:
    """The port with ``state_dict`` loaded strictly, in eval mode."""
    model = SelfieSegmenter(input_size, name=name)
    model.load_state_dict(state_dict, strict=True)
    return model.eval()
