"""The layers stay one-way and the modules small (docs/ARCHITECTURE.md).

``models`` is the floor and imports neither ``etl`` nor ``app``; ``etl`` (every writer) and
``app`` (the read-only dashboard) stand on it and never import each other; ``aidash`` (the
console script) sits above both and nothing imports it; no module imports itself back through
others. Imports inside functions count: a late import is still a
dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("aidash", "app", "etl", "models")
# Which packages each package may import.
ALLOWED = {"models": {"models"}, "etl": {"etl", "models"}, "app": {"app", "models"},
           "aidash": {"aidash", "app", "etl", "models"}}
MAX_LINES = 500


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    found = {_module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}
    found["streamlit_app"] = ROOT / "streamlit_app.py"
    return found


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The project modules ``name`` imports, wherever the import statement sits."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # ``from pkg import mod`` imports the module pkg.mod when there is one.
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base
                       for a in node.names]
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                out.add(target)
    return out


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(name, path, known) for name, path in modules.items()}


def _layer(module: str) -> str:
    return "app" if module == "streamlit_app" else module.split(".")[0]


def test_layers_point_one_way() -> None:
    wrong = sorted(f"{src} imports {dst}" for src, dsts in _graph().items() for dst in dsts
                   if _layer(dst) not in ALLOWED[_layer(src)])
    assert wrong == []


def test_no_import_cycle() -> None:
    graph = _graph()
    # A package's __init__ importing its own modules is not a cycle of jobs.
    for name in graph:
        graph[name] = {d for d in graph[name] if not d.startswith(f"{name}.")}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert [" → ".join(c) for c in cycles] == []


@pytest.mark.parametrize("package", PACKAGES)
def test_modules_stay_small(package: str) -> None:
    long = {str(p.relative_to(ROOT)): n for p in (ROOT / package).rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}


def test_the_checker_sees_late_and_relative_imports(tmp_path: Path) -> None:
    """The import reader itself: an import inside a function and a relative import count."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    code = "from . import b\n\ndef f():\n    from pkg.c import x\n    import pkg.d\n"
    (pkg / "a.py").write_text(code, encoding="utf-8")
    path = pkg / "a.py"
    known = {"pkg", "pkg.a", "pkg.b", "pkg.c", "pkg.d"}
    assert _imports("pkg.a", path, known) == {"pkg.b", "pkg.c", "pkg.d"}
