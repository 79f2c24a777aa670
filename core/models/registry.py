"""Registry of named models (after RobustBench's ``model_zoo``): name -> loader and metadata.

``load_model(name)`` returns an eval-mode, frozen (read-only) module that takes [0, 1] input,
on CUDA when present and the CPU otherwise, loaded once per process and device. The bundled
models (:mod:`core.models.imagenet.builtin`, ``segmentation_builtin``, ``zoo_builtin``) are registered when this module is imported; the table
itself and :func:`register` live in :mod:`core.models.spec`.
"""
from __future__ import annotations

import torch
from torch import nn

from core.runtime.device import get_device
# Importing these registers the bundled models, in this order (then the user's, below).
from core.models.imagenet import builtin  # noqa: F401
from core.models.dense import segmentation_builtin  # noqa: F401
from core.models.zoo import builtin as zoo_builtin  # noqa: F401
from core.models.user import models_file as user_models
from core.models.spec import LOADED as _CACHE
from core.models.spec import LOADED_LOCK as _LOCK
from core.models.spec import REGISTERED, ModelSpec, register, unregister

__all__ = ["ModelSpec", "register", "list_models", "get_spec", "load_model", "unregister"]

# The user's models (models.toml or $EXPLORER_MODELS), after the bundled ones; a broken
# description is recorded (user_models.failed_models), never raised.
user_models.register_default()


def list_models(task: str | None = None) -> list[ModelSpec]:
    """Registered models, optionally only those of one task, in registration order."""
    return [s for s in REGISTERED.values() if task is None or s.task == task]


def get_spec(name: str) -> ModelSpec:
    """The metadata of a registered model; a clear error for an unknown name."""
    try:
        return REGISTERED[name]
    except KeyError:
        known = ", ".join(REGISTERED)
        raise KeyError(f"unknown model {name!r}; known models: {known}") from None


def load_model(name: str, device: torch.device | str | None = None) -> nn.Module:
    """The shared, read-only instance of a model on ``device`` (default: :func:`get_device`).

    Thread-safe; each (name, device) is built once per process. Do not modify the result:
    use ``copy.deepcopy`` for a variant (a changed stride, say).
    """
    spec = get_spec(name)
    dev = torch.device(device) if device is not None else get_device()
    key = (name, str(dev))
    with _LOCK:
        if key not in _CACHE:
            model = spec.loader().to(dev)
            if hasattr(model, "freeze"):
                model.freeze()
            else:
                model.eval()
                for p in model.parameters():
                    p.requires_grad_(False)
            _CACHE[key] = model
        return _CACHE[key]
