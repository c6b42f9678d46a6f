"""The shape of the code, checked by walking every import with `ast`: no module of the project
takes part in an import circle, the analytics core imports nothing else of analytics, and settings
are read only by the composition root (app.py and wiring/) and the tests. Imports under
`if TYPE_CHECKING:` are for type checkers only and do not count."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("analytics", "bot", "discovery", "gorgias", "mcp_server", "observability", "shopify", "sql", "wiring")


def project_modules() -> dict[str, Path]:
    modules = {"app": ROOT / "app.py", "settings": ROOT / "settings.py"}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            modules[name.removesuffix(".__init__")] = path
    return modules


def _runtime_nodes(tree: ast.AST):
    """Every node except what sits under `if TYPE_CHECKING:`."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and getattr(node.test, "id", getattr(node.test, "attr", None)) == "TYPE_CHECKING":
            stack.extend(node.orelse)
            continue
        yield node
        stack.extend(ast.iter_child_nodes(node))


def imports_of(path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules a file imports at run time (module level or inside a function)."""
    found: set[str] = set()

    def owner(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {m for a in node.names if (m := owner(a.name))}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                target = owner(f"{node.module}.{alias.name}") or owner(node.module)
                if target:
                    found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()
    return {name: imports_of(path, modules) - {name} for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
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
    return found


def test_the_cycle_finder_finds_a_circle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_takes_part_in_an_import_circle():
    graph = import_graph()
    assert len(graph) > 80, "the walk should see the whole project"
    assert cycles(graph) == []


def test_the_analytics_core_imports_nothing_else_of_analytics():
    graph = import_graph()
    assert {m for m in graph["analytics.core"] if m.startswith("analytics")} == set()


def test_observability_imports_nothing_of_the_project():
    """Every package records metrics, so the metrics module must depend on none of them."""
    graph = import_graph()
    assert "observability.metrics" in graph
    for name, deps in graph.items():
        if name.startswith("observability"):
            assert {d for d in deps if not d.startswith("observability")} == set(), name


def test_settings_are_read_only_by_the_composition_root():
    graph = import_graph()
    readers = {name for name, deps in graph.items() if "settings" in deps}
    assert readers and readers <= {"app"} | {name for name in graph if name == "wiring" or name.startswith("wiring.")}


SURFACES = ("bot", "gorgias", "mcp_server", "shopify")


def test_surfaces_never_import_each_other_and_nothing_imports_them_but_the_root():
    """bot (Slack), gorgias and mcp_server are surfaces: only the composition root wires them."""
    graph = import_graph()
    root = {"app"} | {name for name in graph if name == "wiring" or name.startswith("wiring.")}
    for name, deps in graph.items():
        for package in SURFACES:
            if any(d == package or d.startswith(package + ".") for d in deps):
                assert name == package or name.startswith(package + ".") or name in root, f"{name} imports {package}"
    for name, deps in graph.items():
        if name.startswith(("analytics", "discovery", "sql")):
            assert not any(d.startswith((*SURFACES, "wiring")) or d == "app" for d in deps), name
