"""Model wrappers that take images in [0, 1] and fold the normalisation inside.

Every model the app registers is an :class:`ImageClassifier` (or a segmentation model with the
same convention): ``forward(x)`` takes float images in [0, 1], shape (N, 3, H, W). Attacks,
smoothing noise and purification therefore all work in pixel space.
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from core.runtime import limits
from core.models.fast import fused_efficientnet_lite


class ReadOnlyMixin:
    """Refuses to be switched to train mode once frozen (shared models are read-only).

    ``st.cache_resource`` hands the same module to every session and thread, so a page that
    switched it to train mode would change every other user's results.
    """

    _frozen: bool = False

    def freeze(self) -> ReadOnlyMixin:
        self.eval()
        for p in self.parameters():  # type: ignore[attr-defined]
            p.requires_grad_(False)
        self._frozen = True
        return self

    def train(self, mode: bool = True):  # noqa: D102
        if mode and self._frozen:
            raise RuntimeError("This model is shared and read-only; work on copy.deepcopy(model) instead.")
        return super().train(mode)  # type: ignore[misc]


class ImageClassifier(ReadOnlyMixin, nn.Module):
    """A classifier on [0, 1] input: ``(x - mean) / std`` then the network.

    The wrapped network must provide ``forward_features(x, keep) -> (pre_pool_map, dict)``,
    ``forward_head(pre_pool_map) -> logits`` and ``stage_names``; these are re-exported with
    [0, 1] input so that explanation code can probe named stages without hooks.
    """

    def __init__(self, net: nn.Module, mean: tuple[float, ...], std: tuple[float, ...],
                 input_size: int, class_names: list[str], name: str = "") -> None:
        super().__init__()
        self.net = net
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)
        self.input_size = input_size
        self.class_names = class_names
        self.name = name

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """Map [0, 1] pixels to the network's input scale."""
        return (x - self.mean) / self.std

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        limits.check_batch_pixels(x)  # every caller's batch, in one place (core/runtime/limits.py)
        return self.net(self.normalize(x))

    @property
    def stage_names(self) -> list[str]:
        """Names of the probe-able stages, shallow to deep; the last is the pre-pool map."""
        return list(self.net.stage_names)

    def forward_features(self, x: torch.Tensor, keep: tuple[str, ...] = ()) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Pre-pool feature map and the named stage outputs in ``keep``, from [0, 1] input."""
        limits.check_batch_pixels(x)
        return self.net.forward_features(self.normalize(x), keep)

    def forward_head(self, fmap: torch.Tensor) -> torch.Tensor:
        """Logits from the pre-pool map (global average pooling, then the linear classifier)."""
        return self.net.forward_head(fmap)

    def fused_copy(self) -> ImageClassifier:
        """A frozen copy with batch norm folded into the convolutions, in channels_last
        (see :mod:`core.models.fast`); only for networks that declare ``supports_fusion``."""
        clone = copy.copy(self)  # shallow: shares buffers, gets its own module dict below
        clone._modules = dict(self._modules)
        clone._modules["net"] = fused_efficientnet_lite(self.net)
        clone._frozen = False
        clone.is_fast_copy = True  # fast_view(fast copy) is the copy itself
        return clone.freeze()

    @property
    def classifier_weight(self) -> torch.Tensor:
        """The (classes, channels) weight of the final linear layer."""
        return self.net._fc.weight
