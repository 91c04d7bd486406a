"""Metric cells: interpretability metrics on clean inputs, or on one attack's adversarial inputs at one eps.

A metric cell is a ``Cell`` of kind ``metrics``: its ``metrics`` name what it measures and its ``attack`` is the
source of its inputs: ``clean`` (eps 0) or a registered attack run at one eps (its adversarial inputs; pairwise metrics
compare them with the clean ones). Summary rows hold each output's mean over the examples it applies to, with a
95% normal interval; per-example values go to the store's ``.values.parquet`` beside the summary.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from rib.attacks import ATTACKS, create_attack
from rib.errors import ConfigError
from rib.explain.metrics import METRICS, MetricInputs, compute_metrics, inapplicable
from rib.grid import Cell
from rib.stats import mean_interval  # noqa: F401  (re-exported: mean_interval lives in rib.stats)

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
            return {o: f"source {reason}" for name in cell.metrics for o in METRICS.get(name).outputs}
    return inapplicable(list(cell.metrics), model)


def evaluate_metrics(cell: Cell, model: nn.Module, x: torch.Tensor, y: torch.Tensor, *,
                     progress: bool = False) -> dict[str, torch.Tensor]:
    """Per-example values of every output of the cell's metrics (the source attack runs first if any); NaN for the
    outputs that do not apply to the model (``cell_inapplicable``)."""
    if cell.attack != CLEAN and create_attack(cell.attack).not_applicable(model):
        return {o: torch.full((len(x),), torch.nan, dtype=torch.float64)
                for name in cell.metrics for o in METRICS.get(name).outputs}
    x_adv = None
    if cell.attack != CLEAN:
        attack = create_attack(cell.attack)
        x_adv = attack(model, x, y, list(cell.eps), seed=cell.seed, batch_size=cell.batch_size,
                       progress=progress).x_adv
    inputs = MetricInputs(model, x, y, x_adv, batch_size=min(cell.batch_size, 256), seed=cell.seed)
    return compute_metrics(list(cell.metrics), inputs)


def value_columns(cell: Cell, indices: torch.Tensor, values: dict[str, torch.Tensor]) -> dict[str, list[Any]]:
    """The per-example table of a metric cell (the store's VALUES_SCHEMA)."""
    cols: dict[str, list[Any]] = {"cell_id": [], "index": [], "metric": [], "value": []}
    for name, v in values.items():
        cols["cell_id"] += [cell.cell_id] * len(indices)
        cols["index"] += indices.tolist()
        cols["metric"] += [name] * len(indices)
        cols["value"] += [float(a) for a in v.tolist()]
    return cols
