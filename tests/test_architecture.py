"""The package's structure, measured from its source: no import cycles between packages, one
owner of the ground-truth cards, and modules and functions small enough to read."""

from __future__ import annotations

import ast
import itertools
from collections import defaultdict
from pathlib import Path

import pytest

SRC = Path(__file__).parent.parent / "src" / "neurath"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _unit(module: str) -> str:
    """The package (``neurath.research``) or top-level module (``neurath._errors``) a module
    belongs to: the nodes of the package graph."""
    return ".".join(module.split(".")[:2])


def _imports(path: Path) -> list[tuple[str, int]]:
    """Every neurath module an import statement names, anywhere in the file: at the top, inside
    functions, under ``TYPE_CHECKING``."""
    module = _module_name(path)
    is_package = path.name == "__init__.py"
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            out.append((name, node.lineno))
            out += [(f"{name}.{a.name}", node.lineno) for a in node.names]
    return [(n, line) for n, line in out if n == "neurath" or n.startswith("neurath.")]


def package_graph() -> dict[str, dict[str, list[str]]]:
    """unit -> unit it imports -> where (``file:line``)."""
    graph: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    units = {_unit(_module_name(p)) for p in SRC.rglob("*.py")}
    for path in SRC.rglob("*.py"):
        src = _unit(_module_name(path))
        for name, line in _imports(path):
            dst = _unit(name)
            if dst != src and dst in units:
                graph[src][dst].append(f"{path.relative_to(SRC.parent)}:{line}")
    return graph


def _cycle(graph: dict[str, dict[str, list[str]]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, {})):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_cycle_finder_finds_a_planted_cycle() -> None:
    graph = {"a": {"b": ["x"]}, "b": {"c": ["y"]}, "c": {"a": ["z"]}}
    assert _cycle(graph) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b": ["x"]}, "b": {}}) is None


def test_the_package_import_graph_has_no_cycles() -> None:
    graph = package_graph()
    # The graph is really read: the layers that must import each other do.
    assert "neurath.organisms" in graph["neurath.experiments"]
    assert "neurath.research" in graph["neurath.testbed"]
    cycle = _cycle(graph)
    if cycle:
        edges = [f"{a} -> {b} ({graph[a][b][0]})" for a, b in itertools.pairwise(cycle)]
        pytest.fail("import cycle between packages: " + "; ".join(edges))


@pytest.mark.parametrize(
    ("lower", "upper"),
    [
        ("neurath.models", "neurath.organisms"),
        ("neurath.models", "neurath.experiments"),
        ("neurath.experiments", "neurath.testbed"),
        ("neurath.research", "neurath.testbed"),
        ("neurath.research", "neurath.report"),
        ("neurath.testbed", "neurath.review"),
        ("neurath.review", "neurath.web"),
        ("neurath.evidence", "neurath.review"),
    ],
)
def test_lower_layers_never_import_upper_ones(lower: str, upper: str) -> None:
    assert upper not in package_graph().get(lower, {}), package_graph()[lower][upper]


def test_only_the_organism_store_opens_the_cards_folder() -> None:
    """Ground truth has one reader: a string naming the cards folder or the group index appears
    in exactly one module."""
    holders = set()
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value in ("cards", "_groups.json"):
                holders.add(str(path.relative_to(SRC)))
    assert holders == {"testbed/_store.py"}


def test_modules_and_functions_stay_small() -> None:
    long_modules = {
        str(p.relative_to(SRC)): n
        for p in SRC.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > 400
    }
    assert not long_modules
    long_functions = []
    for folder in ("research", "testbed"):
        for path in (SRC / folder).glob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    size = (node.end_lineno or node.lineno) - node.lineno + 1
                    if size > 60:
                        long_functions.append(f"{folder}/{path.name}:{node.name} ({size})")
    assert not long_functions
