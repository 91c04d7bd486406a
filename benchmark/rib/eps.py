"""Comparing eps values: one tolerance for every place that asks whether two eps are the same (eps are floats read
from TOML, fractions such as 8/255, and stored Parquet columns)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

EPS_TOLERANCE = 1e-9


def same_eps(a: float, b: float) -> bool:
    """Whether two eps are the same value."""
    return abs(float(a) - float(b)) < EPS_TOLERANCE


def eps_in(eps: float, values: Iterable[float]) -> bool:
    """Whether ``eps`` is one of ``values``."""
    return any(same_eps(eps, v) for v in values)


def at_eps(column: Any, eps: float) -> Any:
    """The boolean mask of a pandas column of eps values equal to ``eps``."""
    return (column - float(eps)).abs() < EPS_TOLERANCE
