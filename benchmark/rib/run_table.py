"""The table ``rib run`` prints: clean and robust accuracy with 95% Wilson intervals, one table per norm."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rib.grid import CHECK_ATTACK
from rib.table import NBSP, TERMINAL_WIDTH, format_table


def _pct(row: dict[str, Any] | None, with_ci: bool = True) -> str:
    """``12.3% [10.1, 14.5]``: the interval is one unit (no-break space), so a narrow cell wraps it under the value;
    ``n/a`` for a number not measured (a cell stored as not applicable)."""
    if row is None or row["value"] != row["value"]:
        return "n/a"
    text = f"{100 * row['value']:.1f}%"
    if with_ci and row["ci_low"] == row["ci_low"]:  # not NaN
        text += f" [{100 * row['ci_low']:.1f},{NBSP}{100 * row['ci_high']:.1f}]"
    return text


def _at(row: dict[str, Any]) -> str:
    return f" ({row['norm']} {row['eps']:g})" if row["attack"] == CHECK_ATTACK else ""


ATTACK_METRICS = frozenset({"clean_accuracy", "robust_accuracy", "median_distance", "attack_found_rate",
                            "cascade_attacked"})


def is_attack_row(row: dict[str, Any]) -> bool:
    """Whether a stored row measures an attack (accuracy, distance, flag) rather than an interpretability metric."""
    return row["metric"] in ATTACK_METRICS or row["metric"].startswith("flag:")


def metrics_table(rows: Sequence[dict[str, Any]], *, wide: bool = False) -> str:
    """Interpretability metrics: mean with its 95% interval per (model, source, metric)."""
    body = []
    for r in sorted((r for r in rows if not is_attack_row(r)), key=lambda r: (r["model"], r["attack"], r["metric"])):
        source = "clean" if r["attack"] == "clean" else f"{r['attack']} @ {r['eps']:g}"
        flagged = '"flag": "degenerate"' in str(r.get("params", ""))  # most examples degenerate: no mean stored
        value = f"{r['value']:.4f}" if r["value"] == r["value"] else "degenerate" if flagged else "n/a"
        if r["ci_low"] == r["ci_low"]:
            value += f" [{r['ci_low']:.4f},{NBSP}{r['ci_high']:.4f}]"
        body.append([r["model"], source, r["metric"], value, r["n"]])
    if not body:
        return ""
    fit: dict[str, Any] = {} if wide else {"width": TERMINAL_WIDTH, "wrap": (1, 3), "keep": 1}
    return format_table(["model", "inputs", "metric", "mean [95% CI]", "n"], body, **fit)


def results_table(rows: Sequence[dict[str, Any]], *, wide: bool = False) -> str:
    """Tables of clean and robust accuracy per (model, attack), one per attacked norm, raised flags, metrics.

    They fit ``TERMINAL_WIDTH`` columns: an interval wraps under its value, the trained threat model is left out
    (it is on the card and in the store), and a table with many eps splits into parts that repeat model and
    attack. ``wide``: one line per row, every column."""
    cells: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        if is_attack_row(r):
            cells.setdefault(r["cell_id"], []).append(r)
    out: list[str] = []
    for norm in ("linf", "l2"):
        group = [rs for rs in cells.values() if rs[0]["norm"] == norm and rs[0]["attack"] != CHECK_ATTACK]
        if not group:
            continue
        eps = sorted({r["eps"] for rs in group for r in rs if r["metric"] == "robust_accuracy"})
        headers = ["model", *(["trained"] if wide else []), "attack", "n", "clean", *[f"{norm} {e:g}" for e in eps],
                   *(["median dist"] if wide else [])]
        body, medians = [], []
        for rs in sorted(group, key=lambda rs: (rs[0]["model"], rs[0]["attack"])):
            by = {(r["metric"], r["eps"]): r for r in rs}
            first = rs[0]
            trained = "-" if first["trained_norm"] == "none" else f"{first['trained_norm']} {first['trained_eps']:g}"
            median = by.get(("median_distance", 0.0))
            body.append([first["model"], *([trained] if wide else []), first["attack"], first["n"],
                         _pct(by.get(("clean_accuracy", 0.0)), False),
                         *[_pct(by[("robust_accuracy", e)]) if ("robust_accuracy", e) in by else "" for e in eps],
                         *([f"{median['value']:.3f}" if median else ""] if wide else [])])
            if median:
                medians.append([first["model"], first["attack"], median["n"], f"{median['value']:.3f}"])
        if wide:
            out.append(format_table(headers, body))
            continue
        out.append(format_table(headers, body, width=TERMINAL_WIDTH, wrap=range(4, len(headers)), keep=2))
        if medians:  # minimum-norm attacks only: a table of its own keeps the main one narrow
            out.append(format_table(["model", "attack", "n", f"median {norm} distance to the boundary"], medians))
    raised = sorted({f"{r['model']} × {r['attack']}{_at(r)}: {r['metric'][5:]}" for r in rows
                     if r["metric"].startswith("flag:") and r["value"] > 0})
    if raised:
        out.append("sanity flags raised (possible gradient masking or a weak attack):\n  " + "\n  ".join(raised))
    metrics = metrics_table(rows, wide=wide)
    if metrics:
        out.append(metrics)
    return "\n\n".join(out)
