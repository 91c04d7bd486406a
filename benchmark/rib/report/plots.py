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


def _svg(fig: Any, **kwargs: Any) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None}, **kwargs)
    fig.clf()
    return buf.getvalue()


def gapped(eps: pd.Series, values: pd.Series, axis: Sequence[float]) -> tuple[list[float], list[float]]:
    """A curve over ``axis`` (every eps any curve of the plot has): the values where they were measured and NaN at
    an eps between them where this curve has none, so the line breaks there instead of drawing across a gap."""
    measured = {round(float(e), 9): float(v) for e, v in zip(eps, values, strict=True)}
    if not measured:
        return [], []
    lo, hi = min(measured), max(measured)
    xs = sorted({round(float(e), 9) for e in axis if lo <= round(float(e), 9) <= hi} | set(measured))
    return xs, [measured.get(x, math.nan) for x in xs]


def curves_svg(rows: pd.DataFrame, best: pd.DataFrame, model: str, norm: str) -> str:
    """Robust accuracy against eps in one norm: one line per attack, the per-example worst case in bold (filled
    markers at ensemble strength, open ones where it is an upper bound)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.2, 3.4))
    mine = rows[(rows["model"] == model) & (rows["norm"] == norm) & (rows["metric"] == "robust_accuracy")]
    b = best[(best["model"] == model) & (best["norm"] == norm)].sort_values("eps")
    axis = sorted({*mine["eps"].astype(float), *b["eps"].astype(float)})
    for attack, group in sorted(mine.groupby("attack"), key=lambda t: str(t[0])):
        g = group.sort_values("created_at").drop_duplicates("eps", keep="last").sort_values("eps")
        xs, ys = gapped(g["eps"], 100 * g["value"], axis)
        ax.plot(xs, ys, marker="o", markersize=3, linewidth=1, label=str(attack))
    if len(b):
        xs, ys = gapped(b["eps"], 100 * b["value"], axis)
        ax.plot(xs, ys, color="black", linewidth=2.5, label="worst case over attacks")
        full = b["ensemble"].astype(bool)
        ax.plot(b["eps"][full], 100 * b["value"][full], "o", markersize=5, color="black")
        ax.plot(b["eps"][~full], 100 * b["value"][~full], "o", markersize=5, markerfacecolor="white", color="black")
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


def models_svg(best: pd.DataFrame, norm: str, headline: float | None) -> str:
    """Worst-case robust accuracy against eps in one norm, one line per model: filled markers where the number is
    at ensemble strength (AutoAttack included), open ones where it is an upper bound. ``best`` is
    ``rib.ensemble.worst_case``'s frame."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    mine = best[best["norm"] == norm]
    styles = ("-", "--", ":", "-.")
    shapes = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "*")
    axis = sorted(set(mine["eps"].astype(float)))
    for i, (model, group) in enumerate(sorted(mine.groupby("model"), key=lambda t: str(t[0]))):
        g = group.sort_values("eps")
        color, shape = plt.get_cmap("tab20")(i % 20), shapes[i % len(shapes)]  # colour and marker: 200 pairs
        xs, ys = gapped(g["eps"], 100 * g["value"], axis)
        ax.plot(xs, ys, linestyle=styles[(i // 20) % 4], linewidth=1.3, color=color, marker=shape, markersize=0,
                label=str(model))
        full = g["ensemble"].astype(bool)
        ax.plot(g["eps"][full], 100 * g["value"][full], shape, markersize=4.5, color=color)
        ax.plot(g["eps"][~full], 100 * g["value"][~full], shape, markersize=4.5, markerfacecolor="white",
                color=color)
    if headline is not None:
        ax.axvline(headline, color="#888888", linewidth=0.8, linestyle=":")
    ax.set_xlabel(f"{norm} eps")
    ax.set_ylabel("worst-case robust accuracy %")
    ax.set_ylim(-2, 102)
    ax.grid(alpha=0.3)
    if ax.lines:
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    else:
        ax.text(0.5, 0.5, f"no {norm} results stored", ha="center", va="center", transform=ax.transAxes)
    fig.tight_layout()
    out = _svg(fig, bbox_inches="tight")
    plt.close(fig)
    return out


_OFFSETS = ((4, 4), (4, -10), (-4, 4), (-4, -10), (6, -3), (-6, -3), (8, 12), (-8, 12), (8, -18), (-8, -18),
            (14, 3), (-14, 3))
_SLACK = 1.25  # the browser draws the SVG's text in its own font, often wider than matplotlib's metrics


def _overlap(a: Any, b: Any) -> float:
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    return max(w, 0.0) * max(h, 0.0)


def _place_labels(fig: Any, ax: Any, xs: Sequence[float], ys: Sequence[float], labels: Sequence[str]) -> None:
    """Label each point at the first of a few offsets where its text overlaps no earlier label and stays inside
    the axes; where none is free, at the offset with the least overlap (deterministic: same input, same picture)."""
    renderer = fig.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    placed: list[Any] = []
    for x, y, label in sorted(zip(xs, ys, labels, strict=True), key=lambda t: (-t[1], t[0], t[2])):
        best = None
        for dx, dy in _OFFSETS:
            text = ax.annotate(label, (x, y), fontsize=6, xytext=(dx, dy), textcoords="offset points",
                               ha="left" if dx >= 0 else "right")
            box = text.get_window_extent(renderer)
            grow = box.width * (_SLACK - 1)
            box = type(box).from_extents(box.x0 - (grow if dx < 0 else 0), box.y0, box.x1 + (0 if dx < 0 else grow),
                                         box.y1)
            cost = sum(_overlap(box, other) for other in placed)
            outside = box.x0 < frame.x0 or box.x1 > frame.x1 or box.y0 < frame.y0 or box.y1 > frame.y1
            cost += 1e6 if outside else 0.0
            if best is None or cost < best[0]:
                if best is not None:
                    best[1].remove()
                best = (cost, text, box)
            else:
                text.remove()
            if cost == 0:
                break
        assert best is not None
        placed.append(best[2])


def scatter_svg(xs: Sequence[float], ys: Sequence[float], labels: Sequence[str], xlabel: str, ylabel: str) -> str:
    """One point per model, labelled without overlap where feasible. No title inside the picture: the page puts
    it (with n and the rank correlation) above the image, where it is never clipped."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.6, 3.4))
    ax.scatter(xs, ys, s=18, color="#1f5fa8")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    pad_x = (max(xs) - min(xs)) * 0.12 or 0.1
    ax.set_xlim(min(xs) - pad_x, max(xs) + pad_x)
    ax.set_ylim(min(-2.0, min(ys) - 8), max(102.0, max(ys) + 8))
    fig.tight_layout()
    _place_labels(fig, ax, xs, ys, labels)
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
