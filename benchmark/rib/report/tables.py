"""The leaderboard's tables, computed from the result store alone (summary rows and per-example outcomes).

"Best known" robust accuracy at an eps is the per-example worst case over every attack that ran at that eps
(RobustBench's rule): an example counts as robust only if it survived each attack that tried it, and the share is
over every example some attack tried. It is not the minimum of the attacks' accuracies.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from rib.attacks import ATTACKS
from rib.data import DATASETS, headline_eps
from rib.run_table import is_attack_row
from rib.stats import wilson_interval
from rib.store import ResultStore

KEY_METRICS = (("alignment", "clean"), ("gini-ig", "clean"), ("smoothgrad-cosine", "clean"),
               ("kendall-tau", "topk-cam-linf"))
ROBUSTNESS_KINDS = ("white-box", "black-box", "transfer", "ensemble")


@dataclass
class StoreView:
    """Everything the report reads, loaded once."""

    summary: pd.DataFrame
    examples: pd.DataFrame
    verification: dict[str, dict[str, str]]  # dataset → model → verified / failed (for the stored weights)
    _memo: dict[tuple[str, str], pd.DataFrame] = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, results: Any) -> StoreView:
        from rib.verify import verification_status  # here, not at the top: verify renders the site (cycle)

        store = ResultStore(results)
        summary = store.scan().to_pandas()
        examples = store.examples().to_pandas()
        verification = {}
        for dataset, rows in summary.groupby("dataset"):
            shas = dict(zip(rows["model"], rows["weights_sha256"], strict=True))
            verification[str(dataset)] = verification_status(results, str(dataset), shas)
        return cls(summary, examples, verification)

    def datasets(self) -> list[str]:
        return sorted(self.summary["dataset"].unique())

    def _split(self, dataset: str) -> None:
        """Split a dataset's rows into attack rows and metric rows once (the pages ask many times)."""
        d = self.summary[self.summary["dataset"] == dataset]
        kinds = {m: is_attack_row({"metric": m}) for m in d["metric"].unique()}
        mask = d["metric"].map(kinds).astype(bool)
        self._memo[("attacks", dataset)], self._memo[("metrics", dataset)] = d[mask], d[~mask]

    def attack_rows(self, dataset: str) -> pd.DataFrame:
        if ("attacks", dataset) not in self._memo:
            self._split(dataset)
        return self._memo[("attacks", dataset)]

    def metric_rows(self, dataset: str) -> pd.DataFrame:
        if ("metrics", dataset) not in self._memo:
            self._split(dataset)
        return self._memo[("metrics", dataset)]


def _robustness_cells(view: StoreView, dataset: str) -> pd.DataFrame:
    rows = view.attack_rows(dataset)
    rows = rows[rows["attack"].map(lambda a: a in ATTACKS and ATTACKS.get(a).kind in ROBUSTNESS_KINDS)]
    return rows.drop_duplicates("cell_id")[["cell_id", "model", "attack", "norm"]]


def best_known(view: StoreView, dataset: str) -> pd.DataFrame:
    """Per (model, norm, eps): worst-case robust accuracy over attacks, its n, Wilson interval and attack count.

    Computed once per dataset and kept in ``view``: callers must not modify the frame.
    """
    key = ("best", dataset)
    if key not in view._memo:
        view._memo[key] = _best_known(view, dataset)
    return view._memo[key]


def _best_known(view: StoreView, dataset: str) -> pd.DataFrame:
    cells = _robustness_cells(view, dataset)
    ex = view.examples.merge(cells, on="cell_id")
    if ex.empty:
        return pd.DataFrame(columns=["model", "norm", "eps", "value", "n", "ci_low", "ci_high", "attacks"])
    keys = ["model", "norm", "eps"]
    per_example = ex.groupby([*keys, "index"]).agg(robust=("robust", "all"))
    attack_counts = ex.groupby(keys)["attack"].nunique()
    out = []
    for (model, norm, eps), group in per_example.groupby(level=[0, 1, 2]):
        k, n = int(group["robust"].sum()), len(group)
        lo, hi = wilson_interval(k, n)
        out.append({"model": model, "norm": norm, "eps": float(eps), "value": k / n, "n": n, "ci_low": lo,
                    "ci_high": hi, "attacks": int(attack_counts[(model, norm, eps)])})
    return pd.DataFrame(out)


def _fmt_pct(value: float) -> str:
    return "" if value is None or not math.isfinite(value) else f"{100 * value:.1f}"


def leaderboard(view: StoreView, dataset: str, norm: str) -> tuple[list[str], list[list[Any]], list[str]]:
    """(headers, rows, model ids) of one threat model's leaderboard, ranked by best-known accuracy at the headline eps.

    Every cell is text or a number ready for the page; sorting on the page uses the cell's text.
    """
    spec = DATASETS.get(dataset) if dataset in DATASETS else None
    attacks = view.attack_rows(dataset)
    best = best_known(view, dataset)
    best = best[best["norm"] == norm]
    eps_list = sorted(best["eps"].unique())
    headline = spec.headline.get(norm) if spec else (eps_list[-1] if eps_list else None)
    models = sorted(attacks["model"].unique())
    metrics = view.metric_rows(dataset)
    headers = ["rank", "model", "defense", "trained against", "clean %", *[f"best known % @ {e:g}" for e in eps_list],
               f"AutoAttack % @ {headline:g}" if headline is not None else "AutoAttack %",
               *[f"{m} ({src})" for m, src in KEY_METRICS], "verification", "flags"]
    rows = []
    for model in models:
        mine = attacks[attacks["model"] == model]
        clean = mine[mine["metric"] == "clean_accuracy"].sort_values("n")
        first = mine.iloc[0]
        trained = "-" if first["trained_norm"] == "none" else f"{first['trained_norm']} {first['trained_eps']:g}"
        mb = best[best["model"] == model].set_index("eps")
        aa = mine[(mine["attack"] == f"autoattack-{norm}") & (mine["metric"] == "robust_accuracy")]
        flags = mine[mine["metric"].str.startswith("flag:") & (mine["value"] > 0)]
        flag_text = ", ".join(sorted({f"{r.attack}: {r.metric[5:]}" for r in flags.itertuples()}))
        keys = []
        for metric, source in KEY_METRICS:
            hit = metrics[(metrics["model"] == model) & (metrics["metric"] == metric) & (metrics["attack"] == source)]
            keys.append("" if hit.empty or not math.isfinite(hit["value"].iloc[-1]) else f"{hit['value'].iloc[-1]:.3f}")
        rows.append([model, str(first["defense"]), trained,
                     _fmt_pct(float(clean["value"].iloc[-1])) if len(clean) else "",
                     *[_fmt_pct(float(mb.loc[e, "value"])) if e in mb.index else "" for e in eps_list],
                     _fmt_pct(float(aa["value"].iloc[-1])) if len(aa) else "", *keys,
                     view.verification.get(dataset, {}).get(model, "unverified"),
                     flag_text or "none"])
    rank_col = 4 + (eps_list.index(headline) if headline in eps_list else len(eps_list) - 1) if eps_list else 3
    rows.sort(key=lambda r: (-(float(r[rank_col]) if r[rank_col] else -1.0), r[0]))
    ranked = [[i + 1, *r] for i, r in enumerate(rows)]
    return headers, ranked, [r[0] for r in rows]


def cross_norm(view: StoreView, dataset: str) -> tuple[list[str], list[list[Any]]]:
    """Trained norm × attacked norm: best-known accuracy at each norm's headline eps, per model."""
    headline = {n: headline_eps(dataset, n) for n in ("linf", "l2")}
    best = best_known(view, dataset)
    headers = ["model", "trained against", *[f"attacked {n} @ {headline[n]:g} %" for n in ("linf", "l2")]]
    rows = []
    attacks = view.attack_rows(dataset)
    for model in sorted(attacks["model"].unique()):
        first = attacks[attacks["model"] == model].iloc[0]
        trained = "none" if first["trained_norm"] == "none" else f"{first['trained_norm']} {first['trained_eps']:g}"
        cols = []
        for n in ("linf", "l2"):
            hit = best[(best.model == model) & (best.norm == n) & ((best.eps - headline[n]).abs() < 1e-9)]
            cols.append(_fmt_pct(float(hit["value"].iloc[0])) if len(hit) else "")
        rows.append([model, trained, *cols])
    return headers, rows


def model_numbers(view: StoreView, dataset: str, model: str) -> tuple[list[str], list[list[Any]]]:
    """Every stored number of one model: attack or source, norm, eps, metric, value, interval, n."""
    d = view.summary[(view.summary["dataset"] == dataset) & (view.summary["model"] == model)]
    d = d.sort_values(["attack", "metric", "eps"])
    headers = ["attack / inputs", "norm", "eps", "metric", "value", "95% CI", "n"]
    rows = []
    for r in d.itertuples():
        ci = "" if not math.isfinite(r.ci_low) else f"[{r.ci_low:.4f}, {r.ci_high:.4f}]"
        value = "" if not math.isfinite(r.value) else f"{r.value:.4f}"
        rows.append([r.attack, r.norm, f"{r.eps:g}", r.metric, value, ci, int(r.n)])
    return headers, rows
