"""What a registered model is (:class:`ModelSpec`), the table the registering modules add to, and the
loaded instances (:func:`unregister` drops a model from both).

Kept apart from :mod:`core.models.registry` so that the modules that register the bundled
models (:mod:`core.models.imagenet.builtin` and the ones it imports) depend only on this table, and the
registry can import them at module level without an import circle.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from collections.abc import Callable

from torch import nn


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
    origin: str = "bundled"  # "bundled", "user" (core/models/user/models_file.py) or "session" (a browser upload)


REGISTERED: dict[str, ModelSpec] = {}  # name -> spec, in registration order


def register(spec: ModelSpec) -> ModelSpec:
    """Add a model to the registry (a name may be registered once)."""
    if spec.name in REGISTERED:
        raise ValueError(f"model {spec.name!r} is already registered")
    REGISTERED[spec.name] = spec
    return spec


LOADED: dict[tuple[str, str], nn.Module] = {}  # (name, device) -> the shared instance (core.models.registry.load_model)
LOADED_LOCK = threading.Lock()


def unregister(name: str) -> None:
    """Remove a model and its loaded instances (user models being reloaded; tests)."""
    with LOADED_LOCK:
        REGISTERED.pop(name, None)
        for key in [k for k in LOADED if k[0] == name]:
            del LOADED[key]
