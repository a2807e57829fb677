"""The shape of app/: no import circles among its modules (a function-level import counts too),
and no Flask below the HTTP edge.

The import graph is read from the source with ``ast``, so an import that only runs on some path
is seen as well.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

APP = Path(__file__).resolve().parents[2] / "app"


def _modules() -> dict[str, Path]:
    """Every module of app/ by dotted name (a package by its own name)."""
    found = {}
    for path in APP.rglob("*.py"):
        parts = list(path.relative_to(APP.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _resolve(module: str, is_package: bool, level: int, name: str | None) -> str:
    """The absolute name of ``from <level dots><name> import ...`` written in ``module``."""
    if not level:
        return name or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[:len(base) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def import_graph() -> dict[str, set[str]]:
    """Module -> the app modules it imports. Importing ``a.b.c`` runs ``a.b`` too, unless the
    importer is inside ``a.b`` already (it is then being imported); the root package ``app``
    (the app factory, which imports everything) is left out."""
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for module, path in modules.items():
        is_package = path.name == "__init__.py"
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                source = _resolve(module, is_package, node.level, node.module)
                for alias in node.names:
                    child = f"{source}.{alias.name}"
                    targets.add(child if child in modules else source)
        for target in targets:
            parts = target.split(".")
            for end in range(2, len(parts) + 1):  # the target and the packages it is in
                name = ".".join(parts[:end])
                inside = module == name or module.startswith(name + ".")
                if name in modules and not (inside and name != target) and name != module:
                    graph[module].add(name)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_graph_sees_imports():
    graph = import_graph()
    assert "app.errors" in graph["app.db.engines.base"]
    assert "app.db" in graph["app.services.maintenance"]


def test_no_import_circles_in_app():
    assert _cycles(import_graph()) == []


#: Layers that never need Flask: they take a connection, a blob store and plain values.
FLASK_FREE = ("app.services", "app.dao", "app.db", "app.dicomweb", "app.blobs")


def test_layers_below_the_http_edge_do_not_import_flask():
    """Importing every module of those layers (in a fresh interpreter) loads neither Flask nor
    Werkzeug, directly or through what they import."""
    names = sorted(name for name in _modules()
                   if any(name == layer or name.startswith(layer + ".") for layer in FLASK_FREE))
    code = ("import importlib, sys\n"
            f"for name in {names!r}:\n"
            "    importlib.import_module(name)\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('flask', 'werkzeug')))\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=APP.parent, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
