"""The report's reading of interpretability rows: flags instead of values, baselines beside values, CAM kinds apart.

A metric row whose cell was mostly degenerate has value NaN and ``flag: degenerate`` in its params: the board shows
the flag, never a number. CAM metrics of CAM-head and Grad-CAM models are never ranked together: the board sorts
Grad-CAM values after every CAM-head one and the scatter page plots each kind on its own.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from rib.eps import at_eps
from rib.explain.metrics import METRICS
from rib.report.tables import KEY_METRICS

SCATTER_METRICS = (*KEY_METRICS, ("deletion-saliency", "clean"), ("deletion-ig", "clean"),
                   ("deletion-smoothgrad", "clean"), ("mprt-saliency", "clean"))
BASELINES = (("random", "random attribution"), ("randomized", "randomized model"), ("input", "the input itself"))


def metric_direction(output: str) -> bool | None:
    """Whether a higher value of the stored metric output ``output`` is more interpretable (None: neither, or a
    metric rib does not know)."""
    for name in METRICS.names():
        cls = METRICS.get(name)
        if output in cls.outputs:
            return cls.higher_is_better
    return None


def arrow(better: bool | None) -> str:
    """↑ where higher is better, ↓ where lower is, "" where neither."""
    return {True: "↑", False: "↓"}.get(better, "") if better is not None else ""


def row_params(row: Any) -> dict[str, Any]:
    """A stored row's params JSON as a dict ({} when unreadable)."""
    try:
        out = json.loads(row["params"])
    except (TypeError, ValueError, KeyError):
        return {}
    return out if isinstance(out, dict) else {}


def _latest(metrics: pd.DataFrame, model: str, metric: str, source: str) -> pd.Series | None:
    hit = metrics[(metrics["model"] == model) & (metrics["metric"] == metric) & (metrics["attack"] == source)]
    return None if hit.empty else hit.sort_values("created_at").iloc[-1]


@dataclass(frozen=True)
class KeyMetric:
    """One board cell of a key metric: its text, hover text, sort key, and whether it is a degenerate flag."""

    text: str
    title: str = ""
    sort: str = ""
    flagged: bool = False


def degenerate_note(params: dict[str, Any]) -> str:
    """``k of n examples degenerate (reason: count, ...)`` from a row's params ("" when none was)."""
    k = int(params.get("degenerate", 0) or 0)
    if not k:
        return ""
    reasons = ", ".join(f"{r}: {c}" for r, c in sorted(params.get("reasons", {}).items()) if r.startswith("degen"))
    return f"{k} examples degenerate ({reasons})"


def _interval(row: Any) -> tuple[float, float] | None:
    try:
        lo, hi = float(row["ci_low"]), float(row["ci_high"])
    except (KeyError, TypeError, ValueError):
        return None
    return (lo, hi) if math.isfinite(lo) and math.isfinite(hi) else None


def at_baseline(metrics: pd.DataFrame, row: Any) -> str:
    """The baselines (``random attribution``, ``randomized model``) whose 95% interval overlaps the interval of the
    metric ``row`` (same model, inputs and eps): the value cannot be told from that baseline. "" when none does or
    an interval is missing."""
    mine = _interval(row)
    if mine is None:
        return ""
    same = metrics[(metrics["model"] == row["model"]) & (metrics["attack"] == row["attack"])
                   & at_eps(metrics["eps"], float(row["eps"]))] if "eps" in metrics else pd.DataFrame()
    out = []
    for mode, label in BASELINES[:2]:
        base = same[same["metric"] == f"{row['metric']}:{mode}"] if len(same) else same
        other = _interval(base.sort_values("created_at").iloc[-1]) if len(base) else None
        if other is not None and mine[0] <= other[1] and other[0] <= mine[1]:
            out.append(label)
    return " and ".join(out)


def key_metric(metrics: pd.DataFrame, model: str, metric: str, source: str) -> KeyMetric:
    """The board's cell for ``metric`` on ``source`` inputs of ``model``: its mean, with its interval, n and
    direction on hover, and ``≈`` where a baseline's interval overlaps its own (``at_baseline``)."""
    row = _latest(metrics, model, metric, source)
    if row is None:
        return KeyMetric("")
    params, value = row_params(row), float(row["value"])
    if params.get("flag") == "degenerate":
        return KeyMetric("degenerate", f"no value: most examples are degenerate; {degenerate_note(params)}",
                         flagged=True)
    if not math.isfinite(value):
        return KeyMetric("")
    text = f"{value:.3f}"
    ci = _interval(row)
    hover = [f"mean {text}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "") + f", n = {int(row['n'])}"]
    near = at_baseline(metrics, row)
    if near:
        hover.append(f"≈ not distinguishable from the {near} baseline (95% intervals overlap)")
    if degenerate_note(params):
        hover.append(degenerate_note(params))
    shown = f"{text} ≈" if near else text
    if params.get("cam") == "grad-cam":  # not ranked against CAM-head models: sorted after all of them
        return KeyMetric(shown, "; ".join(["Grad-CAM maps: compared only with other Grad-CAM models", *hover]),
                         sort=f"grad-cam {text}")
    return KeyMetric(shown, "; ".join(hover), sort=text if near else "")


def _ci_text(row: Any) -> str:
    ci = _interval(row)
    return f"[{ci[0]:.4f}, {ci[1]:.4f}]" if ci else ""


def _fmt(row: pd.Series | None) -> str:
    if row is None:
        return ""
    if row_params(row).get("flag") == "degenerate":
        return "degenerate"
    value = float(row["value"])
    return "" if not math.isfinite(value) else f"{value:.4f}"


def metric_baselines(metrics: pd.DataFrame, model: str) -> tuple[list[str], list[list[Any]]]:
    """Each metric of ``model`` beside its baselines: a random attribution, the randomized model, the input."""
    mine = metrics[metrics["model"] == model]
    headers = ["inputs", "metric", "value", *[label for _, label in BASELINES], "n", "degenerate", "excluded", "CAM",
               "95% CI", "better", "vs baselines"]
    rows = []
    for (attack, eps), group in sorted(mine.groupby(["attack", "eps"]), key=lambda t: (str(t[0][0]), t[0][1])):
        by = {str(r["metric"]): r for _, r in group.sort_values("created_at").iterrows()}
        for metric in sorted(m for m in by if ":" not in m):
            row, params = by[metric], row_params(by[metric])
            source = "clean" if attack == "clean" else f"{attack} @ {float(eps):g}"
            rows.append([source, metric, _fmt(row), *[_fmt(by.get(f"{metric}:{b}")) for b, _ in BASELINES],
                         int(row["n"]), int(params.get("degenerate", 0) or 0), int(params.get("excluded", 0) or 0),
                         params.get("cam", ""), _ci_text(row), arrow(metric_direction(metric)) or "–",
                         "–" if _interval(row) is None else f"≈ {near}" if (near := at_baseline(metrics, row))
                         else "distinct"])
    return headers, rows


def by_cam_kind(hit: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Rows split by the kind of CAM they were measured on ("" for metrics that read no CAM)."""
    kinds = hit.apply(lambda r: str(row_params(r).get("cam", "")), axis=1) if len(hit) else pd.Series(dtype=str)
    return {str(k): hit[kinds == k] for k in sorted(set(kinds))}
