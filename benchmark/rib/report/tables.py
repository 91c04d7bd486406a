"""The leaderboard's tables, computed from the result store alone (summary rows and per-example outcomes).

The headline robust accuracy at an eps is the per-example worst case over every attack run at that eps, counted
over the examples that faced the full ensemble (AutoAttack, standard version, as the cascade's last stage):
``rib.ensemble.worst_case``. At an eps where no ensemble ran, the worst case is over every example some attack
tried; it is shown, but never ranks a model. Only cells of each model's current weights (the card's sha256) count.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from rib.attacks import ATTACKS, attack_for, attacks_with_role, has_role
from rib.data import DATASETS, headline_eps
from rib.ensemble import robustness_cells, row_samples, worst_case, worst_case_examples
from rib.eps import at_eps
from rib.run_table import is_attack_row
from rib.store import ResultStore
from rib.verify import verification_status
from rib.zoo import list_cards

KEY_METRICS = (("alignment", "clean"), ("gini-ig", "clean"), ("smoothgrad-cosine", "clean"),
               ("kendall-tau", attack_for("interpretation", "linf")),
               ("interp-discrepancy", attack_for("reference", "linf")))


def trained_norms(attacks: pd.DataFrame) -> dict[str, str]:
    """Each model's trained norm (``linf``, ``l2`` or ``none``) from its stored attack rows."""
    return attacks.drop_duplicates("model").set_index("model")["trained_norm"].astype(str).to_dict()


def for_norm(pairs: Sequence[tuple[str, str]], norm: str) -> tuple[tuple[str, str], ...]:
    """The (metric, source) pairs a table of ``norm`` shows: a metric on clean inputs as it is, one on another
    norm's adversarial inputs swapped for the attack playing the same role in ``norm`` (PGD-linf's for PGD-l2's),
    or left out where ``norm`` has no such attack (Boopathy et al.'s top-k attack exists in linf only)."""
    out = []
    for metric, source in pairs:
        if source == "clean" or ATTACKS.get(source).norm_name == norm:
            out.append((metric, source))
            continue
        same = attacks_with_role(ATTACKS.get(source).role, norm)
        if len(same) == 1:
            out.append((metric, same[0]))
    return tuple(out)


@dataclass
class StoreView:
    """Everything the report reads, loaded once."""

    summary: pd.DataFrame  # rows measured on rib's own sample: every table, curve and worst case of the board
    examples: pd.DataFrame
    verification: dict[str, dict[str, str]]  # dataset → model → verified / failed (for the stored weights)
    other_samples: pd.DataFrame = field(default_factory=pd.DataFrame)  # rows on an authors' image set (protocols)
    values: pd.DataFrame = field(default_factory=pd.DataFrame)  # metric cells' per-example values
    _memo: dict[tuple[str, str], pd.DataFrame] = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, results: Any, models_dir: Any = None) -> StoreView:
        """The store at ``results``, keeping only cells of each model's current weights (its card's sha256; for a
        model without a card, the weights of its newest row)."""
        store = ResultStore(results)
        everything = current_weights(store.scan().to_pandas(), models_dir)
        own = row_samples(everything) == ""
        summary, other = everything[own], everything[~own]
        examples = store.examples().to_pandas()
        examples = examples[examples["cell_id"].isin(set(everything["cell_id"]))]
        verification = {}
        for dataset, rows in summary.groupby("dataset"):
            shas = dict(zip(rows["model"], rows["weights_sha256"], strict=True))
            verification[str(dataset)] = verification_status(results, str(dataset), shas)
        values = store.values().to_pandas()
        values = values[values["cell_id"].isin(set(summary["cell_id"]))]
        return cls(summary, examples, verification, other, values)

    def datasets(self) -> list[str]:
        """The stored datasets, registered ones in registration order (MNIST first), then the rest by name."""
        stored = set(self.summary["dataset"].unique())
        known = [d for d in DATASETS.in_registration_order() if d in stored]
        return known + sorted(stored - set(known))

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


def current_weights(summary: pd.DataFrame, models_dir: Any = None) -> pd.DataFrame:
    """The rows of ``summary`` measured on each model's current weights: the sha256 in its card, or, for a model
    without a card, the weights of its newest row. Rows of older weights never mix into a model's numbers."""
    if summary.empty:
        return summary
    keep = []
    for dataset, rows in summary.groupby("dataset"):
        cards = {c.id: c.weights_sha256 for c in list_cards(str(dataset), models_dir)} if dataset in DATASETS else {}
        newest = rows.sort_values("created_at").groupby("model")["weights_sha256"].last()
        current = {m: cards.get(str(m), sha) for m, sha in newest.items()}
        keep.append(rows[rows["weights_sha256"] == rows["model"].map(current)])
    return pd.concat(keep) if keep else summary


def best_known(view: StoreView, dataset: str) -> pd.DataFrame:
    """Per (model, norm, eps): the worst case over attacks (``rib.ensemble.worst_case``): value, n, Wilson
    interval, attack count and whether it is at ensemble strength.

    Computed once per dataset and kept in ``view``: callers must not modify the frame.
    """
    key = ("best", dataset)
    if key not in view._memo:
        view._memo[key] = worst_case(view.examples, robustness_cells(view.attack_rows(dataset)))
    return view._memo[key]


def per_example_known(view: StoreView, dataset: str) -> pd.DataFrame:
    """Per (model, norm, eps, index): the per-image worst case behind ``best_known`` (for paired tests)."""
    key = ("per-example", dataset)
    if key not in view._memo:
        view._memo[key] = worst_case_examples(view.examples, robustness_cells(view.attack_rows(dataset)))
    return view._memo[key]


def _fmt_pct(value: float) -> str:
    return "" if value is None or not math.isfinite(value) else f"{100 * value:.1f}"


def headline(best: pd.DataFrame, model: str, norm: str, eps: float | None) -> pd.Series | None:
    """The model's headline row at ``eps``: its worst case there, only if it is at ensemble strength."""
    if eps is None:
        return None
    hit = best[(best["model"] == model) & (best["norm"] == norm) & (at_eps(best["eps"], eps))
               & best["ensemble"].astype(bool)]
    return None if hit.empty else hit.iloc[0]


def cross_norm(view: StoreView, dataset: str) -> tuple[list[str], list[list[Any]]]:
    """Trained norm × attacked norm: the headline (ensemble worst case) at each norm's headline eps, per model."""
    headline_at = {n: headline_eps(dataset, n) for n in ("linf", "l2")}
    best = best_known(view, dataset)
    headers = ["model", "trained against", *[f"attacked {n} @ {headline_at[n]:g} %" for n in ("linf", "l2")]]
    rows = []
    attacks = view.attack_rows(dataset)
    for model in sorted(attacks["model"].unique()):
        first = attacks[attacks["model"] == model].iloc[0]
        trained = "none" if first["trained_norm"] == "none" else f"{first['trained_norm']} {first['trained_eps']:g}"
        cols = []
        for n in ("linf", "l2"):
            head = headline(best, model, n, headline_at[n])
            cols.append(_fmt_pct(float(head["value"])) if head is not None else "")
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


def protocol_comparison(view: StoreView, dataset: str, model: str) -> list[dict[str, Any]]:
    """For a model evaluated under an authors' protocol: per eps, what the authors' protocol measures on their own
    images beside rib's worst case on the same images (value, n, 95% interval, at ensemble strength or not), and
    whether rib's number lies below the protocol's by more than both intervals (the protocol overstates
    robustness there). Empty for a model without a protocol cell."""
    other = view.other_samples
    if other.empty:
        return []
    rows = other[(other["dataset"] == dataset) & (other["model"] == model) & (other["metric"] == "robust_accuracy")]
    if rows.empty:
        return []
    protocol = rows[rows["attack"].map(lambda a: has_role(str(a), "protocol")).astype(bool)]
    out = []
    for attack, cells in protocol.groupby("attack"):
        sample = str(row_samples(cells).iloc[0])
        worst = worst_case(view.examples, robustness_cells(other[other["dataset"] == dataset], sample))
        worst = worst[(worst["model"] == model) & (worst["norm"] == ATTACKS.get(str(attack)).norm_name)]
        for _, r in cells.sort_values("eps").iterrows():
            w = worst[at_eps(worst["eps"], float(r["eps"]))]
            entry: dict[str, Any] = {"attack": str(attack), "sample": sample, "eps": float(r["eps"]),
                                     "protocol": float(r["value"]), "protocol_n": int(r["n"]),
                                     "protocol_ci": (float(r["ci_low"]), float(r["ci_high"])), "rib": math.nan,
                                     "rib_n": 0, "rib_ci": (math.nan, math.nan), "ensemble": False,
                                     "overstated": False}
            if len(w):
                wr = w.iloc[0]
                entry.update(rib=float(wr["value"]), rib_n=int(wr["n"]),
                             rib_ci=(float(wr["ci_low"]), float(wr["ci_high"])), ensemble=bool(wr["ensemble"]))
                entry["overstated"] = entry["rib_ci"][1] < entry["protocol_ci"][0]
            out.append(entry)
    return out
