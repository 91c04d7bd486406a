"""Interpretability metrics (``rib ls metrics``): per-example values and their baselines; aggregation is elsewhere.

Formulas follow papers.md; each metric lives in the module of its family (``gradient_metrics``, ``cam_metrics``,
``sanity_metrics``) and registers itself in ``METRICS``. A metric may yield several named outputs (``alignment``
gives the raw and the normalized alignment). Pairwise metrics compare the attributions of a clean input with those
of its adversarial counterpart and only exist for adversarial sources. A value is NaN, with a reason
(``rib.explain.degenerate``), where an example is degenerate or outside what the metric compares.
"""

from __future__ import annotations

import torch
from torch import nn

from rib.errors import ConfigError
from rib.explain import cam_metrics, gradient_metrics, sanity_metrics  # noqa: F401  (they register the metrics)
from rib.explain.degenerate import Values
from rib.explain.inputs import MetricInputs
from rib.explain.metric_base import METRICS, Metric, create_metric
from rib.explain.scores import gini, kendall_tau, topk_intersection


def compute_metric_values(names: list[str], inputs: MetricInputs, *, baselines: bool = True) -> dict[str, Values]:
    """Every stored output of every named metric (with ``baselines``: also ``<output>:random``,
    ``<output>:randomized`` and the extras), per example; NaN everywhere for a metric that does not apply."""
    out: dict[str, Values] = {}
    for name in names:
        metric = create_metric(name)
        if metric.pairwise and inputs.x_adv is None:
            raise ConfigError(f"metric {name!r} compares clean and adversarial inputs: it needs an attack source")
        if metric.not_applicable(inputs.model):  # NaN per example; the cell's rows say why (``inapplicable``)
            names_out = metric.stored_outputs() if baselines else metric.outputs
            out.update({o: Values.of(torch.full((len(inputs.x),), torch.nan)) for o in names_out})
            continue
        out.update(metric.compute(inputs))
        if baselines:
            out.update(metric.compute_extras(inputs))
            for mode in metric.baselines:
                out.update({f"{o}:{mode}": v for o, v in metric.compute(inputs.baseline(mode)).items()})
    return out


def compute_metrics(names: list[str], inputs: MetricInputs) -> dict[str, torch.Tensor]:
    """Every output of every named metric, per example (float64; NaN where a metric does not apply to an example or
    the example is degenerate), without baselines."""
    return {o: v.value for o, v in compute_metric_values(names, inputs, baselines=False).items()}


def inapplicable(names: list[str], model: nn.Module) -> dict[str, str]:
    """Stored output name → why it cannot be measured on ``model``, for the named metrics that do not apply to it."""
    out: dict[str, str] = {}
    for name in names:
        metric = create_metric(name)
        reason = metric.not_applicable(model)
        out.update({o: reason for o in metric.stored_outputs()} if reason else {})
    return out


__all__ = ["METRICS", "Metric", "MetricInputs", "Values", "compute_metric_values", "compute_metrics",
           "create_metric", "gini", "inapplicable", "kendall_tau", "topk_intersection"]
