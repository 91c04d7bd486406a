"""Metric cells: interpretability metrics on clean inputs, or on one attack's adversarial inputs at one eps.

A metric cell is a ``Cell`` of kind ``metrics``: its ``metrics`` name what it measures and its ``attack`` is the
source of its inputs: ``clean`` (eps 0) or a registered attack run at one eps (its adversarial inputs; pairwise metrics
compare them with the clean ones). Summary rows hold each output's mean over the examples it applies to, with a
95% normal interval, and in their params how many examples were degenerate or excluded and why, the versions of the
libraries that computed it and, for CAM metrics, the kind of CAM; a cell whose examples are mostly degenerate
stores NaN with ``flag: degenerate`` instead of a mean. Per-example values (and each NaN's reason) go to the
store's ``.values.parquet`` beside the summary. A metric's baselines are outputs of their own
(``<output>:random``, ``<output>:randomized``, ``gini-*:input``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from rib.attacks import ATTACKS, create_attack
from rib.errors import ConfigError
from rib.explain.degenerate import Values
from rib.explain.inputs import cam_kind
from rib.explain.metrics import METRICS, Metric, MetricInputs, compute_metric_values, inapplicable
from rib.grid import Cell
from rib.stats import mean_interval
from rib.store import summary_row

CLEAN = "clean"


def is_metric_cell(cell: Cell) -> bool:
    """Whether ``cell`` measures interpretability metrics rather than robust accuracy."""
    return cell.kind == "metrics"


def source_norm(source: str) -> str:
    """The norm of a metric source: ``none`` for clean inputs, else the attack's."""
    return "none" if source == CLEAN else ATTACKS.get(source).norm_name


def metric_names(spec: str | list[str]) -> list[str]:
    """Canonical metric names from ``"alignment,gini-*"`` or a list; unknown names raise with suggestions."""
    parts = spec.split(",") if isinstance(spec, str) else spec
    names: list[str] = []
    for part in (p.strip() for p in parts if p.strip()):
        names.extend(n for n in METRICS.resolve(part) if n not in names)
    if not names:
        raise ConfigError("--metrics needs at least one metric name (see `rib ls metrics`)")
    return names


def metrics_revision(names: Sequence[str]) -> int:
    """The revision of a metrics cell: 1 + the revisions its metrics went through (a bump of any changes the id)."""
    return 1 + sum(METRICS.get(n).revision - 1 for n in names)


def metric_params(source: str, names: list[str], eps: float) -> tuple[tuple[float, ...], tuple[str, ...]]:
    """(cell eps, cell metrics) of a metric cell; pairwise metrics are dropped for the clean source."""
    if source == CLEAN:
        kept = tuple(n for n in names if not METRICS.get(n).pairwise)
        if not kept:
            raise ConfigError(f"{', '.join(names)}: pairwise metrics need an attack's adversarial inputs, "
                              "not clean ones")
        return (0.0,), kept
    ATTACKS.canonical(source)
    return (float(eps),), tuple(names)


def cell_inapplicable(cell: Cell, model: nn.Module) -> dict[str, str]:
    """Output name → why it cannot be measured on ``model``: every output when the source attack cannot run on it
    (the top-k CAM attack on a model without a CAM), else those of metrics that do not apply (CAM metrics)."""
    if cell.attack != CLEAN:
        reason = create_attack(cell.attack).not_applicable(model)
        if reason:
            return {o: f"source {reason}" for name in cell.metrics for o in METRICS.get(name).stored_outputs()}
    return inapplicable(list(cell.metrics), model)


def adversarial_key(cell: Cell) -> str:
    """The key of the adversarial inputs of a cell's attack call: those an attack cell makes, or those a metric cell
    on an attack's inputs reads (the same attack, eps, sample, seed and batch size give the same key); empty for a
    metric cell on clean inputs. Attack cells with parameters are never matched (``rib.engine.reused_inputs``)."""
    if cell.attack == CLEAN:
        return ""
    return (f"adv/{cell.dataset}/{cell.model}/{cell.weights_sha256}/{cell.attack}/"
            f"{','.join(f'{e:.9g}' for e in cell.eps)}/{cell.n}/{cell.seed}/{cell.batch_size}"
            + (f"/{cell.sample}" if cell.sample else ""))


def evaluate_metrics(cell: Cell, model: nn.Module, x: torch.Tensor, y: torch.Tensor, *,
                     progress: bool = False, x_adv: torch.Tensor | None = None) -> dict[str, Values]:
    """Per-example values of every stored output of the cell's metrics, baselines included (the source attack runs
    first if any, unless ``x_adv`` gives its adversarial inputs: those of the same attack call, made by an attack
    cell of the same run); NaN for the outputs that do not apply to the model (``cell_inapplicable``)."""
    if cell.attack != CLEAN and create_attack(cell.attack).not_applicable(model):
        return {o: Values.of(torch.full((len(x),), torch.nan))
                for name in cell.metrics for o in METRICS.get(name).stored_outputs()}
    if cell.attack == CLEAN:
        x_adv = None
    elif x_adv is None:
        attack = create_attack(cell.attack)
        x_adv = attack(model, x, y, list(cell.eps), seed=cell.seed, batch_size=cell.batch_size,
                       progress=progress).x_adv
    inputs = MetricInputs(model, x, y, x_adv, batch_size=min(cell.batch_size, 256), seed=cell.seed)
    return compute_metric_values(list(cell.metrics), inputs)


def _metric_of(cell: Cell) -> dict[str, type[Metric]]:
    return {o: METRICS.get(name) for name in cell.metrics for o in METRICS.get(name).stored_outputs()}


def metric_rows(cell: Cell, model: nn.Module, base: Mapping[str, Any], values: Mapping[str, Values]) -> list[dict]:
    """The summary rows of a metric cell: per output its mean, n and 95% interval over the measured examples, and in
    params the counts of degenerate and excluded examples, provenance, the CAM kind; NaN with ``not_applicable`` or
    ``flag: degenerate`` where there is nothing to average."""
    reasons, metric_of = cell_inapplicable(cell, model), _metric_of(cell)
    shared = json.loads(base["params"])
    rows = []
    for name, v in values.items():
        metric = metric_of[name]
        params: dict[str, Any] = {**shared, **metric.provenance(), **v.summary()}
        if ":" in name:
            params["baseline"] = name.split(":", 1)[1]
        if metric.needs_cam and not reasons.get(name):
            params["cam"] = cam_kind(model)
        mean, count, ci = mean_interval(v.value)
        if name in reasons:
            params["not_applicable"] = reasons[name]
            mean, count, ci = math.nan, 0, (math.nan, math.nan)
        elif v.mostly_degenerate():
            params["flag"] = "degenerate"
            mean, ci = math.nan, (math.nan, math.nan)
        rows.append(summary_row({**base, "params": json.dumps(params, sort_keys=True)}, name, cell.eps[0], mean,
                                count, ci))
    return rows


def value_columns(cell: Cell, indices: torch.Tensor, values: Mapping[str, Values]) -> dict[str, list[Any]]:
    """The per-example table of a metric cell (the store's VALUES_SCHEMA), with why each NaN is NaN."""
    cols: dict[str, list[Any]] = {"cell_id": [], "index": [], "metric": [], "value": [], "reason": []}
    for name, v in values.items():
        cols["cell_id"] += [cell.cell_id] * len(indices)
        cols["index"] += indices.tolist()
        cols["metric"] += [name] * len(indices)
        cols["value"] += [float(a) for a in v.value.tolist()]
        cols["reason"] += [r or None for r in v.reason]
    return cols
