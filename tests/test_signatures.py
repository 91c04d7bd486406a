"""No function of rib takes more than seven parameters, outside the CLI and ``rib.evaluate``: settings that travel
together travel as one object (``RunOptions``, ``Sampling``, ``TrainOptions``, ...)."""

from __future__ import annotations

import ast
from pathlib import Path

import rib

PACKAGE_ROOT = Path(rib.__file__).resolve().parent
MAX_PARAMETERS = 7
EXEMPT = {("cli.py", "*"), ("workflows/evaluate.py", "evaluate")}  # the CLI, and rib.evaluate's flat signature


def parameter_count(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Parameters a caller can give: positional, keyword-only, *args and **kwargs (``self`` and ``cls`` aside)."""
    args = node.args
    named = [a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs) if a.arg not in ("self", "cls")]
    return len(named) + (args.vararg is not None) + (args.kwarg is not None)


def too_long() -> list[str]:
    out = []
    for path in sorted(PACKAGE_ROOT.rglob("*.py")):
        rel = path.relative_to(PACKAGE_ROOT).as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or (rel, "*") in EXEMPT:
                continue
            if parameter_count(node) > MAX_PARAMETERS and (rel, node.name) not in EXEMPT:
                out.append(f"{rel}:{node.lineno} {node.name} ({parameter_count(node)})")
    return out


def test_no_function_takes_more_than_seven_parameters() -> None:
    assert too_long() == []


def test_the_count_sees_every_kind_of_parameter() -> None:
    tree = ast.parse("def f(self, a, /, b, *c, d, e=1, **f): pass\nclass K:\n    def g(cls, x): pass")
    counts = [parameter_count(n) for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]
    assert counts == [6, 1]
