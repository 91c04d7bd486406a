"""Scores of maps, row by row: Gini index, top-k intersection, rank correlations, deletion curves' area.

Free functions over ``[N, ...]`` tensors returning float64 ``[N]`` (captum's style); aggregation happens elsewhere.
"""

from __future__ import annotations

import warnings

import torch


def gini(maps: torch.Tensor) -> torch.Tensor:
    """Gini index per map (Chalasani et al.): v = sort(|a| + 1e-7); Σ (2i − n − 1) v_i / (n Σ v_i). 1 = sparse."""
    v = (maps.flatten(1).abs().double() + 1e-7).sort(dim=1).values
    n = v.shape[1]
    i = torch.arange(1, n + 1, dtype=v.dtype)
    return ((2 * i - n - 1) * v).sum(dim=1) / (n * v.sum(dim=1))


def topk_intersection(a: torch.Tensor, b: torch.Tensor, k: int = 8) -> torch.Tensor:
    """|TopK(a) ∩ TopK(b)| / k per pair of maps (top by value, as Boopathy et al.'s CAMs)."""
    ta = a.flatten(1).topk(k, dim=1).indices
    tb = b.flatten(1).topk(k, dim=1).indices
    return (ta[:, :, None] == tb[:, None, :]).any(dim=2).double().sum(dim=1) / k


def _rowwise(stat: str, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    from scipy import stats

    fn = {"kendall": stats.kendalltau, "spearman": stats.spearmanr}[stat]
    out = []
    with warnings.catch_warnings():  # a constant map gives NaN (and a warning): the caller marks it degenerate
        warnings.simplefilter("ignore")
        for u, v in zip(a.flatten(1).double().numpy(), b.flatten(1).double().numpy(), strict=True):
            out.append(float(fn(u, v).statistic))
    return torch.tensor(out, dtype=torch.float64)


def kendall_tau(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Kendall's tau-b between each pair of flattened maps (scipy's ``kendalltau``)."""
    return _rowwise("kendall", a, b)


def spearman(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Spearman's rank correlation between each pair of flattened maps (scipy's ``spearmanr``, average ranks)."""
    return _rowwise("spearman", a, b)


def cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Cosine between each pair of flattened maps (NaN where one is zero)."""
    a, b = a.flatten(1).double(), b.flatten(1).double()
    return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1))


def curve_area(curve: torch.Tensor) -> torch.Tensor:
    """Trapezoidal area under each row of ``[N, K]`` points spaced 1 apart (``np.trapz(dx=1)``), divided by K − 1 so
    that a curve of ones has area 1."""
    c = curve.double()
    return torch.trapezoid(c, dx=1.0, dim=1) / max(c.shape[1] - 1, 1)
