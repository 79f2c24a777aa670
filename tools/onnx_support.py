"""Which standard ONNX operators convert to PyTorch with the pinned onnx2torch (docs/models/user_models.md).

onnx2torch picks a converter by the schema version in force at the file's opset, so an operator
can convert at opset 17 and not at 22 (its schema changed). Prints the operators with no converter
at any version, and those whose newer schema versions have none.

    .venv/bin/python tools/onnx_support.py
"""
from __future__ import annotations

from importlib.metadata import version


def main() -> None:
    import onnx
    import onnx.defs
    from onnx2torch.node_converters.registry import _CONVERTER_REGISTRY

    have: dict[str, set[int]] = {}
    for d in _CONVERTER_REGISTRY:
        if d.domain in ("", "ai.onnx"):
            have.setdefault(d.operation_type, set()).add(d.version)
    versions: dict[str, set[int]] = {}
    for s in onnx.defs.get_all_schemas_with_history():
        if s.domain in ("", "ai.onnx"):
            versions.setdefault(s.name, set()).add(s.since_version)
    print(f"onnx {onnx.__version__}, onnx2torch {version('onnx2torch')}: "
          f"{len(versions)} standard operators")
    none = sorted(n for n in versions if n not in have)
    print(f"\nNo converter ({len(none)}): " + ", ".join(none))
    partial = sorted(n for n in versions if n in have and max(versions[n]) > max(have[n]))
    print(f"\nConvert only up to a schema version ({len(partial)}):")
    for n in partial:
        newer = sorted(v for v in versions[n] if v > max(have[n]))
        print(f"  {n}: up to the opset-{max(have[n])} schema; not {', '.join(map(str, newer))}")


if __name__ == "__main__":
    main()
