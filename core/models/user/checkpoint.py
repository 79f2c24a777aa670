"""Reading a user-supplied weights file into a flat state dict, safely.

Accepted formats:

* ``.safetensors`` (read with :func:`safetensors.torch.load` — no code can run);
* ``.pt`` / ``.pth`` / ``.bin`` / ``.ckpt``: a PyTorch file read with
  ``torch.load(weights_only=True)``, which unpickles only tensors, containers and primitive
  types. A file that pickles an object with code (a whole ``nn.Module``, a custom class, a
  ``__reduce__`` payload) is **refused**, never executed.

Checkpoints saved by training scripts often nest the state dict (``{"state_dict": …}``,
``{"model": …}``, ``{"model_state_dict": …}``, ``{"net": …}``, ``{"ema": …}``) and prefix every key with
``module.`` (``nn.DataParallel``) or ``model.``; RobustBench and many paper releases do both.
:func:`unwrap_state_dict` finds the tensor dict and :func:`strip_prefixes` removes a prefix shared by
every key. Every problem raises :class:`ModelFileError` with a message meant for the user.
"""
from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load

from core.runtime import limits

WEIGHT_SUFFIXES = (".safetensors", ".pt", ".pth", ".bin", ".ckpt")
NESTED_KEYS = ("state_dict", "model_state_dict", "model", "net", "network", "ema", "model_ema", "module")
PREFIXES = ("module.", "model.", "net.", "_orig_mod.", "base_model.")


class ModelFileError(ValueError):
    """A model file or description that cannot be used; the message is shown to the user."""


def _is_tensor_dict(obj: object) -> bool:
    return isinstance(obj, Mapping) and len(obj) > 0 and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())


def unwrap_state_dict(obj: object, where: str = "the file") -> dict[str, torch.Tensor]:
    """The flat ``{name: tensor}`` dict inside a loaded checkpoint (nested keys followed,
    non-tensor metadata such as ``epoch`` or ``optimizer`` ignored)."""
    seen = 0
    while not _is_tensor_dict(obj):
        if not isinstance(obj, Mapping) or seen > 4:
            kind = type(obj).__name__
            raise ModelFileError(f"{where} holds a {kind}, not a state dict of named tensors; save "
                                 "`model.state_dict()` (torch.save or safetensors).")
        nested = next((obj[k] for k in NESTED_KEYS if k in obj and isinstance(obj[k], Mapping)), None)
        if nested is None:
            tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
            if tensors and all(isinstance(k, str) for k in tensors):
                return dict(tensors)  # a state dict with some extra non-tensor entries
            keys = ", ".join(map(str, list(obj)[:8]))
            raise ModelFileError(f"{where} is a dict without tensors (keys: {keys}); expected a state dict, "
                                 f"possibly under one of: {', '.join(NESTED_KEYS)}.")
        obj = nested
        seen += 1
    return dict(obj)  # type: ignore[arg-type]


def strip_prefixes(sd: dict[str, torch.Tensor], expected: set[str] | None = None) -> dict[str, torch.Tensor]:
    """Remove ``module.``/``model.``/… when every key carries it, repeatedly (``module.model.x``).

    With ``expected`` (the architecture's own keys) a prefix is only removed when that makes
    more keys match, so a network whose own first submodule is called ``model`` is left alone.
    """
    changed = True
    while changed:
        changed = False
        for p in PREFIXES:
            if sd and all(k.startswith(p) for k in sd):
                cand = {k[len(p):]: v for k, v in sd.items()}
                if expected is None or len(set(cand) & expected) >= len(set(sd) & expected):
                    sd, changed = cand, True
    return sd


def read_weights_bytes(data: bytes, name: str) -> dict[str, torch.Tensor]:
    """A flat state dict from the bytes of a weights file called ``name`` (its suffix picks
    the format). Refuses pickled code, other formats and empty or non-finite tensors."""
    suffix = Path(name).suffix.lower()
    if len(data) > limits.MAX_MODEL_FILE_BYTES:
        raise ModelFileError(f"{name} is {len(data) / 2**20:.0f} MB; the limit is "
                             f"{limits.MAX_MODEL_FILE_BYTES / 2**20:.0f} MB (core/runtime/limits.py).")
    if suffix == ".safetensors":
        try:
            sd = st_load(data)
        except (SafetensorError, ValueError, RuntimeError) as e:
            raise ModelFileError(f"{name} is not a valid safetensors file ({e}).") from None
    elif suffix in WEIGHT_SUFFIXES:
        if data[:2] == b"PK" or data[:1] == b"\x80":
            try:
                obj = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
            except Exception as e:  # noqa: BLE001 — pickle.UnpicklingError from the weights-only unpickler
                if type(e).__name__ != "UnpicklingError":
                    raise ModelFileError(f"{name} is not a readable PyTorch file "
                                         f"({(str(e).splitlines() or [type(e).__name__])[0][:200]}).") from None
                first = str(e).split("\n")[0] if "WeightsUnpickler" not in str(e) else \
                    next((ln for ln in str(e).splitlines() if "Unsupported" in ln or "GLOBAL" in ln), str(e)[:200])
                raise ModelFileError(
                    f"{name} was refused: it pickles Python objects or code, which are never run here "
                    f"({first.strip()}). Save only the weights: `torch.save(model.state_dict(), path)` "
                    "or a .safetensors file.") from None
        else:
            raise ModelFileError(f"{name} is not a PyTorch file (a .pt/.pth file is a zip archive or a pickle; "
                                 "this one starts differently). Is it another format?")
        sd = unwrap_state_dict(obj, name)
    elif suffix == ".onnx":
        raise ModelFileError(f"{name} is an ONNX file; describe it with `onnx = \"…\"`, not `weights`.")
    else:
        raise ModelFileError(f"{name}: unknown weights format {suffix or '(no suffix)'}; use "
                             f"{', '.join(WEIGHT_SUFFIXES)}.")
    if not sd:
        raise ModelFileError(f"{name} holds no tensors.")
    check_finite(sd, name)
    return sd


def read_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """:func:`read_weights_bytes` on a file, with a clear error when it is missing."""
    p = Path(path)
    if not p.is_file():
        raise ModelFileError(f"weights file {p} does not exist.")
    size = p.stat().st_size
    if size > limits.MAX_MODEL_FILE_BYTES:
        raise ModelFileError(f"{p.name} is {size / 2**20:.0f} MB; the limit is "
                             f"{limits.MAX_MODEL_FILE_BYTES / 2**20:.0f} MB (core/runtime/limits.py).")
    return read_weights_bytes(p.read_bytes(), p.name)


def check_finite(sd: Mapping[str, torch.Tensor], where: str) -> None:
    """Refuse NaN or infinite values in floating-point tensors (names listed)."""
    bad = [k for k, v in sd.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
        raise ModelFileError(f"{where} has NaN or infinite values in {', '.join(bad[:5])}{more}.")


def compare_state_dicts(have: Mapping[str, torch.Tensor], want: Mapping[str, torch.Tensor]
                        ) -> tuple[list[str], list[str], list[str]]:
    """(missing keys, unexpected keys, shape mismatches as ``key: file shape vs model shape``)."""
    missing = [k for k in want if k not in have]
    unexpected = [k for k in have if k not in want]
    shapes = [f"{k}: file {tuple(have[k].shape)} vs model {tuple(want[k].shape)}"
              for k in want if k in have and tuple(have[k].shape) != tuple(want[k].shape)]
    return missing, unexpected, shapes


def match_score(have: Mapping[str, torch.Tensor], want: Mapping[str, tuple[int, ...]]) -> float:
    """Fraction of keys (union of both) present in both with the same shape: 1.0 = exact fit."""
    union = set(have) | set(want)
    same = sum(1 for k in want if k in have and tuple(have[k].shape) == tuple(want[k]))
    return same / max(1, len(union))
