"""rib's modules import each other without a cycle (module-level imports only), its subpackages and top-level
modules without a cycle at any level, and ``import rib`` works.

Between modules, function-level imports are not edges (they run later, once every module is loaded), nor are the
imports of an ``if TYPE_CHECKING:`` block. An import of ``a.b.c`` also imports the packages ``a`` and ``a.b`` (their
``__init__`` runs first), except packages that are ancestors of the importing module, which are already loading.

Between the package's units (each subpackage, such as ``rib.attacks``, and each top-level module, such as
``rib.verify``), a function-level import is an edge too: a layer that reaches up into another at call time still
makes a circle of the design. The package itself (``rib/__init__.py``, the public facade) is no unit.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import rib

PACKAGE_ROOT = Path(rib.__file__).resolve().parent


def module_files(root: Path = PACKAGE_ROOT) -> dict[str, Path]:
    """Every module of the package under ``root``, by dotted name (a package by its own name)."""
    out: dict[str, Path] = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _module_level(body: list[ast.stmt], functions: bool = False) -> Iterator[ast.Import | ast.ImportFrom]:
    """Import statements that run when the module is imported: not under TYPE_CHECKING, and (unless
    ``functions``) not in functions. With ``functions``, every import of the module, TYPE_CHECKING's included: a
    layer that names a higher one even for a type hint makes a circle of the design."""
    for node in body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif functions and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield from (n for n in ast.walk(node) if isinstance(n, (ast.Import, ast.ImportFrom)))
        elif isinstance(node, ast.If):
            if functions or not _is_type_checking(node.test):
                yield from _module_level(node.body, functions)
            yield from _module_level(node.orelse, functions)
        elif isinstance(node, (ast.Try, ast.TryStar)):
            for block in (node.body, *(h.body for h in node.handlers), node.orelse, node.finalbody):
                yield from _module_level(block, functions)
        elif isinstance(node, (ast.With, ast.ClassDef)):  # class bodies run at import time
            yield from _module_level(node.body, functions)


def _with_packages(target: str, importer: str, is_package: bool, known: dict[str, Path]) -> set[str]:
    """``target`` plus its parent packages that are not ancestors of ``importer`` (nor ``importer`` itself)."""
    parts = target.split(".")
    names = {".".join(parts[:i]) for i in range(1, len(parts) + 1)}
    own = importer if is_package else importer.rpartition(".")[0]
    ancestors = {".".join(own.split(".")[:i]) for i in range(1, len(own.split(".")) + 1)} if own else set()
    return {n for n in names if n in known and n not in ancestors and n != importer}


def lazy_homes(known: dict[str, Path]) -> dict[str, dict[str, str]]:
    """Package → {name: module} for packages that import names on first use (a ``_HOME`` or ``_LAZY`` dict of
    strings in their ``__init__``): ``from rib.zoo import find_card`` is an edge to ``rib.zoo.factory``."""
    out: dict[str, dict[str, str]] = {}
    for name, path in known.items():
        if path.name != "__init__.py":
            continue
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if (isinstance(node, (ast.Assign, ast.AnnAssign)) and isinstance(node.value, ast.Dict)
                    and any(isinstance(t, ast.Name) and t.id in ("_HOME", "_LAZY")
                            for t in (node.targets if isinstance(node, ast.Assign) else [node.target]))):
                out[name] = {k.value: v.value for k, v in zip(node.value.keys, node.value.values, strict=True)
                             if isinstance(k, ast.Constant) and isinstance(v, ast.Constant)}
    return out


def import_graph(root: Path = PACKAGE_ROOT, functions: bool = False) -> dict[str, set[str]]:
    """Module → the package's modules it imports at module level (with ``functions``: in functions too)."""
    known = module_files(root)
    lazy = lazy_homes(known)
    graph: dict[str, set[str]] = {}
    for name, path in known.items():
        is_package = path.name == "__init__.py"
        package = name if is_package else name.rpartition(".")[0]
        edges: set[str] = set()
        for node in _module_level(ast.parse(path.read_text(encoding="utf-8")).body, functions):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                           for alias in node.names]
                targets += [lazy[base][alias.name] for alias in node.names if alias.name in lazy.get(base, {})]
            for target in targets:
                edges |= _with_packages(target, name, is_package, known)
        graph[name] = edges
    return graph


def unit_of(module: str) -> str | None:
    """The unit a module belongs to: its top-level subpackage or module (``rib.zoo.cards`` → ``rib.zoo``); None for
    the package itself."""
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else None


def unit_graph(root: Path = PACKAGE_ROOT) -> dict[str, set[str]]:
    """Unit → the other units it imports: at module level, in functions, and under ``TYPE_CHECKING``."""
    graph: dict[str, set[str]] = {}
    for module, targets in import_graph(root, functions=True).items():
        unit = unit_of(module)
        if unit is None:
            continue
        others = {unit_of(t) for t in targets} - {unit, None}
        graph.setdefault(unit, set()).update(u for u in others if u is not None)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as ``[a, b, ..., a]``, or None (depth-first search, deterministic order)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            found = visit(start)
            if found:
                return found
    return None


def test_graph_sees_imports_packages_and_relative_imports(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from pkg.sub import b\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "b.py").write_text("from . import c\nfrom typing import TYPE_CHECKING\n"
                                      "if TYPE_CHECKING:\n    import pkg.a\n")
    (pkg / "sub" / "c.py").write_text("def f():\n    import pkg.a\n")
    (pkg / "a.py").write_text("import pkg.sub.c\n")
    graph = import_graph(pkg)
    assert graph["pkg"] == {"pkg.sub", "pkg.sub.b"}
    assert graph["pkg.sub.b"] == {"pkg.sub.c"}  # the TYPE_CHECKING import is no edge; pkg.sub is an ancestor
    assert graph["pkg.sub.c"] == set()  # nor is a function-level import
    assert graph["pkg.a"] == {"pkg.sub", "pkg.sub.c"}  # importing pkg.sub.c runs pkg.sub's __init__ first
    assert find_cycle(graph) is None
    (pkg / "sub" / "c.py").write_text("import pkg.a\n")
    cycle = find_cycle(import_graph(pkg))
    assert cycle is not None and cycle[0] == cycle[-1] and set(cycle) == {"pkg.a", "pkg.sub.c"}


def test_rib_has_no_import_cycle() -> None:
    graph = import_graph()
    assert "rib.attacks.base" in graph and "rib.zoo.factory" in graph
    cycle = find_cycle(graph)
    assert cycle is None, f"import cycle among rib's modules: {' → '.join(cycle or [])}"


def test_unit_graph_sees_a_circle_between_subpackages_that_modules_do_not_make(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    for sub in ("a", "b"):
        (pkg / sub).mkdir(parents=True)
        (pkg / sub / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "a" / "x.py").write_text("import pkg.b.y\n")
    (pkg / "b" / "y.py").write_text("")
    (pkg / "b" / "z.py").write_text("def f():\n    import pkg.a.w\n")  # at call time: no module cycle
    (pkg / "a" / "w.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pkg.c\n")
    (pkg / "c.py").write_text("import pkg.a.x\n")
    assert find_cycle(import_graph(pkg)) is None
    units = unit_graph(pkg)
    # a TYPE_CHECKING import is an edge between units: a.w names c for a type hint, and c imports a
    assert units == {"pkg.a": {"pkg.b", "pkg.c"}, "pkg.b": {"pkg.a"}, "pkg.c": {"pkg.a"}}
    cycle = find_cycle(units)
    assert cycle is not None and set(cycle) == {"pkg.a", "pkg.b"}


def test_rib_has_no_cycle_between_subpackages() -> None:
    units = unit_graph()
    assert {"rib.attacks", "rib.zoo", "rib.explain", "rib.report", "rib.verify", "rib.workflows"} <= set(units)
    cycle = find_cycle(units)
    assert cycle is None, f"import cycle among rib's subpackages and modules: {' → '.join(cycle or [])}"
    # the submission workflow sits above both verify and the report; explain runs no attack; CAMs sit below both
    assert "rib.report" not in units["rib.verify"] and "rib.attacks" not in units["rib.explain"]
    assert {"rib.verify", "rib.report"} <= units["rib.workflows"] and "rib.cams" in units["rib.zoo"]
    # the model types sit below the attacks and the defenses, which never name the zoo, not even for a type hint
    assert "rib.models" in units["rib.attacks"] and "rib.models" in units["rib.defenses"]
    assert "rib.zoo" not in units["rib.attacks"] | units["rib.defenses"] | units["rib.models"]


def test_import_rib_in_a_fresh_interpreter() -> None:
    proc = subprocess.run([sys.executable, "-c", "import rib; print(rib.__version__)"], capture_output=True,
                          text=True, check=False, cwd=PACKAGE_ROOT.parent)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == rib.__version__


def test_lazy_packages_count_as_edges_to_the_names_home_modules() -> None:
    graph = import_graph()
    assert "rib.zoo.factory" in lazy_homes(module_files())["rib.zoo"].values()
    assert {"rib.zoo", "rib.zoo.catalog"} <= graph["rib.report.tables"]  # `from rib.zoo import list_cards`
