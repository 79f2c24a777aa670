"""An ONNX classifier converted to a PyTorch module (``onnx2torch``), so gradients flow through it.

Attacks and explanations need gradients with respect to the input, which an ONNX runtime does
not give; ``onnx2torch`` rebuilds the graph as a ``torch.fx.GraphModule`` of torch operations.

What converts (checked with torch 2.14.1, onnx 1.23, onnx2torch 1.5.15, files written by
``torch.onnx.export(..., dynamo=False)``; the dynamo exporter needs ``onnxscript``, not installed):

* CNNs (Conv, BatchNormalization, Relu, MaxPool, GlobalAveragePool, Gemm, Add, Concat, …) and
  vision transformers (torchvision ``vit_b_16``, ``swin_t`` at opset 17) convert with logits equal
  to float rounding.
* The exporter deduplicates equal initialisers into ``Identity`` nodes (e.g. the zero biases of
  freshly initialised networks), and ``onnx2torch`` has no converter for ``Identity`` at opset
  19+ and reads conv weights only from initialisers; when the file does not convert as it is,
  :func:`_inline_identity_initializers` rewrites such nodes into initialisers and it is tried again.
* Operators without a converter at the file's opset (e.g. ``Pad``-18, ``Identity``-19, ``Gelu``-20,
  anything not in ``onnx2torch``'s registry) are listed in the error; before that, the file is
  down-converted to opset 17 with ``onnx.version_converter`` and tried once more.
  ``tools/onnx_support.py`` lists every standard operator without a converter.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from core.runtime import limits
from core.models.user.checkpoint import ModelFileError

FALLBACK_OPSET = 17


def _onnx():
    # onnx and onnx2torch are imported here only: optional and heavy, needed only for ONNX models.
    import onnx
    import onnx2torch

    return onnx, onnx2torch


def _inline_identity_initializers(model) -> None:
    """Replace ``Identity(initializer)`` nodes by a copy of the initialiser under the output name."""
    inits = {i.name: i for i in model.graph.initializer}
    keep = []
    for node in model.graph.node:
        if node.op_type == "Identity" and node.input and node.input[0] in inits:
            t = type(inits[node.input[0]])()
            t.CopyFrom(inits[node.input[0]])
            t.name = node.output[0]
            model.graph.initializer.append(t)
            inits[t.name] = t
        else:
            keep.append(node)
    del model.graph.node[:]
    model.graph.node.extend(keep)


def _variant(model, attempt: str):
    """A copy of ``model`` for one conversion attempt (see :func:`load_onnx_bytes`)."""
    onnx, _ = _onnx()
    if attempt == "as is":
        return model
    if attempt == "inline":
        m = onnx.ModelProto()
        m.CopyFrom(model)
    else:
        from onnx import version_converter  # local: onnx is optional and heavy (see _onnx)

        m = version_converter.convert_version(model, FALLBACK_OPSET)
    _inline_identity_initializers(m)
    return m


def unsupported_ops(model) -> list[str]:
    """``op (opset n)`` of every node ``onnx2torch`` has no converter for (sorted, unique)."""
    _onnx()
    from onnx2torch.node_converters.registry import get_converter  # local: optional and heavy (see _onnx)

    opsets = {o.domain: o.version for o in model.opset_import}
    bad = set()
    for node in model.graph.node:
        try:
            get_converter(node.op_type, opsets.get(node.domain, opsets.get("", 0)), node.domain or "")
        except NotImplementedError:
            bad.add(f"{node.op_type} (opset {opsets.get(node.domain, opsets.get('', 0))})")
    return sorted(bad)


def load_onnx_bytes(data: bytes, name: str = "model.onnx") -> nn.Module:
    """A PyTorch module (eval mode) computing the ONNX graph in ``data``; clear errors for
    files that are not ONNX, fail the checker, or use operators that do not convert."""
    onnx, onnx2torch = _onnx()
    if len(data) > limits.MAX_MODEL_FILE_BYTES:
        raise ModelFileError(f"{name} is larger than the {limits.MAX_MODEL_FILE_BYTES / 2**20:.0f} MB limit.")
    try:
        model = onnx.load_from_string(data)
        onnx.checker.check_model(model)
    except Exception as e:  # noqa: BLE001 — protobuf decode errors and checker errors have many types
        raise ModelFileError(f"{name} is not a valid ONNX model ({str(e).splitlines()[0][:200]}).") from None
    if len(model.graph.input) - len({i.name for i in model.graph.initializer} & {i.name for i in model.graph.input}) != 1:
        raise ModelFileError(f"{name} must have exactly one input (the image batch).")
    # Three tries, the first that converts wins: the file as it is; with Identity(initializer)
    # nodes turned into initialisers; down-converted to opset 17 (and the same rewrite).
    bad: list[str] = []
    error: Exception | None = None
    for attempt in ("as is", "inline", "opset17"):
        try:
            candidate = _variant(model, attempt)
        except Exception as e:  # noqa: BLE001 — onnx.version_converter fails on some graphs
            error = e
            continue
        bad = unsupported_ops(candidate)
        if bad:
            continue
        try:
            net = onnx2torch.convert(candidate)
            break
        except Exception as e:  # noqa: BLE001 — converter errors carry their own types
            error = e
    else:
        if bad:
            raise ModelFileError(f"{name} uses ONNX operators that do not convert to PyTorch (onnx2torch): "
                                 f"{', '.join(bad)}. Re-export with opset 17 or replace these operators.")
        msg = (str(error).splitlines() or [""])[0][:200]
        raise ModelFileError(f"{name} could not be converted to PyTorch ({type(error).__name__}: {msg}).")
    return net.eval()


def load_onnx(path: str | Path) -> nn.Module:
    """:func:`load_onnx_bytes` on a file (missing file: a clear error)."""
    p = Path(path)
    if not p.is_file():
        raise ModelFileError(f"ONNX file {p} does not exist.")
    if p.stat().st_size > limits.MAX_MODEL_FILE_BYTES:
        raise ModelFileError(f"{p.name} is larger than the {limits.MAX_MODEL_FILE_BYTES / 2**20:.0f} MB limit.")
    return load_onnx_bytes(p.read_bytes(), p.name)


def onnx_state(net: nn.Module) -> dict[str, torch.Tensor]:
    """The converted module's tensors (for the finiteness check)."""
    return dict(net.state_dict())
