"""The import graph is the architecture (docs/architecture.md, "Import rule").

Every module of the product is parsed (never imported): each ``import``, at the top or
inside a function (a lazy import is a dependency all the same), and each module loaded by
name from a literal (``importlib.import_module("...")``, a CLI's ``CommandInfo("...")``)
is an edge. packaging/'s modules are scripts that import each other by bare name
(``import bundle``): a ``packaging`` package would shadow PyPI's, which pytest and pip
import. So a bare name of a packaging/*.py file is that module. An edge must be one that
the table in docs/architecture.md allows, and no modules may import each other in a
circle. tests/ and bench/ sit outside: they may import any part, and no part imports them.
"""
from __future__ import annotations

import ast
import functools
import importlib.machinery
import re
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = ("agent", "appliance", "mirror_tools", "packaging", "provider", "server")
# Calls whose first argument names a module (packaging/bundle.py's ``_import`` loads a part's).
BY_NAME = {"import_module", "CommandInfo", "_import"}
PACKAGING = ROOT / "packaging"

DOC = ROOT / "docs" / "architecture.md"


def _rule_from_docs() -> dict[str, set[str]]:
    """The parts and what each may import besides itself: the table under "Import rule" in
    docs/architecture.md, so the rule is written once. A module belongs to the longest part
    its name starts with (``appliance/cli/`` is a part of its own, above ``agent/``)."""
    heading = "### Import rule"
    text = DOC.read_text()
    assert heading in text, f"{DOC} has no section {heading!r}: the rule is its table"
    text = text.split(heading, 1)[1].split("\n#", 1)[0]
    rule = {}
    for row in re.findall(r"^\| `([a-z_/]+/)`[^|]*\| ([^|]*) \|$", text, re.M):
        folder, allowed = row
        if folder not in ("tests/", "bench/"):  # outside the rule: they may import anything
            rule[_dotted(folder)] = {_dotted(f) for f in re.findall(r"`([a-z_/]+/)`", allowed)}
    return rule


def _dotted(folder: str) -> str:
    return folder.rstrip("/").replace("/", ".")


MAY_IMPORT = _rule_from_docs()

# Inside coderd, the layers under HTTP never reach up into handlers, pages or programs.
UNDER_HTTP = ("server.db", "server.authz", "server.provisioner")
HTTP_AND_ABOVE = ("server.api", "server.dashboard", "server.relay", "server.wsproxy",
                  "server.app", "server.cli")


@dataclass(frozen=True)
class Edge:
    source: str  # module
    path: Path
    line: int
    target: str  # module

    def __str__(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line} imports {self.target}"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for top in PRODUCT for p in sorted((ROOT / top).rglob("*.py"))}


def _project_module(name: str, modules: dict[str, Path]) -> str | None:
    """The project module ``name`` is or lies in (``a.b.func`` -> ``a.b``); None if outside."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _unbare(name: str) -> str:
    """``name`` as the project module it reaches: a bare packaging/*.py name (``bundle``,
    ``build_provider.REPO``) is ``packaging.NAME``, as packaging/ on sys.path makes it."""
    return f"packaging.{name}" if (PACKAGING / f"{name.split('.')[0]}.py").is_file() else name


def _imported_names(node: ast.AST, package: str) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
            parent = package.split(".")[:len(package.split(".")) - node.level + 1]
            base = ".".join(parent + ([base] if base else []))
        return [f"{base}.{alias.name}" for alias in node.names]
    if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
            and isinstance(node.args[0].value, str):
        func = node.func.attr if isinstance(node.func, ast.Attribute) else \
            getattr(node.func, "id", "")
        if func in BY_NAME:
            return [node.args[0].value.partition(":")[0]]
    return []


@functools.cache
def edges() -> tuple[Edge, ...]:
    modules = _modules()
    found = []
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            for imported in _imported_names(node, package):
                target = _project_module(_unbare(imported), modules)
                if target and target != name:
                    found.append(Edge(name, path, node.lineno, target))
    return tuple(found)


def part(module: str) -> str:
    """The part of MAY_IMPORT a module belongs to (tests and bench: their folder)."""
    return max((p for p in [*MAY_IMPORT, "tests", "bench"]
                if module == p or module.startswith(p + ".")), key=len)


def _within(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def test_every_import_between_parts_is_allowed():
    wrong = []
    for e in edges():
        source, target = part(e.source), part(e.target)
        if source != target and target not in MAY_IMPORT[source]:
            allowed = ", ".join(sorted(MAY_IMPORT[source])) or "nothing outside itself"
            wrong.append(f"{e}: {source} may import {allowed}")
    assert not wrong, "imports against the rule (docs/architecture.md):\n" + "\n".join(wrong)


def test_coderd_layers_under_http_do_not_import_it():
    rule = f"{', '.join(UNDER_HTTP)} stay under the HTTP layer ({', '.join(HTTP_AND_ABOVE)})"
    wrong = [f"{e}: {rule}" for e in edges()
             if _within(e.source, UNDER_HTTP) and _within(e.target, HTTP_AND_ABOVE)]
    assert not wrong, "\n".join(wrong)


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                circle = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    circle.append(member)
                    if member == node:
                        break
                if len(circle) > 1:
                    circles.append(sorted(circle))
    return circles


def test_no_modules_import_each_other_in_a_circle():
    """A package's ``__init__`` and its own modules count as one: Python imports the
    package before any module in it, so a module's import of its package adds nothing."""
    graph: dict[str, set[str]] = defaultdict(set)
    ties: dict[tuple[str, str], Edge] = {}
    for e in edges():
        if not e.source.startswith(e.target + "."):
            graph[e.source].add(e.target)
            ties.setdefault((e.source, e.target), e)
    found = []
    for circle in _circles(graph):
        members = set(circle)
        tied = [str(e) for (s, t), e in sorted(ties.items()) if s in members and t in members]
        found.append(f"{', '.join(circle)}:\n  " + "\n  ".join(tied))
    assert not found, "modules that import each other:\n" + "\n".join(found)


def test_parts_are_layered():
    """The table names every part of the product and has no circle: the parts stack up."""
    assert set(PRODUCT) <= set(MAY_IMPORT), f"{DOC.name}'s import rule misses a folder"
    assert all(allowed <= set(MAY_IMPORT) for allowed in MAY_IMPORT.values())
    assert not _circles({p: set(allowed) for p, allowed in MAY_IMPORT.items()})


def test_the_rule_sees_what_it_checks():
    """The checks would pass on a graph they failed to read: what they rest on is in it."""
    found = {(e.source, e.target) for e in edges()}
    assert ("appliance.cli.commands.agent", "agent.cli") in found  # a plain import
    assert ("appliance.cli.main", "appliance.cli.commands.agent") in found  # by name
    assert ("server.api.users", "server.apikeys") in found  # a relative import
    assert ("appliance.admin.bundle", "packaging.bundle") in found  # bare, with packaging/
    assert ("packaging.build_agent", "packaging.build_provider") in found  # on sys.path
    assert ("packaging.bundle", "packaging.aptrepo") in found  # by name, bare
    assert part("server.provisionerd.runner") == "server.provisionerd"
    assert part("server.provisioner.jobs") == "server"
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_packaging_modules_shadow_no_installed_module():
    """packaging/ goes first on sys.path wherever its scripts run: a module there named like
    an installed one would replace it, and the bare names above would mean two things."""
    others = [p for p in sys.path if Path(p or ".").resolve() != PACKAGING]
    shadowed = [p.name for p in sorted(PACKAGING.glob("*.py"))
                if importlib.machinery.PathFinder.find_spec(p.stem, others) is not None]
    assert not shadowed, f"packaging/ modules named like installed ones: {shadowed}"
