"""Batches: the one way rib cuts tensors (or index lists) into consecutive pieces along the first dimension."""

from __future__ import annotations

import torch


def batch_slices(n: int, batch_size: int) -> list[slice]:
    """Consecutive slices of at most ``batch_size`` items covering ``range(n)``, in order (none when n is 0)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    return [slice(i, i + batch_size) for i in range(0, n, batch_size)]


def batches(*tensors: torch.Tensor, batch_size: int) -> list[tuple[torch.Tensor, ...]]:
    """Aligned batches of ``tensors`` (all of one length): ``(x[s], y[s], ...)`` for each slice s, as views."""
    n = len(tensors[0])
    if any(len(t) != n for t in tensors):
        raise ValueError(f"batches: lengths differ ({', '.join(str(len(t)) for t in tensors)})")
    return [tuple(t[s] for t in tensors) for s in batch_slices(n, batch_size)]
