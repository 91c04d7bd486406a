"""The verdict panel: rank correlation per metric with a bootstrap interval, Holm's correction, and the metric's own
direction read into words."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from rib.report.verdict import bootstrap_interval, metric_direction, spearman, summary, verdicts
from rib.stats import holm


def _metric_rows(metric: str, source: str, values: dict[str, float]) -> list[dict]:
    return [{"model": m, "metric": metric, "attack": source, "value": v, "created_at": "2026-01-01", "params": "{}"}
            for m, v in values.items()]


def _best(values: dict[str, float], norm: str = "linf", eps: float = 0.3) -> pd.DataFrame:
    return pd.DataFrame({"model": list(values), "norm": norm, "eps": eps, "ensemble": True,
                         "value": list(values.values())})


MODELS = [f"m{i}" for i in range(8)]
ROBUST = {m: i / 10 for i, m in enumerate(MODELS)}


def test_holm_is_the_step_down_adjustment() -> None:
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    out = holm([0.2, math.nan, 0.01])
    assert out[0] == pytest.approx(0.2) and math.isnan(out[1]) and out[2] == pytest.approx(0.02)


def test_spearman_and_its_bootstrap_interval() -> None:
    x, y = np.arange(10.0), np.arange(10.0) ** 2
    rho, p = spearman(x, y)
    assert rho == pytest.approx(1.0) and p < 1e-6
    assert bootstrap_interval(x, y) == pytest.approx((1.0, 1.0))
    assert math.isnan(spearman(np.zeros(5), np.arange(5.0))[0])  # a constant side has no rank correlation
    noisy = np.random.default_rng(1).normal(size=10)
    lo, hi = bootstrap_interval(x, noisy)
    assert -1 <= lo < spearman(x, noisy)[0] < hi <= 1


def test_directions_come_from_the_metrics() -> None:
    assert metric_direction("gini-ig") is True
    assert metric_direction("deletion-ig") is False  # lower area under the deletion curve is more faithful
    assert metric_direction("no-such-output") is None


def test_a_lower_is_better_metric_rising_with_robustness_means_robust_models_explain_worse() -> None:
    rows = _metric_rows("gini-ig", "clean", {m: 0.5 + ROBUST[m] / 2 for m in MODELS})
    rows += _metric_rows("deletion-ig", "clean", {m: 0.1 + ROBUST[m] for m in MODELS})
    rows += _metric_rows("alignment", "clean", {m: float(i % 2) + 0.3 * (i % 3) for i, m in enumerate(MODELS)})
    trained = {m: "linf" if i < 3 else "none" for i, m in enumerate(MODELS)}
    found = verdicts(pd.DataFrame(rows), _best(ROBUST), trained, "linf", 0.3)
    by = {(v.population, v.metric.split(" ")[0]): v for v in found}
    assert by[("all", "gini-ig")].answer == "robust models explain better"
    assert by[("all", "deletion-ig")].rho > 0 and by[("all", "deletion-ig")].answer == "robust models explain worse"
    assert by[("all", "alignment")].answer == "no evidence either way"
    assert by[("all", "gini-ig")].p_holm == pytest.approx(min(1.0, 3 * by[("all", "gini-ig")].p))  # 3 metrics
    assert by[("trained", "gini-ig")].models == ("m0", "m1", "m2")
    assert by[("trained", "gini-ig")].answer == "too few models to tell"
    assert by[("all", "gini-ig")].row()[2] == "↑" and by[("all", "deletion-ig")].row()[2] == "↓"
    assert summary(found).startswith("1 metric: robust models explain better; 1 metric: robust models explain worse")


def test_only_ensemble_strength_worst_cases_at_the_eps_count() -> None:
    rows = _metric_rows("gini-ig", "clean", {m: ROBUST[m] for m in MODELS})
    best = _best(ROBUST)
    best.loc[best["model"] == "m7", "ensemble"] = False  # an upper bound never enters a verdict
    found = verdicts(pd.DataFrame(rows), best, {}, "linf", 0.3)
    assert "m7" not in found[0].models and len(found[0].models) == 7
    assert verdicts(pd.DataFrame(rows), best, {}, "linf", 0.1) == []
