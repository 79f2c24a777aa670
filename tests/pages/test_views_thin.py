"""Views only arrange widgets and figures: no torch, no model forward, no hash of their own.

An AST check over every file in views/: a view must not import torch or hashlib, must not call
anything reached through ``torch``, must not call a model (a name such as ``model`` or
``classifier``) or ask it for its parameters, and must not open a ``torch.no_grad`` block. The
computations live in core and reach the page through ui.run.run_and_show.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

VIEWS = sorted(p for p in (Path(__file__).resolve().parents[2] / "views").glob("*.py") if p.name != "__init__.py")
MODEL_NAMES = {"model", "classifier", "m", "mc", "cm", "target_model"}
FORBIDDEN_MODULES = {"torch", "hashlib"}


def _root(node: ast.AST) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Call, ast.Subscript)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def offences(source: str) -> list[str]:
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out += [f"import {a.name}" for a in node.names if a.name.split(".")[0] in FORBIDDEN_MODULES]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in FORBIDDEN_MODULES:
            out.append(f"from {node.module} import …")
        elif isinstance(node, ast.Call):
            f = node.func
            if _root(f) == "torch":
                out.append(f"line {node.lineno}: a torch call")
            elif isinstance(f, ast.Name) and f.id in MODEL_NAMES:
                out.append(f"line {node.lineno}: calls the model {f.id}(…)")
            elif isinstance(f, ast.Attribute) and f.attr in ("parameters", "forward", "forward_logits",
                                                              "forward_features", "no_grad"):
                out.append(f"line {node.lineno}: .{f.attr}(…)")
    return out


def test_the_check_finds_what_it_forbids():
    bad = ("import torch\nimport hashlib\nwith torch.no_grad():\n    z = model(x)\n"
           "dev = next(model.parameters()).device\ny = model.forward_logits(x)\n")
    found = offences(bad)
    assert len(found) == 6, found
    assert offences("from core.analysis import predict\nz = predict(model, x)\n") == []


@pytest.mark.parametrize("path", VIEWS, ids=lambda p: p.name)
def test_view_does_not_compute(path):
    assert offences(path.read_text()) == []
