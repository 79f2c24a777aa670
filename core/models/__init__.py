"""Model registry and architectures. ``load_model(name)`` is the entry point."""
from core.models.registry import ModelSpec, get_spec, list_models, load_model, register

__all__ = ["ModelSpec", "get_spec", "list_models", "load_model", "register"]
