"""Small helpers shared by the defenses."""
from __future__ import annotations

from torch import nn

from core.models.fast import fast_view


def fast(model: nn.Module) -> nn.Module:
    """The fused, channels_last copy of a registered classifier (same function, faster passes;
    see :mod:`core.models.fast`), or ``model`` itself when it offers none or is already one."""
    try:
        return fast_view(model)
    except (AttributeError, RuntimeError):
        return model
