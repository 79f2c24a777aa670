"""The adaptive attack route for the CIFS zoo model: differentiate through the channel mask.

CIFS (Yan et al., "CIFS: Improving Adversarial Robustness of CNNs via Channel-wise
Importance-based Feature Selection", ICML 2021) re-weights the channels of a block by a mask
m = C·softmax(g), g the relevance of each channel computed by a probe. The zoo network computes g
on a *detached* copy of the features (as the paper's code does for training), so an attacker
using the model's own gradients treats the mask as a constant. That is a mask-blind attacker:
the mask is a smooth function of the input (piecewise smooth: the probe's top-2 classes are
discrete), and an adaptive attacker (Tramèr et al., NeurIPS 2020) differentiates it.

:func:`through_mask` returns a view of a CIFS zoo model whose forward computes exactly the same
logits (the same operations on the same parameters) but lets the gradient flow through g: only
the choice of the top-2 classes is held constant. Models without CIFS modules are returned as
they are. The view never changes the model (no hooks, no ``train()``, no parameter writes).
"""
from __future__ import annotations

import torch
from torch import nn

from core.runtime import limits


class CIFSThroughMask(nn.Module):
    """A CIFS zoo classifier whose mask is differentiated (see the module docstring)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.class_names = getattr(model, "class_names", None)
        self.input_size = getattr(model, "input_size", None)
        self.name = f"{getattr(model, 'name', '')} (through the mask)"
        self.training = False

    def train(self, mode: bool = True):  # noqa: D102 - evaluation-only view of a shared model
        if mode:
            raise RuntimeError("an adaptive view is evaluation-only")
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        limits.check_batch_pixels(x)
        net = self.model.net
        h = self.model.normalize(x)
        for i, blk in enumerate(net.blocks):
            h = blk(h)
            name = f"conv{i + 1}"
            if net.cifs is not None and name in net.cifs:
                mod = net.cifs[name]
                a = h.mean(dim=(2, 3))
                classes = mod.probe(a).detach().topk(2, dim=1).indices  # discrete: held constant
                g = mod.relevance(a, classes)  # not detached: the mask's gradient flows
                h = h * (h.shape[1] * torch.softmax(g, dim=1))[:, :, None, None]
        return net.forward_head(h)


def has_cifs(model: nn.Module) -> bool:
    """Whether ``model`` is a zoo network with CIFS modules."""
    net = getattr(model, "net", None)
    return getattr(net, "cifs", None) is not None


def through_mask(model: nn.Module) -> nn.Module:
    """The mask-differentiating view of a CIFS zoo model; any other model unchanged."""
    return CIFSThroughMask(model) if has_cifs(model) else model
