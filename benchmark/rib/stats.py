"""Confidence intervals, the two-proportion test and stratified subsets."""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Sequence

import numpy as np
import torch

from rib.errors import ConfigError

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


def mcnemar_p(a: torch.Tensor | list[bool], b: torch.Tensor | list[bool]) -> float:
    """Two-sided exact McNemar p-value that two paired binary outcomes (the same images under two models) have
    the same rate: a binomial test on the discordant pairs; 1 when there are none."""
    from scipy.stats import binomtest

    a_t, b_t = torch.as_tensor(a, dtype=torch.bool), torch.as_tensor(b, dtype=torch.bool)
    if a_t.shape != b_t.shape:
        raise ValueError(f"paired outcomes need the same images, got {tuple(a_t.shape)} and {tuple(b_t.shape)}")
    only_a, only_b = int((a_t & ~b_t).sum()), int((b_t & ~a_t).sum())
    if only_a + only_b == 0:
        return 1.0
    return float(binomtest(only_a, only_a + only_b, 0.5).pvalue)


def mean_interval(values: torch.Tensor, z: float = Z_95) -> tuple[float, int, tuple[float, float]]:
    """(mean, count, 95% normal interval) over the finite values."""
    v = values[torch.isfinite(values)].double()
    if len(v) == 0:
        return math.nan, 0, (math.nan, math.nan)
    mean = float(v.mean())
    half = z * float(v.std()) / math.sqrt(len(v)) if len(v) > 1 else math.nan
    return mean, len(v), (mean - half, mean + half)


SAMPLE_SEED = 0
"""The seed of every evaluation sample: one fixed random order of each split, so samples are comparable."""


def stratified_indices(y: torch.Tensor, n: int, seed: int = SAMPLE_SEED) -> torch.Tensor:
    """A seeded random stratified sample of ``n`` indices over the whole split, sorted.

    Each class is shuffled once (``seed``), then the classes are interleaved (the first image of each class's
    shuffled order, then the second, ...) and the first ``n`` are taken. Samples are nested: the ``n = 100``
    sample lies inside the ``n = 200`` one, which lies inside the ``n = 1000`` one, so a smaller ``n`` is an
    unbiased sample of a larger one; and with 10 classes ``n = 100`` takes 10 images per class.
    """
    if n >= len(y):
        return torch.arange(len(y))
    gen = torch.Generator().manual_seed(seed)
    rank = torch.empty_like(y)
    for c in torch.unique(y):  # ascending: the same generator draws on every platform and torch version
        idx = (y == c).nonzero().flatten()
        rank[idx[torch.randperm(len(idx), generator=gen)]] = torch.arange(len(idx))
    order = sorted(range(len(y)), key=lambda i: (int(rank[i]), int(y[i])))
    return torch.tensor(sorted(order[:n]))


def numpy_permutation_indices(y: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """The first ``n`` entries of ``numpy.random.permutation(len(y))`` after ``numpy.random.seed(seed)``, in that
    order: how many papers' evaluation scripts draw their test images (a legacy ``RandomState``, the same stream on
    every numpy version). Nested like every rib sample: the first 100 lie inside the first 200."""
    order = np.random.RandomState(seed).permutation(len(y))[:n]
    return torch.from_numpy(order.astype(np.int64))


DEFAULT_SAMPLE = ""
"""The name of rib's own sample (``stratified_indices``): cells and stored rows leave it out."""
SAMPLES = {
    DEFAULT_SAMPLE: lambda y, n: stratified_indices(y, n),
    # Boopathy et al.'s eval.py: numpy.random.seed(99), then the first 200 of numpy.random.permutation(10000)
    "boopathy2020": lambda y, n: numpy_permutation_indices(y, n, 99),
}
"""Every evaluation sample by name: ``(labels, n) → indices``. A sample other than rib's own is an authors' image
set, used to reproduce their protocol; its cells are kept apart from rib's own in worst cases and leaderboards."""


def sample_of(params: object) -> str:
    """The image set a stored row's params JSON names ("" for rib's own sample, or for params that are no JSON)."""
    try:
        return str(json.loads(str(params)).get("sample", "")) if params else ""
    except (TypeError, ValueError, AttributeError):
        return ""


def sample_indices(y: torch.Tensor, n: int, sample: str = DEFAULT_SAMPLE) -> torch.Tensor:
    """The indices of ``n`` images of the split with labels ``y`` under the named sample (``SAMPLES``)."""
    if sample not in SAMPLES:
        raise ConfigError(f"unknown sample {sample!r} (known: {', '.join(repr(s) for s in SAMPLES)})")
    if n > len(y):
        raise ConfigError(f"n = {n} is larger than the split ({len(y)} images)")
    return SAMPLES[sample](y, n)


EXACT_UP_TO = 8  # rank correlations of up to this many values get the exact permutation p-value (8! orderings)


def exact_spearman_p(x: Sequence[float], y: Sequence[float]) -> tuple[float, float]:
    """Spearman's rho and its exact two-sided permutation p-value (every ordering of y; up to 8 values).

    Spearman's rho is Pearson's correlation of the (average) ranks, and reordering y reorders its ranks, so every
    ordering's rho is one matrix product over the ranks' permutations (8! = 40,320 rows at most)."""
    from scipy.stats import rankdata

    if len(y) > EXACT_UP_TO:
        raise ValueError(f"exact_spearman_p takes up to {EXACT_UP_TO} values ({len(y)}! orderings); "
                         "use rank_correlation")
    if len(set(x)) < 2 or len(set(y)) < 2:  # a constant side: no order to correlate
        return math.nan, 1.0
    rx = rankdata(x) - (len(x) + 1) / 2
    ry = rankdata(y) - (len(y) + 1) / 2
    scale = float(np.sqrt((rx @ rx) * (ry @ ry)))
    rho = float(rx @ ry) / scale
    orderings = ry[np.array(list(itertools.permutations(range(len(y)))))]
    every = np.abs(orderings @ rx) / scale
    return rho, float(np.mean(every >= abs(rho) - 1e-12))


def rank_correlation(x: Sequence[float], y: Sequence[float]) -> tuple[float, float]:
    """Spearman's rho and its two-sided p-value: exact (every ordering) up to ``EXACT_UP_TO`` values, where the
    t approximation is far off (it gives p = 0 for three values in the same order), scipy's beyond. NaN where a side
    is constant or there are fewer than 3 values."""
    from scipy.stats import spearmanr

    if len(x) < 3 or len(set(x)) < 2 or len(set(y)) < 2:
        return math.nan, math.nan
    if len(x) <= EXACT_UP_TO:
        return exact_spearman_p(x, y)
    res = spearmanr(x, y)
    return float(res.statistic), float(res.pvalue)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment of ``pvalues`` (family-wise error at the usual level), in their order; a NaN
    p-value (nothing tested) is left out of the count and stays NaN."""
    order = sorted((p, i) for i, p in enumerate(pvalues) if p == p)
    out = [math.nan] * len(pvalues)
    running = 0.0
    for rank, (p, i) in enumerate(order):
        running = max(running, min(1.0, (len(order) - rank) * p))
        out[i] = running
    return out
