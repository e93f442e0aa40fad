"""The import rules of docs/architecture.md, enforced by reading the source.

Pure static analysis: every ``.py`` file of the project's packages is parsed
with ``ast``; nothing under test is imported. An import counts wherever it
is written (at module level, inside a function or a class, in a ``try``), and
so does ``importlib.import_module("literal")`` or ``__import__("literal")``.

- Layers: a package may not import what its rule forbids (``RULES``). Imports
  under ``if TYPE_CHECKING:`` count here too: a type is a dependency.
- Cycles: no import cycle inside ``signaling``, ``meetings`` or ``sfu``.
  Imports under ``if TYPE_CHECKING:`` are left out of the graph: they never
  run, so they cannot make a cycle at import time (``signaling.liveness``
  names ``RoomConsumer`` in annotations that way).

Edges: ``import a.b`` is an edge to ``a.b``; ``from x import y`` is an edge
to ``x`` (the module, or the package's ``__init__``) and, when ``x.y`` is a
module, to ``x.y`` as well. Relative imports are resolved first. Packages
that contain the module named are not edges of their own: Python
initialises them first, and a submodule that imports a sibling by its full
name (``from meetings.services.presence import _leave`` inside
``meetings.services.rooms``) does not depend on its package's ``__init__``.

The checker's own tests build small packages in ``tmp_path``, and scratch
copies of the real packages with a violation added, so each rule is shown
to fail; the product code is never touched.
"""

from __future__ import annotations

import ast
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# The project's Python packages (tests/ and bench/ are not part of the product).
PACKAGES = ("accounts", "meetings", "signaling", "sfu", "hosting", "config")


@dataclass(frozen=True)
class Rule:
    package: str
    forbidden: tuple[str, ...]
    why: str


RULES = (
    Rule(
        "sfu",
        (
            "django",
            "channels",
            "channels_redis",
            "asgiref",
            "daphne",
            "accounts",
            "meetings",
            "signaling",
            "config",
            "hosting",
        ),
        "the SFU is plain asyncio and aiortc: it knows no Django, Channels or app",
    ),
    Rule(
        "signaling",
        ("config", "hosting"),
        "signaling gets its media server installed by hosting (signaling/bridge.py)",
    ),
    Rule(
        "meetings",
        ("signaling", "sfu", "hosting", "config"),
        "the domain knows nothing of its transports",
    ),
    Rule(
        "accounts",
        ("signaling", "sfu", "hosting", "config"),
        "the domain knows nothing of its transports",
    ),
)

ACYCLIC = ("signaling", "meetings", "sfu")


# The checker


@dataclass(frozen=True)
class ImportRef:
    """One import statement (or ``import_module`` call), resolved."""

    path: Path
    line: int
    importer: str
    # The module named after ``import`` or ``from``, relative levels resolved.
    module: str
    # For ``from module import a, b``: a and b (which may be modules).
    names: tuple[str, ...]
    statement: str
    in_function: bool
    type_checking: bool

    @property
    def top(self) -> str:
        return self.module.split(".")[0]

    def targets(self, known: Iterable[str]) -> set[str]:
        """The project modules this import runs (see the module docstring)."""
        known = set(known)
        found = {self.module} & known
        found |= {f"{self.module}.{name}" for name in self.names} & known
        return found


def discover(root: Path, packages: Iterable[str]) -> dict[str, Path]:
    """Dotted module name → file, for every ``.py`` file of the packages."""
    modules = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            if "__pycache__" in path.parts:
                continue
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def resolve(importer: str, *, is_package: bool, level: int, module: str) -> str:
    """The absolute name of ``from <level dots><module> import …`` in
    ``importer``; "" for a relative import that leaves the top package."""
    if level == 0:
        return module
    parts = importer.split(".")
    if not is_package:
        parts = parts[:-1]
    drop = level - 1
    if drop >= len(parts):
        return ""
    base = parts[: len(parts) - drop]
    return ".".join([*base, module] if module else base)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


class _Collector(ast.NodeVisitor):
    def __init__(self, path: Path, importer: str, is_package: bool) -> None:
        self.path = path
        self.importer = importer
        self.is_package = is_package
        self.refs: list[ImportRef] = []
        self.functions = 0
        self.type_checking = False

    def _add(self, node: ast.AST, module: str, names: tuple[str, ...] = ()) -> None:
        if not module:
            return
        self.refs.append(
            ImportRef(
                path=self.path,
                line=node.lineno,
                importer=self.importer,
                module=module,
                names=names,
                statement=ast.unparse(node),
                in_function=self.functions > 0,
                type_checking=self.type_checking,
            )
        )

    def visit_If(self, node: ast.If) -> None:
        if not _is_type_checking(node.test):
            self.generic_visit(node)
            return
        outer, self.type_checking = self.type_checking, True
        for statement in node.body:
            self.visit(statement)
        self.type_checking = outer
        for statement in node.orelse:
            self.visit(statement)

    def _visit_function(self, node: ast.AST) -> None:
        self.functions += 1
        self.generic_visit(node)
        self.functions -= 1

    visit_FunctionDef = _visit_function
    visit_AsyncFunctionDef = _visit_function
    visit_Lambda = _visit_function

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(node, alias.name)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = resolve(
            self.importer,
            is_package=self.is_package,
            level=node.level,
            module=node.module or "",
        )
        names = tuple(alias.name for alias in node.names if alias.name != "*")
        self._add(node, module, names)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if (
            name in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            self._add(node, node.args[0].value)
        self.generic_visit(node)


def imports_in(path: Path, importer: str) -> list[ImportRef]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    collector = _Collector(path, importer, is_package=path.name == "__init__.py")
    collector.visit(tree)
    return collector.refs


def all_imports(root: Path, package: str) -> Iterator[ImportRef]:
    for module, path in discover(root, [package]).items():
        yield from imports_in(path, module)


def _where(root: Path, ref: ImportRef) -> str:
    return f"{ref.path.relative_to(root)}:{ref.line}"


def forbidden_imports(root: Path, rule: Rule) -> list[str]:
    """One message per import in ``rule.package`` of something it forbids."""
    found = []
    for ref in all_imports(root, rule.package):
        if ref.top in rule.forbidden:
            context = " (inside a function)" if ref.in_function else ""
            context += " (under TYPE_CHECKING)" if ref.type_checking else ""
            found.append(
                f"{_where(root, ref)}: `{ref.statement}`{context}: "
                f"{rule.package} must not import {ref.top} "
                f"(resolved: {ref.module}); {rule.why}"
            )
    return found


Graph = dict[str, dict[str, ImportRef]]


def import_graph(root: Path, package: str) -> Graph:
    """Module → {imported module of the same package → the import that does
    it (the first)}. ``TYPE_CHECKING`` imports are left out."""
    modules = discover(root, [package])
    graph: Graph = {module: {} for module in modules}
    for module, path in modules.items():
        for ref in imports_in(path, module):
            if ref.type_checking:
                continue
            for target in sorted(ref.targets(modules)):
                if target != module:
                    graph[module].setdefault(target, ref)
    return graph


def _components(graph: Graph) -> list[list[str]]:
    """Strongly connected components (Tarjan's, iterative), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    components.append(sorted(component))
            elif child not in index:
                index[child] = low[child] = counter
                counter += 1
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph[child]))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return components


def find_cycles(graph: Graph) -> list[list[str]]:
    """One shortest cycle per tangle of modules, as ``[a, b, …, a]``."""
    cycles = []
    for component in _components(graph):
        if len(component) < 2:
            continue  # self-imports are not edges (import_graph drops them)
        members, start = set(component), component[0]
        # Breadth first from start, back to start, inside the component.
        came_from: dict[str, str] = {}
        queue, end = [start], None
        while queue and end is None:
            node = queue.pop(0)
            for child in sorted(graph[node]):
                if child not in members:
                    continue
                if child == start:
                    end = node
                    break
                if child not in came_from:
                    came_from[child] = node
                    queue.append(child)
        path = [end]
        while path[-1] != start:
            path.append(came_from[path[-1]])
        cycles.append([*reversed(path), start])
    return cycles


def describe_cycle(root: Path, graph: Graph, cycle: list[str]) -> str:
    steps = [
        f"  {a} → {b}: {_where(root, graph[a][b])} `{graph[a][b].statement}`"
        for a, b in pairwise(cycle)
    ]
    return f"import cycle {cycle}:\n" + "\n".join(steps)


def cycle_report(root: Path, package: str) -> list[str]:
    graph = import_graph(root, package)
    return [describe_cycle(root, graph, cycle) for cycle in find_cycles(graph)]


# The rules, on the real tree


def _rule_id(rule: Rule) -> str:
    return rule.package


@pytest.mark.parametrize("rule", RULES, ids=_rule_id)
def test_layers(rule: Rule) -> None:
    violations = forbidden_imports(ROOT, rule)
    if violations:
        pytest.fail("Forbidden imports:\n" + "\n".join(violations), pytrace=False)


@pytest.mark.parametrize("package", ACYCLIC)
def test_no_import_cycle(package: str) -> None:
    cycles = cycle_report(ROOT, package)
    if cycles:
        pytest.fail("\n".join(cycles), pytrace=False)


def test_the_real_tree_is_read() -> None:
    """Guard against a checker that passes because it reads nothing."""
    modules = discover(ROOT, PACKAGES)
    assert {"sfu.api", "signaling.consumers", "meetings.services.rooms"} <= set(modules)
    signaling = import_graph(ROOT, "signaling")
    assert "signaling.handlers" in signaling["signaling.consumers"]
    assert any(ref.top == "django" for ref in all_imports(ROOT, "signaling"))


# The checker, on small packages in tmp_path


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def test_resolve_relative_imports() -> None:
    assert resolve("pkg.a", is_package=False, level=1, module="b") == "pkg.b"
    assert resolve("pkg.a", is_package=False, level=1, module="") == "pkg"
    assert resolve("pkg.sub", is_package=True, level=1, module="x") == "pkg.sub.x"
    assert resolve("pkg.sub.m", is_package=False, level=2, module="x") == "pkg.x"
    assert resolve("pkg.a", is_package=False, level=2, module="x") == ""
    assert resolve("pkg.a", is_package=False, level=0, module="os") == "os"


def test_a_cycle_is_found_and_named(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/a.py": "from pkg import b\n",
            # Relative, and inside a function: still an edge.
            "pkg/b.py": "def later():\n    from .c import thing\n",
            "pkg/c.py": "import pkg.a\nthing = 1\n",
            "pkg/d.py": "from pkg import a\n",  # on the way in, not in the cycle
        },
    )
    graph = import_graph(tmp_path, "pkg")
    assert graph["pkg.a"].keys() == {"pkg", "pkg.b"}
    assert find_cycles(graph) == [["pkg.a", "pkg.b", "pkg.c", "pkg.a"]]
    [report] = cycle_report(tmp_path, "pkg")
    assert "pkg.b → pkg.c: pkg/b.py:2 `from .c import thing`" in report


def test_a_cycle_through_a_package_init_is_found(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/sub/__init__.py": "from .x import y\n",
            "pkg/sub/x.py": "from pkg.sub import z\ny = 1\n",
            "pkg/sub/z.py": "",
        },
    )
    assert find_cycles(import_graph(tmp_path, "pkg")) == [
        ["pkg.sub", "pkg.sub.x", "pkg.sub"]
    ]


def test_no_cycle_when_siblings_import_by_full_name(tmp_path: Path) -> None:
    # The meetings.services pattern: the package re-exports its submodules,
    # which import each other by their full names.
    write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/services/__init__.py": "from pkg.services.a import f\n",
            "pkg/services/a.py": "from pkg.services.b import g\nf = g\n",
            "pkg/services/b.py": "g = 1\n",
        },
    )
    assert find_cycles(import_graph(tmp_path, "pkg")) == []


def test_type_checking_imports_make_no_cycle(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/a.py": "from pkg import b\n",
            "pkg/b.py": (
                "import typing\n"
                "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n    from pkg.a import A\n"
                "if typing.TYPE_CHECKING:\n    import pkg.a\n"
                "else:\n    import pkg.c\n"
            ),
            "pkg/c.py": "",
        },
    )
    graph = import_graph(tmp_path, "pkg")
    assert graph["pkg.b"].keys() == {"pkg.c"}  # the else branch counts
    assert find_cycles(graph) == []


def test_a_forbidden_import_is_reported(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "lib/__init__.py": "",
            "lib/ok.py": "import asyncio\nfrom . import other\n",
            "lib/other.py": (
                "def f():\n    from django.conf import settings\n\n"
                "import importlib\n"
                "importlib.import_module('web.views')\n"
            ),
            "lib/typed.py": (
                "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n    import web.models\n"
            ),
        },
    )
    rule = Rule("lib", ("django", "web"), "lib stands alone")
    assert forbidden_imports(tmp_path, rule) == [
        "lib/other.py:2: `from django.conf import settings` (inside a function): "
        "lib must not import django (resolved: django.conf); lib stands alone",
        "lib/other.py:5: `importlib.import_module('web.views')`: "
        "lib must not import web (resolved: web.views); lib stands alone",
        "lib/typed.py:3: `import web.models` (under TYPE_CHECKING): "
        "lib must not import web (resolved: web.models); lib stands alone",
    ]


# Each real rule fails on a scratch copy of its package with a violation added


def _scratch(tmp_path: Path, package: str) -> Path:
    shutil.copytree(
        ROOT / package,
        tmp_path / package,
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    return tmp_path


def _append(path: Path, text: str) -> int:
    """Append ``text``; return the line number its first line lands on."""
    before = path.read_text(encoding="utf-8")
    if not before.endswith("\n"):
        before += "\n"
    path.write_text(before + text, encoding="utf-8")
    return before.count("\n") + 1


@pytest.mark.parametrize(
    ("rule", "forbidden"),
    [(rule, name) for rule in RULES for name in rule.forbidden],
    ids=lambda value: value if isinstance(value, str) else value.package,
)
def test_each_rule_catches_a_forbidden_import(
    tmp_path: Path, rule: Rule, forbidden: str
) -> None:
    root = _scratch(tmp_path, rule.package)
    assert forbidden_imports(root, rule) == forbidden_imports(ROOT, rule)
    # The deepest module of the copy, imported the ways code does.
    target = max(discover(root, [rule.package]).values(), key=lambda p: len(p.parts))
    line = _append(target, f"\n\ndef _scratch():\n    from {forbidden} import x\n")
    relative = target.relative_to(root)
    found = [v for v in forbidden_imports(root, rule) if v.startswith(f"{relative}:")]
    assert found[-1].startswith(
        f"{relative}:{line + 3}: `from {forbidden} import x` (inside a function): "
        f"{rule.package} must not import {forbidden}"
    )


@pytest.mark.parametrize("package", ACYCLIC)
def test_each_cycle_check_catches_a_cycle(tmp_path: Path, package: str) -> None:
    root = _scratch(tmp_path, package)
    graph = import_graph(root, package)
    # Close a real edge a → b with b → a, written inside a function.
    a, b = next((a, b) for a in sorted(graph) for b in sorted(graph[a]))
    _append(discover(root, [package])[b], f"\n\ndef _scratch():\n    import {a}\n")
    cycles = find_cycles(import_graph(root, package))
    assert any({a, b} <= set(cycle) for cycle in cycles), cycles
