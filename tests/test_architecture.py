"""The structure docs/architecture.md describes: no import cycle, modules of a readable size.

The layer contract itself (which layer may import which) is import-linter's, in
pyproject.toml's ``[tool.importlinter]`` and run by ``make lint``. This file adds what that
tool does not see: import-linter reads only module-level imports as layers, while a cycle
closed by an import inside a function is still a cycle (the two modules still cannot be
understood, tested or moved apart). So the graph here is built from every import statement,
wherever it stands, ``if TYPE_CHECKING:`` blocks included.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Every folder of webcap's own code; tests, migrations and the benchmarks stay out.
PACKAGES = sorted(
    path.parent.name
    for path in ROOT.glob("*/__init__.py")
    if path.parent.name not in {"tests", "bench"}
)
MAX_LINES = 450
# Modules longer than MAX_LINES that read best as one unit, and why.
ONE_UNIT = {
    "config/settings/base.py": "every setting in one place, read top to bottom by operators",
    "capnweb/session.py": "one class: the session's tables and each message kind's handler share "
    "its state",
}


def _modules() -> dict[str, Path]:
    modules: dict[str, Path] = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def _imported(path: Path, module: str) -> Iterator[str]:
    """Yield every dotted name path imports, at any depth of its code."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def import_graph() -> dict[str, set[str]]:
    """Return module -> the project's modules it imports."""
    modules = _modules()

    def known(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        targets = {known(name) for name in _imported(path, module)}
        graph[module] = {target for target in targets if target and target != module}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Return the strongly connected groups of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            for successor in successors:
                if successor not in index:
                    index[successor] = low[successor] = len(index)
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(graph[successor]))))
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    if len(group) > 1:
                        found.append(sorted(group))
    return found


def test_the_graph_sees_imports_inside_functions():
    graph = import_graph()
    # tools/apps.py imports the built-in tools inside ready(): still an arrow.
    assert "tools.builtins" in graph["tools.apps"]


def test_the_cycle_finder_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]


def test_no_import_cycle():
    found = cycles(import_graph())
    assert found == [], "modules that import each other, directly or round about:\n" + "\n".join(
        ", ".join(group) for group in found
    )


def test_modules_stay_readable():
    long = {
        str(path.relative_to(ROOT)): lines
        for path in _modules().values()
        if (lines := len(path.read_text().splitlines())) > MAX_LINES
    }
    unexplained = {path: lines for path, lines in long.items() if path not in ONE_UNIT}
    assert unexplained == {}, f"over {MAX_LINES} lines; split them or say in ONE_UNIT why not"
