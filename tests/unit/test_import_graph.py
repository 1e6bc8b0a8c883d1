"""The house rules of the import graph: no circles, and each layer imports only downwards.

Read from the source with ``ast``, so the test needs no import of the modules it judges.
Imports inside functions count (a lazy import is still a dependency); imports under
``if TYPE_CHECKING:`` do not, since they never run.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted((SRC / "podspawn").rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _type_checking_only(tree: ast.AST) -> set[int]:
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            test = node.test
            name = test.id if isinstance(test, ast.Name) else getattr(test, "attr", "")
            if name == "TYPE_CHECKING":
                for child in node.body:
                    skipped.update(id(n) for n in ast.walk(child))
    return skipped


def imports_of(module: str, path: Path, known: set[str]) -> set[str]:
    """The podspawn modules ``module`` imports (``from pkg import mod`` counts as ``mod``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = _type_checking_only(tree)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                full = ".".join([*base, node.module] if node.module else base)
            else:
                full = node.module or ""
            targets.add(full)
            targets.update(f"{full}.{alias.name}" for alias in node.names)
    return {t for t in targets if t in known and t != module}


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: imports_of(name, path, known) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph.get(node, ())):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                group.append(top)
                if top == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def test_the_cycle_finder_finds_a_circle_and_ignores_a_chain() -> None:
    """Guard the guard: a → b → c → a is one circle; d → a is not part of it."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_reader_sees_lazy_relative_and_from_imports(tmp_path: Path) -> None:
    """Guard the guard: function-level, relative and ``from pkg import mod`` imports count;
    ``if TYPE_CHECKING:`` imports do not."""
    source = tmp_path / "m.py"
    source.write_text(
        "from podspawn import x\n"
        "from . import y\n"
        "TYPE_CHECKING = False\n"
        "if TYPE_CHECKING:\n"
        "    from podspawn.pkg import z\n"
        "def f():\n"
        "    import podspawn.pkg.w\n"
    )
    known = {"podspawn.x", "podspawn.pkg.y", "podspawn.pkg.z", "podspawn.pkg.w", "podspawn"}
    assert imports_of("podspawn.pkg.m", source, known) == {
        "podspawn", "podspawn.x", "podspawn.pkg.y", "podspawn.pkg.w",
    }


def test_no_import_cycles_among_podspawn_modules() -> None:
    """A circle means two modules are one room with two doors; split out what both need."""
    graph = import_graph()
    assert len(graph) > 50  # the walk found the package
    assert cycles(graph) == []


#: (importer prefix, forbidden prefix, why). Entry points sit on top: nothing below imports
#: them. ``state`` is the floor of the rules, so it never calls them.
LAYER_RULES = [
    (below, entry, f"{below} lies below the entry points; move what it needs out of {entry}")
    for below in ("podspawn.services", "podspawn.state", "podspawn.runtime", "podspawn.config",
                  "podspawn.podfile", "podspawn.client")
    for entry in ("podspawn.cli", "podspawn.login")
] + [
    ("podspawn.state", "podspawn.services", "state is below services"),
    ("podspawn.state", "podspawn.runtime", "state keeps rows, not engines"),
    ("podspawn.runtime", "podspawn.services", "runtime is below services"),
    ("podspawn.podfile", "podspawn.services", "podfile is pure and below services"),
    ("podspawn.podfile", "podspawn.runtime", "podfile is pure: no engine"),
    ("podspawn.config", "podspawn.services", "config is below services"),
]

#: Modules shared by everyone (``podspawn.names``, ``errors``, ``units``...) may not import
#: any layer above them.
FLOOR = ("podspawn.names", "podspawn.errors", "podspawn.labels", "podspawn.locks",
         "podspawn.paths", "podspawn.procs", "podspawn.files", "podspawn.keys",
         "podspawn.authorized_keys", "podspawn.inner_sshd", "podspawn.shells", "podspawn.log",
         "podspawn.audit", "podspawn.access", "podspawn.lifecycle", "podspawn.units",
         "podspawn.validation", "podspawn.yaml_text",
         "podspawn.record")
LAYERS = ("podspawn.cli", "podspawn.login", "podspawn.services", "podspawn.runtime",
          "podspawn.state", "podspawn.podfile", "podspawn.client")


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    rules = LAYER_RULES + [(floor, layer, f"{floor} is shared floor; it imports no layer")
                           for floor in FLOOR for layer in LAYERS]
    problems = []
    for module, targets in sorted(graph.items()):
        for target in sorted(targets):
            for importer, forbidden, why in rules:
                if _within(module, importer) and _within(target, forbidden):
                    problems.append(f"{module} imports {target}: {why}")
    return problems


def test_the_layer_check_notices_an_upward_import() -> None:
    """Guard the guard: services importing login, or state importing services, is caught."""
    graph = {"podspawn.services.users": {"podspawn.login.auth_keys"},
             "podspawn.state.db": {"podspawn.services.sessions"},
             "podspawn.login.spawn": {"podspawn.services.sessions"}}
    assert [p.split(":")[0] for p in layer_violations(graph)] == [
        "podspawn.services.users imports podspawn.login.auth_keys",
        "podspawn.state.db imports podspawn.services.sessions",
    ]


def test_every_layer_imports_only_downwards() -> None:
    """``login`` is an entry point like ``cli``: what both need lives below them."""
    assert layer_violations(import_graph()) == []
