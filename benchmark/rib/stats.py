"""Confidence intervals, the two-proportion test and stratified subsets."""

from __future__ import annotations

import math

import torch

Z_95 = 1.959963984540054
"""The standard normal quantile of 0.975: the half-width factor of every 95% interval rib reports."""


def wilson_interval(successes: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """95% Wilson score interval of a proportion (well-behaved at 0 and 1, unlike the normal approximation)."""
    if n <= 0:
        return math.nan, math.nan
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    low = 0.0 if successes == 0 else max(0.0, centre - half)  # exact at the ends, free of rounding
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high


def two_proportion_p(p1: float, n1: int, p2: float, n2: int) -> float:
    """Two-sided p-value of the pooled two-proportion z-test that proportions ``p1`` (of ``n1``) and ``p2`` (of
    ``n2``) are equal; 1 when both are 0 or both are 1 (nothing varies)."""
    pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
    se = math.sqrt(max(pooled * (1 - pooled), 0.0) * (1 / n1 + 1 / n2))
    if se == 0.0:
        return 1.0
    return math.erfc(abs(p1 - p2) / se / math.sqrt(2))


def mean_interval(values: torch.Tensor, z: float = Z_95) -> tuple[float, int, tuple[float, float]]:
    """(mean, count, 95% normal interval) over the finite values."""
    v = values[torch.isfinite(values)].double()
    if len(v) == 0:
        return math.nan, 0, (math.nan, math.nan)
    mean = float(v.mean())
    half = z * float(v.std()) / math.sqrt(len(v)) if len(v) > 1 else math.nan
    return mean, len(v), (mean - half, mean + half)


def stratified_indices(y: torch.Tensor, n: int) -> torch.Tensor:
    """The first ``n`` indices of a class-interleaved order (one of each class in turn), deterministic.

    Any prefix is as close to stratified as possible, so ``--n 100`` takes 10 images per class on mnist-5k.
    """
    if n >= len(y):
        return torch.arange(len(y))
    rank = torch.empty_like(y)
    for c in torch.unique(y):
        idx = (y == c).nonzero().flatten()
        rank[idx] = torch.arange(len(idx))
    order = sorted(range(len(y)), key=lambda i: (int(rank[i]), int(y[i]), i))
    return torch.tensor(sorted(order[:n]))
