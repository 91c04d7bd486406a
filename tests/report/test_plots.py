"""Plots draw a number only where one exists: a curve breaks at an eps where its attack never ran instead of
drawing a straight line across it, and each model of the robustness chart gets its own colour and marker."""

from __future__ import annotations

import math

import pandas as pd
from rib.report.plots import curves_svg, gapped, models_svg


def test_a_curve_breaks_where_its_attack_did_not_run() -> None:
    xs, ys = gapped(pd.Series([0.1, 0.2, 0.4]), pd.Series([90.0, 70.0, 5.0]), [0.1, 0.2, 0.3, 0.4])
    assert xs == [0.1, 0.2, 0.3, 0.4] and ys[:2] == [90.0, 70.0] and math.isnan(ys[2]) and ys[3] == 5.0
    # outside its own range the curve does not extend: nothing before its first or after its last eps
    assert gapped(pd.Series([0.2, 0.3]), pd.Series([1.0, 2.0]), [0.1, 0.2, 0.3, 0.4]) == ([0.2, 0.3], [1.0, 2.0])
    assert gapped(pd.Series([], dtype=float), pd.Series([], dtype=float), [0.1]) == ([], [])


def _rows(attack: str, eps: list[float], values: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"model": "m", "norm": "linf", "metric": "robust_accuracy", "attack": attack, "eps": eps,
                         "value": values, "created_at": "2026-01-01"})


def test_the_charts_render_the_same_bytes_for_the_same_numbers() -> None:
    rows = pd.concat([_rows("pgd-linf", [0.1, 0.2, 0.3, 0.4], [0.9, 0.8, 0.6, 0.1]),
                      _rows("apgd-linf", [0.1, 0.2, 0.4], [0.9, 0.7, 0.0])])
    best = pd.DataFrame({"model": ["m"] * 4 + ["n"] * 2, "norm": "linf", "eps": [0.1, 0.2, 0.3, 0.4, 0.1, 0.3],
                         "value": [0.9, 0.7, 0.5, 0.0, 0.2, 0.0], "ensemble": [True, True, True, False, True, True]})
    one, two = curves_svg(rows, best, "m", "linf"), curves_svg(rows, best, "m", "linf")
    assert one == two and one != curves_svg(rows.assign(value=0.3), best, "m", "linf")
    chart = models_svg(best, "linf", 0.3)
    assert chart == models_svg(best, "linf", 0.3) and chart != models_svg(best.assign(value=0.5), "linf", 0.3)
