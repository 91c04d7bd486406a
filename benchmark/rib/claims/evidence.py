"""What claims read from the store: per-image outcomes (worst case, one attack), metric means, boundary distances.

Nothing is recomputed; a number that is not stored is None ("no data"). Worst cases are taken per image set: rib's
own sample, or an authors' image set (``sample``), never mixed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from rib.attacks import ATTACKS, attacks_with_role
from rib.ensemble import robustness_cells, row_samples, worst_case_examples
from rib.eps import at_eps
from rib.stats import DEFAULT_SAMPLE

MIN_NORM_L2 = tuple(attacks_with_role("minimum-norm", "l2"))  # their distances bound the decision boundary


@dataclass(frozen=True)
class Side:
    """One side of a comparison: a label, a value, its sample size and (where known) its 95% interval."""

    label: str
    value: float
    n: int
    ci: tuple[float, float] = (math.nan, math.nan)
    ensemble: bool = True  # False: a worst case over attacks weaker than an ensemble, an upper bound


@dataclass(frozen=True)
class Outcomes:
    """Per-image robustness of one model at one eps: a boolean per test-set index, and whether it is at ensemble
    strength (else an upper bound a stronger attack could lower)."""

    robust: pd.Series
    ensemble: bool
    what: str


class Evidence:
    """The stored rows of one dataset, with the per-image worst cases of each image set computed once."""

    def __init__(self, frame: pd.DataFrame, dataset: str, examples: pd.DataFrame | None = None,
                 values: pd.DataFrame | None = None) -> None:
        if frame.empty:
            frame = pd.DataFrame(columns=["cell_id", "model", "dataset", "attack", "norm", "metric", "eps", "value",
                                          "n", "ci_low", "ci_high", "params"])
        self.df = frame[frame["dataset"] == dataset]
        self.dataset = dataset
        self.examples = examples if examples is not None and not examples.empty else pd.DataFrame(
            columns=["cell_id", "index", "eps", "clean_correct", "robust", "distance"])
        self.values = values if values is not None and not values.empty else pd.DataFrame(
            columns=["cell_id", "index", "metric", "value"])
        self.samples = row_samples(self.df) if len(self.df) else pd.Series(dtype=object)
        self._worst: dict[str, pd.DataFrame] = {}

    def worst_examples(self, sample: str = DEFAULT_SAMPLE) -> pd.DataFrame:
        """Per (model, norm, eps, index): the worst case over attacks on ``sample``'s images."""
        if sample not in self._worst:
            self._worst[sample] = worst_case_examples(self.examples, robustness_cells(self.df, sample))
        return self._worst[sample]

    def worst_outcomes(self, model: str, norm: str, eps: float, sample: str = DEFAULT_SAMPLE) -> Outcomes | None:
        """The model's per-image worst case at (norm, eps) on ``sample``."""
        w = self.worst_examples(sample)
        at = w[(w["model"] == model) & (w["norm"] == norm) & at_eps(w["eps"], eps)]
        if at.empty:
            return None
        ensemble = bool(at["ensemble"].iloc[0])
        names = self.ensembles(model, norm, eps, sample)
        what = f"worst case, {' and '.join(names)} included" if ensemble else "worst case without an ensemble"
        return Outcomes(at.set_index("index")["robust"].astype(bool), ensemble, what)

    def attack_outcomes(self, model: str, attack: str, eps: float, sample: str = DEFAULT_SAMPLE) -> Outcomes | None:
        """The model's per-image outcome under one attack at eps (its largest stored cell on ``sample``)."""
        d = self.df
        hit = d[(d["model"] == model) & (d["attack"] == attack) & (d["metric"] == "robust_accuracy")
                & at_eps(d["eps"], eps) & (self.samples.reindex(d.index) == sample)]
        if hit.empty:
            return None
        cell = hit.sort_values("n").iloc[-1]["cell_id"]
        ex = self.examples[(self.examples["cell_id"] == cell) & at_eps(self.examples["eps"], eps)]
        if ex.empty:
            return None
        strong = attack in ATTACKS and ATTACKS.get(attack).kind == "ensemble"
        return Outcomes(ex.set_index("index")["robust"].astype(bool), strong, attack)

    def ensembles(self, model: str, norm: str, eps: float, sample: str = DEFAULT_SAMPLE) -> list[str]:
        """The ensemble attacks (AutoAttack, the APGD pair) stored for the model at (norm, eps) on ``sample``."""
        d = self.df
        hit = d[(d["model"] == model) & (d["norm"] == norm) & at_eps(d["eps"], eps)
                & (d["metric"] == "robust_accuracy") & (self.samples.reindex(d.index) == sample)]
        return sorted(a for a in hit["attack"].unique() if a in ATTACKS and ATTACKS.get(a).kind == "ensemble")

    def side(self, model: str, attack: str, metric: str, eps: float = 0.0, label: str = "") -> Side | None:
        """The stored number for (model, attack, metric, eps) on rib's sample; the largest-n cell when several."""
        d = self.df
        hit = d[(d["model"] == model) & (d["attack"] == attack) & (d["metric"] == metric)
                & at_eps(d["eps"], eps) & (self.samples.reindex(d.index) == DEFAULT_SAMPLE)]
        if hit.empty or not math.isfinite(float(hit.sort_values("n").iloc[-1]["value"])):
            return None
        r = hit.sort_values("n").iloc[-1]
        return Side(label or f"{model} {metric} ({attack}{f' @ {eps:g}' if eps else ''})", float(r["value"]),
                    int(r["n"]), (float(r["ci_low"]), float(r["ci_high"])))

    def boundary_distances(self, model: str) -> pd.Series:
        """Per image (correctly classified): the smallest L2 distance any minimum-norm attack found."""
        cells = self.df[(self.df["model"] == model) & self.df["attack"].isin(MIN_NORM_L2)]["cell_id"].unique()
        ex = self.examples[self.examples["cell_id"].isin(cells) & self.examples["clean_correct"].astype(bool)]
        return ex.groupby("index")["distance"].min() if len(ex) else pd.Series(dtype=float)

    def boundary_distance(self, model: str) -> Side | None:
        """The median over correctly classified images of ``boundary_distances``."""
        d = self.boundary_distances(model)
        if d.empty:
            return None
        return Side(f"{model} median smallest L2 distance over {', '.join(MIN_NORM_L2)}", float(d.median()), len(d))

    def metric_values(self, model: str, metric: str, source: str = "clean") -> pd.Series:
        """Per image: the stored values of ``metric`` for ``model`` on ``source``'s inputs (rib's sample)."""
        d = self.df
        cells = d[(d["model"] == model) & (d["attack"] == source) & (d["metric"] == metric)]["cell_id"].unique()
        v = self.values[self.values["cell_id"].isin(cells) & (self.values["metric"] == metric)]
        return v.groupby("index")["value"].mean() if len(v) else pd.Series(dtype=float)

    def models(self) -> list[str]:
        return sorted(self.df["model"].unique()) if len(self.df) else []
