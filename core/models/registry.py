"""Registry of named models (after RobustBench's ``model_zoo``): name -> loader and metadata.

``load_model(name)`` returns an eval-mode, frozen (read-only) module that takes [0, 1] input,
on CUDA when present and the CPU otherwise, loaded once per process and device.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn

from core.device import get_device


@dataclass(frozen=True)
class ModelSpec:
    """Metadata of one registered model."""

    name: str
    task: str  # "classification" or "segmentation"
    input_size: tuple[int, int]  # (H, W) the model expects
    resize_size: int  # short side before centre-cropping (classification); 0 = stretch
    licence: str
    source: str
    description: str
    loader: Callable[[], nn.Module] = field(compare=False, repr=False)
    num_classes: int = 1000


_REGISTRY: dict[str, ModelSpec] = {}
_CACHE: dict[tuple[str, str], nn.Module] = {}
_LOCK = threading.Lock()


def register(spec: ModelSpec) -> ModelSpec:
    """Add a model to the registry (a name may be registered once)."""
    if spec.name in _REGISTRY:
        raise ValueError(f"model {spec.name!r} is already registered")
    _REGISTRY[spec.name] = spec
    return spec


def list_models(task: str | None = None) -> list[ModelSpec]:
    """Registered models, optionally only those of one task, in registration order."""
    _ensure_builtin()
    return [s for s in _REGISTRY.values() if task is None or s.task == task]


def get_spec(name: str) -> ModelSpec:
    """The metadata of a registered model; a clear error for an unknown name."""
    _ensure_builtin()
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(_REGISTRY)
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


_BUILTIN_DONE = False
_BUILTIN_LOCK = threading.RLock()  # re-entrant: the registering modules may query the registry


def _ensure_builtin() -> None:
    """Register the bundled models once. Concurrent first callers (several browser sessions
    opening at once) wait until registration is complete instead of seeing a partial registry."""
    global _BUILTIN_DONE
    if _BUILTIN_DONE:
        return
    with _BUILTIN_LOCK:
        if not _BUILTIN_DONE:
            from core.models import builtin  # noqa: F401  (registers on import)

            _BUILTIN_DONE = True
