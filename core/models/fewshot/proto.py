"""Prototype few-shot segmenter in the PANet style (the CNN baseline of R-PNODE).

Paper: Kaixin Wang, Jun Hao Liew, Yingtian Zou, Daquan Zhou, Jiashi Feng, "PANet: Few-Shot Image
Semantic Segmentation with Prototype Alignment", ICCV 2019 (arXiv 1908.06391); the same decoder is
the one of R-PNODE's public code (``rpnode-fss/RPNODE_FSS``, ``models/fewshot.py``, MIT):

* an encoder maps support and query to feature maps (shared weights);
* **masked average pooling** (:func:`masked_average_pooling`): the support features are upsampled
  (bilinear) to the mask's size, and the foreground prototype is Σ F·m / (Σ m + 1e-5), the
  background prototype the same with 1 − m (the public code's ``getFeatures``, ε = 1e-5 included);
* **cosine decoder** (:func:`cosine_logits`): per query pixel and prototype, logit =
  ``SCALE`` · cos(F_q(p), prototype), SCALE = 20; two logits (background, foreground) per pixel,
  upsampled (bilinear) to the image size; trained with the per-pixel cross-entropy.

Defaults and deviations (a 2-core CPU instead of a GPU):

* encoder: a small CNN of four 3×3 convolutions 3→16, 16→32, 32→32 (each stride 2) and 32→32
  (stride 1), each followed by GroupNorm and ReLU except the last (GroupNorm only, so the
  features can be negative, like VGG's last convolution before its ReLU is removed in the code),
  to 1/8 resolution (8×8 for 64×64 scenes, receptive field 31 px), 32 channels; the paper: VGG-16
  to 1/8, 512 channels, ImageNet-pretrained. No pretraining here;
* input: RGB [0, 1] scenes, normalised inside by (x − 0.5) / 0.25; 1-way 1-shot only;
* no prototype-alignment loss (PANet's PAR; R-PNODE's released training runs without it).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

SCALE = 20.0
CHANNELS = 32
MAP_EPS = 1e-5


def masked_average_pooling(feats: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(foreground, background) prototypes (N, C) of features (N, C, h, w) under a mask (N, H, W)
    in [0, 1]: the features are upsampled (bilinear) to (H, W) first, as in PANet's code."""
    if feats.shape[-2:] != mask.shape[-2:]:
        feats = F.interpolate(feats, size=mask.shape[-2:], mode="bilinear", align_corners=False)
    m = mask[:, None].to(feats.dtype)
    fg = (feats * m).sum((2, 3)) / (m.sum((2, 3)) + MAP_EPS)
    bg = (feats * (1 - m)).sum((2, 3)) / ((1 - m).sum((2, 3)) + MAP_EPS)
    return fg, bg


def cosine_logits(feats: torch.Tensor, fg: torch.Tensor, bg: torch.Tensor, scale: float = SCALE) -> torch.Tensor:
    """Per-pixel logits (N, 2, h, w): scale · cos(feature, prototype), background first."""
    bg_l = F.cosine_similarity(feats, bg[..., None, None], dim=1)
    fg_l = F.cosine_similarity(feats, fg[..., None, None], dim=1)
    return scale * torch.stack([bg_l, fg_l], 1)


def encoder(channels: int = CHANNELS) -> nn.Sequential:
    """The small CNN encoder (module docstring), to 1/4 resolution."""
    mid = channels // 2
    return nn.Sequential(nn.Conv2d(3, mid, 3, 2, 1), nn.GroupNorm(min(32, mid), mid), nn.ReLU(),
                         nn.Conv2d(mid, channels, 3, 2, 1), nn.GroupNorm(min(32, channels), channels), nn.ReLU(),
                         nn.Conv2d(channels, channels, 3, 2, 1), nn.GroupNorm(min(32, channels), channels), nn.ReLU(),
                         nn.Conv2d(channels, channels, 3, 1, 1), nn.GroupNorm(min(32, channels), channels))


class PrototypeSeg(nn.Module):
    """PANet-style 1-way 1-shot segmenter: ``forward(support, support_mask, query)`` gives the
    query's logits (N, 2, H, W) (background, foreground) on [0, 1] images."""

    kind = "proto"

    def __init__(self, channels: int = CHANNELS, scale: float = SCALE) -> None:
        super().__init__()
        self.channels, self.scale = channels, float(scale)
        self.encoder = encoder(channels)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Feature maps (N, C, H/8, W/8) of [0, 1] images (N, 3, H, W)."""
        return self.encoder((x - 0.5) / 0.25)

    def decode(self, fs: torch.Tensor, mask: torch.Tensor, fq: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """Query logits at ``size`` from support features, support mask and query features."""
        fg, bg = masked_average_pooling(fs, mask)
        return F.interpolate(cosine_logits(fq, fg, bg, self.scale), size=size, mode="bilinear", align_corners=False)

    def forward_features(self, support: torch.Tensor, support_mask: torch.Tensor, query: torch.Tensor
                         ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(logits, support features, query features)."""
        fs, fq = self.features(support), self.features(query)  # two passes: an adaptive solver's steps per image set
        return self.decode(fs, support_mask, fq, tuple(query.shape[-2:])), fs, fq

    def forward(self, support: torch.Tensor, support_mask: torch.Tensor, query: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.forward_features(support, support_mask, query)[0]


__all__ = ["CHANNELS", "MAP_EPS", "PrototypeSeg", "SCALE", "cosine_logits", "encoder", "masked_average_pooling"]
