"""The import rules of the package: no import cycles among cartwise modules, and no module
importing from a layer above its own.

Imports are read from the source (``ast``), wherever they stand: at the top, inside a
function (the usual way to dodge a cycle) or behind ``try``. Imports under
``if TYPE_CHECKING:`` never run, so they cannot form a cycle, but they still may not point
upward: a type from a higher layer is a dependency on it all the same.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cartwise

ROOT = Path(cartwise.__file__).parent

# Lowest first. A module may import from its own layer and any layer below it. The name is
# the first part after ``cartwise.`` (a top-level module or package); "cartwise" is the
# package itself, whose ``cartwise.Engine`` is one of the three faces of the engine.
LAYERS: tuple[frozenset[str], ...] = tuple(
    frozenset(layer.split())
    for layer in (
        "errors limits",
        "events catalog metrics",
        "store workspace",
        "access ingest encode vectors demo",
        "search recommend clicks rank",
        "results evaluate training versions feedback graph insights logbook online",
        "live retrain bus",
        "engine serving rules experiments",
        "assistant",
        "api cli web cartwise",
    )
)

# Known upward imports, each with what will remove it: (importer, imported) -> why. Each
# one is also left out of the cycle check. None today: the last one, recommend.blend ->
# the model versions module, went with the recommender registry (issue 10 point 3).
ALLOWED_UPWARD: dict[tuple[str, str], str] = {}


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    line: int
    type_only: bool

    def __str__(self) -> str:
        return f"{self.source} -> {self.target} ({_path(self.source)}:{self.line})"


def _modules() -> dict[str, Path]:
    modules = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = ["cartwise", *path.relative_to(ROOT).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


MODULES = _modules()


def _path(module: str) -> str:
    return str(MODULES[module].relative_to(ROOT.parent))


def _resolve(name: str) -> str | None:
    """The cartwise module that importing `name` runs (an attribute resolves to its module)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _type_checking_nodes(tree: ast.Module) -> set[int]:
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            inside.update(id(child) for stmt in node.body for child in ast.walk(stmt))
    return inside


def _edges(module: str) -> Iterator[Edge]:
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    type_only = _type_checking_nodes(tree)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from package import submodule` depends on the submodule only.
            names = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names
            ]
        else:
            continue
        for name in names:
            target = _resolve(name) if name.split(".")[0] == "cartwise" else None
            if target is not None and target != module:
                yield Edge(module, target, node.lineno, id(node) in type_only)


EDGES = sorted({edge for module in MODULES for edge in _edges(module)}, key=str)


def _top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def _layer(module: str) -> int | None:
    return next((i for i, layer in enumerate(LAYERS) if _top(module) in layer), None)


def _cycles(edges: list[Edge]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    graph: dict[str, set[str]] = {}
    for edge in edges:
        graph.setdefault(edge.source, set()).add(edge.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
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


def test_every_top_level_module_has_a_layer() -> None:
    missing = sorted({_top(m) for m in MODULES if _layer(m) is None})
    assert not missing, f"place these in LAYERS of tests/test_architecture.py: {missing}"


def test_no_import_cycles() -> None:
    edges = [e for e in EDGES if not e.type_only and (e.source, e.target) not in ALLOWED_UPWARD]
    cycles = _cycles(edges)
    detail = [
        f"cycle {' <-> '.join(cycle)}: " + "; ".join(str(e) for e in edges if e.source in cycle and e.target in cycle)
        for cycle in cycles
    ]
    assert not cycles, "\n".join(detail)


def test_no_upward_imports() -> None:
    upward = []
    for e in EDGES:
        source, target = _layer(e.source), _layer(e.target)
        # A module without a layer fails test_every_top_level_module_has_a_layer instead.
        if source is not None and target is not None and source < target and (e.source, e.target) not in ALLOWED_UPWARD:
            upward.append(str(e))
    assert not upward, "imports from a higher layer (see LAYERS):\n" + "\n".join(upward)


def test_the_checks_see_what_they_should() -> None:
    """The graph is read right: a plain, a function-level and a relative-free import each
    appear, and a made-up cycle and upward import are caught."""
    pairs = {(e.source, e.target) for e in EDGES}
    assert ("cartwise.engine", "cartwise.store") in pairs
    assert ("cartwise", "cartwise.engine") in pairs  # inside `__getattr__`
    assert _cycles([Edge("a", "b", 1, False), Edge("b", "c", 1, False), Edge("c", "a", 1, False)]) == [
        ["a", "b", "c"]
    ]
    layers = [_layer(m) for m in ("cartwise.errors", "cartwise.store.sqlite", "cartwise.recommend.base",
                                  "cartwise.evaluate.recs", "cartwise.engine", "cartwise.cli.main")]
    assert None not in layers and layers == sorted(set(layers))
