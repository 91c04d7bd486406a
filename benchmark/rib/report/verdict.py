"""The board's answer to its question: do more robust models have more interpretable gradients, or less?

For one dataset and norm, every interpretability metric the scatter page plots is set against robustness across
models: Spearman's rank correlation between the metric's mean (on its source's inputs) and the worst-case robust
accuracy at the headline eps, at ensemble strength. Each correlation gets

* an interval from a bootstrap over models (models resampled with replacement, ``BOOTSTRAP`` times, seeded): the
  uncertainty of which models happen to be in the zoo, not of each model's numbers;
* a two-sided p-value (``rib.stats.rank_correlation``: an exact permutation test up to 8 models) corrected by
  Holm's method for the number of metrics tested in the same table (one table per dataset, norm and population);
* a direction in words that reads the metric's own direction (``Metric.higher_is_better``): a positive ρ for a
  lower-is-better metric (deletion, MPRT similarity) means robust models explain *worse*.

Two populations: the models trained for that threat model (RobustBench's board lists those), and all models.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from rib.eps import at_eps
from rib.report.metric_view import SCATTER_METRICS, arrow, by_cam_kind, metric_direction
from rib.report.tables import for_norm
from rib.stats import holm, rank_correlation

BOOTSTRAP = 2000
ALPHA = 0.05
SEED = 0
POPULATIONS = ("trained", "all")
COLUMNS = ["population", "metric", "better", "models", "rho", "interval", "p", "p (Holm)", "answer"]


@dataclass(frozen=True)
class Verdict:
    """One metric against robustness among one population of models."""

    population: str  # "trained" (for this norm) or "all"
    metric: str  # the stored output, with its source and CAM kind where there is one
    better: bool | None
    models: tuple[str, ...]
    rho: float
    ci: tuple[float, float]
    p: float
    p_holm: float

    @property
    def answer(self) -> str:
        """The verdict in words."""
        if len(self.models) < 4 or self.rho != self.rho:
            return "too few models to tell"
        if self.better is None:
            return "no direction: a property, not a score"
        if self.p_holm >= ALPHA:
            return "no evidence either way"
        aligned = (self.rho > 0) == self.better
        return "robust models explain better" if aligned else "robust models explain worse"

    def row(self) -> list[Any]:
        """The verdict as a row of ``COLUMNS``."""
        lo, hi = self.ci
        return [self.population, self.metric, arrow(self.better) or "–", len(self.models), _signed(self.rho),
                f"[{_signed(lo)}, {_signed(hi)}]", _p(self.p), _p(self.p_holm), self.answer]


def _signed(v: float) -> str:
    return "–" if v != v else f"{v:+.2f}"


def _p(p: float) -> str:
    return "–" if p != p else f"{p:.2g}"


def spearman(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Spearman's ρ and its two-sided p (``rib.stats.rank_correlation``: exact up to 8 models); NaN where either
    side is constant or there are fewer than 3 points."""
    return rank_correlation(list(map(float, x)), list(map(float, y)))


def _rho(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's ρ alone (the Pearson correlation of average ranks); NaN where a side is constant."""
    from scipy.stats import rankdata

    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan
    return float(np.corrcoef(rankdata(x), rankdata(y))[0, 1])


def bootstrap_interval(x: np.ndarray, y: np.ndarray, *, draws: int = BOOTSTRAP,
                       seed: int = SEED) -> tuple[float, float]:
    """The 95% percentile interval of ρ over models resampled with replacement (resamples with a constant side,
    where ρ is undefined, are left out); NaNs with fewer than 3 models."""
    if len(x) < 3:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    rhos = []
    for _ in range(draws):
        pick = rng.integers(0, len(x), len(x))
        rho = _rho(x[pick], y[pick])
        if rho == rho:
            rhos.append(rho)
    if not rhos:
        return math.nan, math.nan
    return float(np.percentile(rhos, 2.5)), float(np.percentile(rhos, 97.5))


def _points(metrics: pd.DataFrame, robust: pd.Series, norm: str) -> list[tuple[str, str, pd.DataFrame]]:
    """(label, stored output, rows) of every metric the scatter page plots, in ``norm``'s table (``for_norm``), CAM
    kinds apart."""
    out = []
    for metric, source in for_norm(SCATTER_METRICS, norm):
        hit = metrics[(metrics["metric"] == metric) & (metrics["attack"] == source)]
        for kind, rows in by_cam_kind(hit).items():
            rows = rows.sort_values("created_at").groupby("model").tail(1)
            rows = rows[rows["model"].isin(robust.index) & rows["value"].notna()]
            label = f"{metric} ({source}{f', {kind} models' if kind else ''})"
            out.append((label, metric, rows))
    return out


def verdicts(metrics: pd.DataFrame, best: pd.DataFrame, trained: dict[str, str], norm: str,
             eps: float) -> list[Verdict]:
    """Every metric against the worst-case robust accuracy under ``norm`` at ``eps`` (ensemble strength), for the
    models trained for ``norm`` (``trained``: model → its trained norm) and for all; Holm-corrected per
    population."""
    b = best[(best["norm"] == norm) & at_eps(best["eps"], eps) & best["ensemble"].astype(bool)]
    robust = b.drop_duplicates("model", keep="last").set_index("model")["value"].astype(float)
    out: list[Verdict] = []
    points = _points(metrics, robust, norm)
    trained_for = [m for m, t in trained.items() if t == norm]
    for population in POPULATIONS:
        found = []
        for label, metric, rows in points:
            if population == "trained":
                rows = rows[rows["model"].isin(trained_for)]
            models = tuple(rows["model"])
            x = rows["value"].to_numpy(dtype=float)
            y = robust.loc[list(models)].to_numpy(dtype=float)
            if len(models) < 2:
                continue
            rho, p = spearman(x, y)
            found.append((label, metric_direction(metric), models, rho, bootstrap_interval(x, y), p))
        adjusted = holm([f[5] for f in found])
        out += [Verdict(population, label, better, models, rho, ci, p, q)
                for (label, better, models, rho, ci, p), q in zip(found, adjusted, strict=True)]
    return out


def summary(found: list[Verdict], population: str = "all") -> str:
    """One sentence: how many metrics say robust models explain better, worse, or give no evidence."""
    mine = [v for v in found if v.population == population]
    counts = {a: sum(v.answer == a for v in mine) for a in
              ("robust models explain better", "robust models explain worse", "no evidence either way")}
    rest = len(mine) - sum(counts.values())
    parts = [f"{k} metric{'s' if k != 1 else ''}: {a}" for a, k in counts.items() if k]
    if rest:
        parts.append(f"{rest} without a verdict (too few models, or no direction)")
    return "; ".join(parts) if parts else "no metric measured on enough models"


__all__ = ["ALPHA", "BOOTSTRAP", "COLUMNS", "Verdict", "arrow", "bootstrap_interval", "holm", "metric_direction",
           "spearman", "summary", "verdicts"]
