"""A small U-Net for the garment scenes (multi-class semantic segmentation, 11 classes).

Architecture after Ronneberger, Fischer, Brox, *U-Net: Convolutional Networks for Biomedical
Image Segmentation*, MICCAI 2015, shrunk for a CPU: an encoder of four levels (16, 32, 64, 96
channels at 1/2, 1/4, 1/8, 1/16 of the input resolution; two 3×3 conv → batch norm → ReLU blocks
per level, the first with stride 2 instead of max pooling; the bottleneck's second conv dilated by
2, so that its receptive field covers a whole 96 px scene and the largest, 56 px garments), a
decoder that upsamples bilinearly ×2 and concatenates the skip map before one 3×3 conv block per
level, and a 1×1 head whose logits (at 1/2 resolution) are upsampled bilinearly to the input
resolution. Deviations from the paper: no full-resolution level (it cost half of the time of a
pass; measured 1.5 s → 0.7 s per training batch of 32 on one thread) and output stride 2, one conv
per decoder level instead of two, padding keeps sizes (no crops), bilinear upsampling instead of
up-convolutions; 338,059 parameters (``count_parameters``), so it trains in under an hour on
one CPU thread (``tools/train_dense.py``). The first version (three levels, 16/32/48 channels,
81,739 parameters) reached a clean mIoU of only 0.40 on the shipped test scenes: its coarsest map
(1/8) saw too little of a garment to tell a shirt from a coat; the fourth level and the longer
training (core/train/dense_seg.py) are what changed.

Interface (shared with :class:`core.models.dense.selfie_segmentation.SelfieSegmenter`, so the dense
equivariance defense :mod:`core.defenses.seg_equivariance` runs on it unchanged): input float
images (N, 3, H, W) in [0, 1]; ``forward(x)`` and ``forward_logits(x)`` → logits (N, 11, h, w)
at ``input_size``; ``forward_features(x, keep, resize=...)`` with ``stage_names``;
``resize_input`` stretches to ``input_size`` (bilinear). The network is fully convolutional,
so ``resize=False`` runs it at any size (sizes not divisible by 16 are padded and cropped back).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from core.models.wrappers import ReadOnlyMixin

WIDTHS = (16, 32, 64, 96)
STRIDE = 16  # the coarsest level's downsampling factor
INPUT_SIZE = (96, 96)


def _block(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=stride, padding=dilation, dilation=dilation, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class TinyUNet(ReadOnlyMixin, nn.Module):
    """The garment-scene segmenter (see the module docstring)."""

    def __init__(self, num_classes: int = 11, class_names: list[str] | None = None,
                 input_size: tuple[int, int] = INPUT_SIZE, name: str = "") -> None:
        super().__init__()
        w1, w2, w3, w4 = WIDTHS
        self.enc1 = nn.Sequential(_block(3, w1, stride=2), _block(w1, w1))
        self.enc2 = nn.Sequential(_block(w1, w2, stride=2), _block(w2, w2))
        self.enc3 = nn.Sequential(_block(w2, w3, stride=2), _block(w3, w3))
        self.enc4 = nn.Sequential(_block(w3, w4, stride=2), _block(w4, w4, dilation=2))
        self.dec3 = _block(w4 + w3, w3)
        self.dec2 = _block(w3 + w2, w2)
        self.dec1 = _block(w2 + w1, w1)
        self.head = nn.Conv2d(w1, num_classes, 1)
        self.num_classes = int(num_classes)
        self.class_names = list(class_names) if class_names else [str(i) for i in range(num_classes)]
        self.input_size = tuple(input_size)
        self.name = name

    @property
    def stage_names(self) -> list[str]:
        return ["enc4", "dec3", "dec2", "dec1"]

    def resize_input(self, x: torch.Tensor) -> torch.Tensor:
        """Stretch to ``input_size`` (bilinear; no-op at that size)."""
        if tuple(x.shape[-2:]) == self.input_size:
            return x
        return F.interpolate(x, size=self.input_size, mode="bilinear", align_corners=False)

    @staticmethod
    def _up(h: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return torch.cat([F.interpolate(h, size=skip.shape[-2:], mode="bilinear", align_corners=False), skip], 1)

    def forward_features(self, x: torch.Tensor, keep: tuple[str, ...] = (), *,
                         resize: bool = True) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """(logits (N, C, h, w), the kept stage maps). ``resize=False`` runs at the input's size."""
        if resize:
            x = self.resize_input(x)
        h, w = x.shape[-2:]
        ph, pw = (-h) % STRIDE, (-w) % STRIDE
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="replicate")
        kept: dict[str, torch.Tensor] = {}
        e1 = self.enc1(x - 0.5)
        e2 = self.enc2(e1)
        e3 = self.enc3(e2)
        e4 = self.enc4(e3)
        d3 = self.dec3(self._up(e4, e3))
        d2 = self.dec2(self._up(d3, e2))
        d1 = self.dec1(self._up(d2, e1))
        for k, v in (("enc4", e4), ("dec3", d3), ("dec2", d2), ("dec1", d1)):
            if k in keep:
                kept[k] = v[..., : -(-v.shape[-2] * h // x.shape[-2]), : -(-v.shape[-1] * w // x.shape[-1])]
        logits = F.interpolate(self.head(d1), size=x.shape[-2:], mode="bilinear", align_corners=False)[..., :h, :w]
        return logits, kept

    def forward_logits(self, x: torch.Tensor, *, resize: bool = True) -> torch.Tensor:
        """Class logits (N, C, h, w)."""
        return self.forward_features(x, resize=resize)[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.forward_logits(x)


def count_parameters(model: nn.Module) -> int:
    """Number of parameters (weights and biases, batch-norm affine included)."""
    return sum(p.numel() for p in model.parameters())


def build_tiny_unet(state_dict: dict[str, torch.Tensor], class_names: list[str], name: str = "") -> TinyUNet:
    """A frozen TinyUNet with ``state_dict`` loaded strictly."""
    model = TinyUNet(len(class_names), class_names, name=name)
    model.load_state_dict(state_dict, strict=True)
    return model.eval()
