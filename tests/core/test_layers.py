"""The core's modules import each other in one direction: no circles (issue 12)."""

from __future__ import annotations

import ast
import pkgutil
from pathlib import Path

import ndestudio.core

CORE = Path(ndestudio.core.__path__[0])


def _imports(path: Path) -> set[str]:
    """The ``ndestudio`` modules a file imports, at the top or inside functions."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {n for n in names if n.startswith("ndestudio.core")}


def _module_files() -> dict[str, Path]:
    files = {}
    for info in pkgutil.walk_packages([str(CORE)], "ndestudio.core."):
        spec = info.module_finder.find_spec(info.name.rsplit(".", 1)[-1], None)  # type: ignore[call-arg]
        if spec is not None and spec.origin:
            files[info.name] = Path(spec.origin)
    return files


def _resolve(name: str, modules: set[str]) -> str | None:
    """The module an import names (``from pkg import mod`` names ``pkg``; its ``__init__``)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def test_the_specs_import_nothing_above_them():
    assert _imports(CORE / "specs.py") <= {"ndestudio.core.errors"}


def _graph() -> dict[str, set[str]]:
    """Module → the modules it imports; an import of a package stands for the modules its
    ``__init__`` imports (packages re-export them), so packages are not nodes."""
    files = _module_files()
    modules = set(files)
    packages = {n for n, p in files.items() if p.name == "__init__.py"}
    direct = {
        name: {m for m in (_resolve(i, modules) for i in _imports(path)) if m and m != name}
        for name, path in files.items()
    }

    def expand(name: str, seen: frozenset[str] = frozenset()) -> set[str]:
        if name not in packages:
            return {name}
        out: set[str] = set()
        for m in direct[name] - seen:
            out |= expand(m, seen | {name})
        return out

    return {
        name: {e for m in targets for e in expand(m)} - {name}
        for name, targets in direct.items()
        if name not in packages
    }


def test_no_core_module_imports_itself_round_a_circle():
    graph = _graph()
    circles: list[str] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                circles.append(" -> ".join([*path[path.index(nxt) :], nxt]))
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert not circles, circles
