"""Inference-optimised copies of registered models, used inside the attack engine.

``fast_view(model)`` returns a cached deep copy of an :class:`~core.models.wrappers.ImageClassifier`
whose batch-norm layers are folded into the preceding convolutions and whose weights are in
``channels_last`` memory format. It computes the same function (to float rounding, ~1e-6
relative) with fewer, faster kernels, so every forward *and* backward pass of an attack is
cheaper. The shared model is never touched; models that do not declare ``supports_fusion``
are returned unchanged.

Why by hand: ``torch.ao.quantization.fuse_modules`` needs named Conv/BN pairs in nn.Sequential
order and returns plain ``nn.Conv2d`` (losing the TF "same" padding of ``SameConv2d``), so the
fold below reuses ``torch.nn.utils.fusion.fuse_conv_bn_weights`` and keeps the module types.
"""
from __future__ import annotations

import copy
import threading
import weakref

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_weights

_CACHE: weakref.WeakKeyDictionary[nn.Module, nn.Module] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def fold_bn_(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> None:
    """Fold an eval-mode batch norm into ``conv`` in place (``conv`` gains a bias)."""
    w, b = fuse_conv_bn_weights(conv.weight, conv.bias, bn.running_mean, bn.running_var, bn.eps,
                                bn.weight, bn.bias)
    conv.weight = nn.Parameter(w.detach(), requires_grad=False)
    conv.bias = nn.Parameter(b.detach(), requires_grad=False)


def fast_view(model: nn.Module) -> nn.Module:
    """A cached, fused, channels_last copy of ``model`` when it supports fusion, else ``model``."""
    fuse = getattr(model, "fused_copy", None)
    if fuse is None or model.training or getattr(model, "is_fast_copy", False):
        return model
    with _LOCK:
        fast = _CACHE.get(model)
        if fast is None:
            fast = fuse()
            _CACHE[model] = fast
        return fast


def fused_efficientnet_lite(net: nn.Module) -> nn.Module:
    """A deep copy of an EfficientNetLite with every BN folded into its conv (BN -> Identity)."""
    net = copy.deepcopy(net)
    pairs = [(net, "_conv_stem", "_bn0"), (net, "_conv_head", "_bn1")]
    for blk in net._blocks:
        if blk.has_expand:
            pairs.append((blk, "_expand_conv", "_bn0"))
        pairs += [(blk, "_depthwise_conv", "_bn1"), (blk, "_project_conv", "_bn2")]
    for owner, conv, bn in pairs:
        fold_bn_(getattr(owner, conv), getattr(owner, bn))
        setattr(owner, bn, nn.Identity())
    return net.to(memory_format=torch.channels_last).eval()
