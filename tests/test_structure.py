"""The shape of the code: import-linter's contracts hold (pyproject.toml: the layers, no circles), the
tools have no import circle, every core package says what lives there, loading a model does not
import the training code, imports inside functions say why they are there, and nothing refers to
notes outside the repository."""
from __future__ import annotations

import ast
import io
import re
import subprocess
import sys
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "core"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _module_level_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Imports that run when the module is imported: at module level and in class bodies or
    module-level ``if``/``try`` blocks, not in functions and not under ``if TYPE_CHECKING``."""
    found: list[ast.Import | ast.ImportFrom] = []

    def walk(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                found.append(node)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            elif isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                walk(node.orelse)
            else:
                for name in ("body", "orelse", "finalbody"):
                    walk(getattr(node, name, []) or [])
                for handler in getattr(node, "handlers", []) or []:
                    walk(handler.body)

    walk(tree.body)
    return found


def tools_import_graph() -> dict[str, set[str]]:
    """tools/ script -> the tools/ scripts it imports at module level. The scripts import each other
    by bare name (each puts tools/ on ``sys.path`` by being run from it), which import-linter's
    graph of packages does not see, so this one is read here."""
    files = {p.stem: p for p in sorted((ROOT / "tools").glob("*.py"))}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        deps: set[str] = set()
        for node in _module_level_imports(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                deps.update(a.name for a in node.names if a.name in files)
            elif not node.level and node.module in files:
                deps.add(node.module)
        graph[name] = deps - {name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle as a list of nodes (first == last), or None."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            found = visit(start)
            if found:
                return found
    return None


def test_cycle_finder_sees_a_circle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_no_import_circles_between_tools():
    graph = tools_import_graph()
    # known edges, so that an empty or broken graph cannot pass
    assert {"zoo_common", "seed_zoo"} <= graph["train_zoo"] and "zoo_common" in graph["ensemble_zoo"]
    cycle = find_cycle(graph)
    assert cycle is None, "import circle in tools/: " + " -> ".join(cycle)


def test_import_linter_contracts_hold():
    """The layers (views -> ui -> core; core's own layers), core without Streamlit, models without
    training and no circles between siblings: the contracts in pyproject.toml, checked by import-linter."""
    exe = Path(sys.executable).with_name("lint-imports")
    out = subprocess.run([str(exe), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert "BROKEN" not in out.stdout and out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert out.stdout.count("KEPT") >= 5


def test_every_core_package_says_what_lives_there():
    """Each folder of core has a docstring, and no package's top level holds more than about a dozen entries."""
    for init in sorted(CORE.rglob("__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        assert doc and len(doc) > 40, f"{init.relative_to(ROOT)} has no docstring saying what lives there"
        entries = [p for p in init.parent.iterdir() if p.name not in ("__pycache__", "__init__.py")]
        assert len(entries) <= 14, f"{init.parent.relative_to(ROOT)} has {len(entries)} entries"


def test_loading_a_zoo_model_does_not_import_training():
    code = (
        "import sys\n"
        "import core.models.registry as registry\n"
        "names = [s.name for s in registry.list_models('fashion-mnist')]\n"
        "assert names, 'no zoo model registered (assets/zoo missing?)'\n"
        "model = registry.load_model(names[0], 'cpu')\n"
        "import torch\n"
        "assert model(torch.zeros(1, 3, 28, 28)).shape == (1, 10)\n"
        "print(sorted(m for m in sys.modules if m == 'core.train' or m.startswith('core.train.')"
        " or m.startswith(('core.attacks', 'core.explain', 'captum'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", f"loading a zoo model imported {out.stdout.strip()}"


# --------------------------------------------------------------------------- outside references
# Briefs that lived beside the checkout, never in it: a reader of the project cannot follow a
# reference to them. The project's own notes are its docs/ folder and the module docstrings.
# Every name is assembled from parts, so that this file holds none of the references it forbids.
_DESIGN_STEM, _ALGO_STEM = "DES" + "IGN", "ALGO" + "RITHMS"
_DESIGN_NOTE, _ALGO_NOTE, _SHARED, _WORK = _DESIGN_STEM + ".md", _ALGO_STEM + ".md", "sha" + "red", "/wo" + "rk/"
_OUTSIDE = re.compile(rf"(?<![\w/])(?:\.\./)+{_SHARED}\b|{_WORK}|\b{_SHARED}/(?:{_DESIGN_STEM}|{_ALGO_STEM})\b"
                      rf"|\b{re.escape(_DESIGN_NOTE)}\b|(?<!docs/)(?<![\w/]){re.escape(_ALGO_NOTE)}\b")
_TEXT_SUFFIXES = {".py", ".md", ".txt", ".toml", ".cfg", ".ini", ".json", ".yaml", ".yml", ".sh", ".html", ".css"}


def _tracked_files() -> list[Path]:
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, timeout=60)
        names = [n for n in out.stdout.decode("utf-8").split("\0") if n]
    except (OSError, subprocess.SubprocessError):  # not a git checkout (an unpacked archive)
        skip = {".git", ".venv", "__pycache__", "node_modules"}
        names = [str(p.relative_to(ROOT)) for p in ROOT.rglob("*")
                 if p.is_file() and not skip.intersection(p.relative_to(ROOT).parts)]
    return [ROOT / n for n in names if Path(n).suffix in _TEXT_SUFFIXES]


def outside_references(text: str) -> list[str]:
    """The references to notes outside the repository in ``text``."""
    return [m.group(0) for m in _OUTSIDE.finditer(text)]


def test_outside_reference_pattern():
    assert outside_references(f"see {_ALGO_NOTE} section 8") == [_ALGO_NOTE]
    assert outside_references(f"({_DESIGN_NOTE})") == [_DESIGN_NOTE]
    up = f"../{_SHARED}"
    assert outside_references(f"{up}/notes.txt and ../{up}") == [up, f"../{up}"]
    assert outside_references(f"cd {_WORK}main && make") == [_WORK]
    assert outside_references(f"summary in docs/{_ALGO_NOTE}; core/{_SHARED}_state.py") == []


def test_no_tracked_file_refers_to_notes_outside_the_repository():
    files = _tracked_files()
    own = ROOT / "docs" / _ALGO_NOTE  # the project's own algorithm notes
    assert own in files, f"{own.relative_to(ROOT)} is missing"
    assert len(files) > 50
    me = Path(__file__).resolve()
    found = {}
    for path in files:
        if path.resolve() == me or not path.is_file():
            continue
        refs = outside_references(path.read_text(encoding="utf-8", errors="replace"))
        if refs:
            found[str(path.relative_to(ROOT))] = sorted(set(refs))
    assert not found, f"references to notes outside the repository: {found}"


# --------------------------------------------------------------------------- local imports
# Imports sit at module level. One inside a function needs a reason (a heavy optional
# dependency, keeping ``python -m core --help`` free of torch) written as a comment on its line
# or on the line directly above; a block of imports that follow one another is covered by a
# comment above its first line.
_APP_SOURCES = ("core", "ui", "views")


def _app_files() -> list[Path]:
    files = [p for d in _APP_SOURCES for p in sorted((ROOT / d).rglob("*.py"))]
    return files + [ROOT / "app.py"]


def _has_comment(line: str) -> bool:
    """True when ``line`` holds a ``#`` comment (not a ``#`` inside a string)."""
    try:
        return any(t.type == tokenize.COMMENT for t in tokenize.generate_tokens(io.StringIO(line).readline))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return "#" in line


def uncommented_local_imports(source: str) -> list[int]:
    """Line numbers of imports inside functions with no comment saying why: none on the
    import's line, none on the line directly above, and not in a run of imports (consecutive
    statements of one body) whose first import is so commented."""
    tree = ast.parse(source)
    lines = source.splitlines()

    def commented(node: ast.stmt) -> bool:
        own = lines[node.lineno - 1]
        above = lines[node.lineno - 2].strip() if node.lineno >= 2 else ""
        return _has_comment(own) or above.startswith("#")

    bad: list[int] = []

    def check_body(body: list[ast.stmt], in_function: bool) -> None:
        run_ok = False  # the current run of consecutive imports is covered by a comment
        prev_import = False
        for node in body:
            is_import = isinstance(node, (ast.Import, ast.ImportFrom))
            if is_import and in_function:
                if commented(node):
                    run_ok = True
                elif not (prev_import and run_ok):
                    bad.append(node.lineno)
                    run_ok = False
            prev_import = is_import
            if not is_import:
                run_ok = False
            inner = in_function or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            for name in ("body", "orelse", "finalbody"):
                child = getattr(node, name, None)
                if isinstance(child, list):
                    check_body(child, inner)
            for handler in getattr(node, "handlers", []) or []:
                check_body(handler.body, inner)
            for case in getattr(node, "cases", []) or []:
                check_body(case.body, inner)

    check_body(tree.body, False)
    return sorted(bad)


def test_local_import_checker():
    src = (
        "import os\n"
        "def f():\n"
        "    import json\n"                       # 3: no reason
        "    # local: torch is slow to import\n"
        "    import torch\n"                      # covered by the comment above
        "    from torch import nn\n"              # covered: same run
        "    x = 1\n"
        "    import ray\n"                        # 8: the run was broken by x = 1
        "    import onnx  # local: optional\n"    # own comment
        "    if x:\n"
        "        import timm\n"                   # 11: nested, no reason
        "    s = '#'; import re\n"                # 12: a '#' in a string is no comment
        "class C:\n"
        "    import math\n"                       # class body, not a function: module level
        "    def g(self):\n"
        "        try:\n"
        "            import yaml\n"               # 17
        "        except ImportError:\n"
        "            pass\n"
    )
    assert uncommented_local_imports(src) == [3, 8, 11, 12, 17]


def test_imports_inside_functions_say_why():
    found = {}
    for path in _app_files():
        bad = uncommented_local_imports(path.read_text(encoding="utf-8"))
        if bad:
            found[str(path.relative_to(ROOT))] = bad
    assert not found, ("imports inside functions without a comment saying why "
                       f"(move them to module level, or say why they stay local): {found}")
