"""A small frame-sequence classifier that averages logits over short chunks of frames: the base
classifier of Smooth-Reduce's video experiments (Joshi, Pham, Cho, Boytsov, Condessa, Kolter,
Hegde, "Smooth-Reduce: Leveraging Patches for Improved Certified Robustness", arXiv 2205.06154;
``NYU-DICE-Lab/SmoothReduce``, ``VideoEnsembleModel``: a 3-D ResNeXt on 16-frame chunks, logits
averaged over the chunks of a sub-video).

Here (scaled to 28×28 Fashion-MNIST sequences, :mod:`core.data.sequences`):

* a **chunk** is ``chunk = 2`` consecutive frames, stacked as two input channels, stride = chunk
  (non-overlapping, as the paper's default chunk stride 16 = chunk size 16);
* the **chunk network** is three 3×3 conv blocks (16, 32, 64 channels, stride 2, ReLU), global
  average pooling and a linear layer to the 10 classes (24,090 parameters) instead of a 3-D
  ResNeXt-101 (deviation: size and data);
* the **sequence logits** are the mean of the chunk logits, for any number of frames that is a
  multiple of ``chunk`` (16 frames: 8 chunks; an 8-frame sub-sequence: 4 chunks).

Input float frames in [0, 1], shape (N, T, 1, 28, 28); normalisation (Fashion-MNIST mean 0.2860,
std 0.3530) happens inside. Trained by ``tools/train_sequences.py`` with Gaussian noise added to the
frames (σ of the card), as base classifiers for randomized smoothing are.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from core.models.zoo.net import FMNIST_CLASSES, FMNIST_MEAN, FMNIST_STD
from core.runtime.paths import ASSETS as ASSETS_ROOT

ASSETS = ASSETS_ROOT / "sequences"
WEIGHTS = ASSETS / "sequence-net.pt"
CARD = ASSETS / "sequence-net.json"
CHUNK = 2


class ChunkNet(nn.Module):
    """Logits (B, classes) of normalised chunks (B, chunk, H, W)."""

    def __init__(self, chunk: int = CHUNK, num_classes: int = 10, width: int = 16) -> None:
        super().__init__()
        c = (width, 2 * width, 4 * width)
        self.features = nn.Sequential(
            nn.Conv2d(chunk, c[0], 3, 2, 1), nn.ReLU(),
            nn.Conv2d(c[0], c[1], 3, 2, 1), nn.ReLU(),
            nn.Conv2d(c[1], c[2], 3, 2, 1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(c[2], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.head(self.features(x))


class SequenceNet(nn.Module):
    """Mean over non-overlapping ``chunk``-frame chunks of the chunk network's logits."""

    def __init__(self, chunk: int = CHUNK, num_classes: int = 10, width: int = 16) -> None:
        super().__init__()
        self.chunk = int(chunk)
        self.net = ChunkNet(self.chunk, num_classes, width)
        self.class_names = list(FMNIST_CLASSES)

    def chunk_logits(self, x: torch.Tensor) -> torch.Tensor:
        """(N, T/chunk, classes) logits of every chunk of frames (N, T, 1, H, W) in [0, 1]."""
        n, t = x.shape[:2]
        if x.dim() != 5 or x.shape[2] != 1:
            raise ValueError(f"expected frames (N, T, 1, H, W), got {tuple(x.shape)}")
        if t % self.chunk:
            raise ValueError(f"the number of frames ({t}) must be a multiple of the chunk ({self.chunk})")
        z = (x - FMNIST_MEAN) / FMNIST_STD
        z = z.reshape(n * (t // self.chunk), self.chunk, *x.shape[-2:])
        return self.net(z).view(n, t // self.chunk, -1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return self.chunk_logits(x).mean(1)


def load_sequence_net(path: Path = WEIGHTS) -> SequenceNet:
    """The shipped, trained network in eval mode (``weights_only=True``, ``strict=True``)."""
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing; it is made by tools/train_sequences.py")
    card = json.loads(CARD.read_text()) if CARD.exists() else {}
    arch = card.get("architecture", {})
    net = SequenceNet(chunk=int(arch.get("chunk", CHUNK)), width=int(arch.get("width", 16)))
    net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True), strict=True)
    return net.eval()


def load_card() -> dict:
    """The shipped card (empty when absent)."""
    return json.loads(CARD.read_text()) if CARD.exists() else {}


__all__ = ["CARD", "CHUNK", "ChunkNet", "SequenceNet", "WEIGHTS", "load_card", "load_sequence_net"]
