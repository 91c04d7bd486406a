"""Static SVG plots for the leaderboard, made with matplotlib; the same data always gives the same bytes."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import Any

import pandas as pd


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.hashsalt"] = "rib"  # stable ids inside the SVG
    plt.rcParams["svg.fonttype"] = "none"  # text stays text: smaller files, no font paths
    return plt


def _svg(fig: Any) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    fig.clf()
    return buf.getvalue()


def curves_svg(rows: pd.DataFrame, best: pd.DataFrame, model: str, norm: str) -> str:
    """Robust accuracy against eps in one norm: one line per attack, the per-example worst case in bold."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.2, 3.4))
    mine = rows[(rows["model"] == model) & (rows["norm"] == norm) & (rows["metric"] == "robust_accuracy")]
    for attack, group in sorted(mine.groupby("attack"), key=lambda t: str(t[0])):
        g = group.sort_values("eps")
        ax.plot(g["eps"], 100 * g["value"], marker="o", markersize=3, linewidth=1, label=str(attack))
    b = best[(best["model"] == model) & (best["norm"] == norm)].sort_values("eps")
    if len(b):
        ax.plot(b["eps"], 100 * b["value"], color="black", linewidth=2.5, label="worst case over attacks")
    ax.set_xlabel(f"{norm} eps")
    ax.set_ylabel("robust accuracy %")
    ax.set_ylim(-2, 102)
    ax.set_title(f"{model}: {norm}")
    ax.grid(alpha=0.3)
    if ax.lines:
        ax.legend(fontsize=6, ncol=2)
    else:
        ax.text(0.5, 0.5, f"no {norm} results stored", ha="center", va="center", transform=ax.transAxes)
    fig.tight_layout()
    out = _svg(fig)
    plt.close(fig)
    return out


def scatter_svg(xs: Sequence[float], ys: Sequence[float], labels: Sequence[str], xlabel: str, ylabel: str,
                title: str) -> str:
    """One point per model, labelled, with the title given (it carries the rank correlation)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.6, 3.6))
    ax.scatter(xs, ys, s=18, color="#1f5fa8")
    for x, y, label in zip(xs, ys, labels, strict=True):
        ax.annotate(label, (x, y), fontsize=6, xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    out = _svg(fig)
    plt.close(fig)
    return out


def spearman(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float]:
    """Spearman's rank correlation and its p-value (NaN with fewer than 3 points)."""
    if len(xs) < 3:
        return math.nan, math.nan
    from scipy.stats import spearmanr

    res = spearmanr(xs, ys)
    return float(res.statistic), float(res.pvalue)
