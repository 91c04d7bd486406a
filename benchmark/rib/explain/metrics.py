"""Interpretability metrics (``rib ls metrics``): per-example values; aggregation happens in the runner.

Formulas follow papers.md. A metric may yield several named outputs (``alignment`` gives the raw and the
normalized alignment). Pairwise metrics compare the attributions of a clean input with those of its adversarial
counterpart and only exist for adversarial sources. A value is NaN where the metric does not apply to an example
(Kendall's tau on an example whose prediction the attack changed); aggregates skip NaN.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from rib.batching import batches
from rib.errors import ConfigError
from rib.evaluation import predict
from rib.explain.attributions import attribute
from rib.explain.cam import NO_CAM, CamModel, has_cam, interpretation_discrepancy
from rib.explain.gradients import input_gradient
from rib.params import Parameterized
from rib.registry import Registry


def gini(maps: torch.Tensor) -> torch.Tensor:
    """Gini index per map (Chalasani et al.): v = sort(|a| + 1e-7); Σ (2i − n − 1) v_i / (n Σ v_i). 1 = sparse."""
    v = (maps.flatten(1).abs().double() + 1e-7).sort(dim=1).values
    n = v.shape[1]
    i = torch.arange(1, n + 1, dtype=v.dtype)
    return ((2 * i - n - 1) * v).sum(dim=1) / (n * v.sum(dim=1))


def topk_intersection(a: torch.Tensor, b: torch.Tensor, k: int = 8) -> torch.Tensor:
    """|TopK(a) ∩ TopK(b)| / k per pair of maps (top by value, as Boopathy et al.'s CAMs)."""
    ta = a.flatten(1).topk(k, dim=1).indices
    tb = b.flatten(1).topk(k, dim=1).indices
    return (ta[:, :, None] == tb[:, None, :]).any(dim=2).double().sum(dim=1) / k


def kendall_tau(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Kendall's tau-b between each pair of flattened maps (ties handled as scipy does)."""
    from scipy.stats import kendalltau

    out = []
    with warnings.catch_warnings():  # a constant map gives NaN, which is what we want to store
        warnings.simplefilter("ignore")
        for u, v in zip(a.flatten(1).double().numpy(), b.flatten(1).double().numpy(), strict=True):
            out.append(float(kendalltau(u, v).statistic))
    return torch.tensor(out, dtype=torch.float64)


@dataclass
class MetricInputs:
    """The inputs of a metric cell and a memo of attributions shared by its metrics."""

    model: nn.Module
    x: torch.Tensor
    y: torch.Tensor
    x_adv: torch.Tensor | None = None
    batch_size: int = 256
    seed: int = 0
    _memo: dict[tuple[str, str], torch.Tensor] = field(default_factory=dict, repr=False)

    def inputs(self, which: str) -> torch.Tensor:
        """``"clean"``, ``"adv"`` (the adversarial inputs) or ``"eval"`` (adv when there are any, else clean)."""
        if which == "eval":
            which = "clean" if self.x_adv is None else "adv"
        if which == "adv":
            if self.x_adv is None:
                raise ConfigError("this metric compares clean and adversarial inputs: give it an attack source")
            return self.x_adv
        return self.x

    def attribution(self, name: str, which: str = "eval") -> torch.Tensor:
        """Attribution ``name`` of the true class on ``which`` inputs (computed once per cell)."""
        key = (name, "clean" if which == "eval" and self.x_adv is None else which)
        if key not in self._memo:
            kw: dict[str, Any] = {"seed": self.seed} if name == "smoothgrad" else {}
            self._memo[key] = attribute(name, self.model, self.inputs(which), self.y, batch_size=self.batch_size, **kw)
        return self._memo[key]

    def prediction(self, which: str = "eval") -> torch.Tensor:
        key = ("prediction", which)
        if key not in self._memo:
            self._memo[key] = predict(self.model, self.inputs(which), self.batch_size)
        return self._memo[key]


class Metric(Parameterized):
    """One interpretability metric: ``compute`` returns per-example values for each of its ``outputs``.

    Registered with ``@METRICS.decorator(name)``, which sets ``name``.
    """

    params_kind = "metric"
    outputs: ClassVar[tuple[str, ...]] = ()
    higher_is_better: ClassVar[bool | None] = True  # None: neither (a property, not a score)
    pairwise: ClassVar[bool] = False  # compares clean and adversarial inputs
    needs_cam: ClassVar[bool] = False
    description: ClassVar[str] = ""

    def __init__(self, **params: Any) -> None:
        self.set_params(self.default_params(), params)

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        return {}

    def compute(self, inputs: MetricInputs) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def not_applicable(self, model: nn.Module) -> str:
        """Why this metric cannot be measured on ``model`` ("" when it can): CAM metrics need a CAM."""
        return f"{self.name} compares CAMs and {NO_CAM}" if self.needs_cam and not has_cam(model) else ""


METRICS: Registry[type[Metric]] = Registry("metric", name_attr="name")


def _grad(model: nn.Module, x: torch.Tensor, y: torch.Tensor, of: str, batch_size: int) -> torch.Tensor:
    device = next(model.parameters()).device
    return torch.cat([input_gradient(model, xb.to(device), yb.to(device), of=of).detach().cpu()
                      for xb, yb in batches(x, y, batch_size=batch_size)])


@METRICS.decorator("alignment")
class Alignment(Metric):
    outputs = ("alignment", "alignment-normalized")
    description = "Etmann et al.: |<x, grad z_c>| / ||grad z_c||, c the predicted class; normalized: / ||x||"

    def compute(self, inputs: MetricInputs) -> dict[str, torch.Tensor]:
        x = inputs.inputs("eval")
        g = _grad(inputs.model, x, inputs.prediction("eval"), "logit", inputs.batch_size).flatten(1).double()
        xf = x.flatten(1).double()
        raw = (xf * g).sum(1).abs() / g.norm(dim=1).clamp_min(1e-30)
        return {"alignment": raw, "alignment-normalized": raw / xf.norm(dim=1).clamp_min(1e-30)}


class _Gini(Metric):
    attribution: ClassVar[str] = ""

    def compute(self, inputs: MetricInputs) -> dict[str, torch.Tensor]:
        return {self.name: gini(inputs.attribution(self.attribution))}


@METRICS.decorator("gini-saliency")
class GiniSaliency(_Gini):
    outputs, attribution = ("gini-saliency",), "saliency"
    description = "Gini index of the true-class saliency map (higher = sparser)"


@METRICS.decorator("gini-ig")
class GiniIG(_Gini):
    outputs, attribution = ("gini-ig",), "ig"
    description = "Gini index of Integrated Gradients (zero baseline, 100 steps; Chalasani et al.)"


@METRICS.decorator("grad-norm")
class GradNorm(Metric):
    outputs = ("grad-norm",)
    higher_is_better = False
    description = "L2 norm of the input gradient of cross-entropy (Ross & Doshi-Velez)"

    def compute(self, inputs: MetricInputs) -> dict[str, torch.Tensor]:
        g = _grad(inputs.model, inputs.inputs("eval"), inputs.y, "ce", inputs.batch_size)
        return {self.name: g.flatten(1).double().norm(dim=1)}


@METRICS.decorator("smoothgrad-cosine")
class SmoothGradCosine(Metric):
    outputs = ("smoothgrad-cosine",)
    description = "cosine between the saliency map and its SmoothGrad (50 samples, sigma 0.15): 1 = not noisy"

    def compute(self, inputs: MetricInputs) -> dict[str, torch.Tensor]:
        a = inputs.attribution("saliency").flatten(1).double()
        b = inputs.attribution("smoothgrad").flatten(1).double()
        return {self.name: F.cosine_similarity(a, b, dim=1, eps=1e-30)}


@METRICS.decorator("interp-discrepancy")
class InterpretationDiscrepancy(Metric):
    outputs = ("interp-discrepancy",)
    higher_is_better = False
    pairwise = True
    needs_cam = True
    description = "Boopathy et al.'s D between the CAMs of the clean and the adversarial input"

    def compute(self, inputs: MetricInputs) -> dict[str, torch.Tensor]:
        model, bs = inputs.model, inputs.batch_size
        if not isinstance(model, CamModel):
            raise ConfigError(f"metric {self.name!r} needs a model with a CAM head")
        device = next(model.parameters()).device
        x, xa, y = inputs.inputs("clean"), inputs.inputs("adv"), inputs.y
        with torch.no_grad():
            d = torch.cat([interpretation_discrepancy(model, xb.to(device), xab.to(device), yb.to(device)).cpu()
                           for xb, xab, yb in batches(x, xa, y, batch_size=bs)])
        return {self.name: d.double()}


class _CamStability(Metric):
    pairwise = True
    needs_cam = True

    def _unchanged(self, inputs: MetricInputs) -> torch.Tensor:
        """Examples classified correctly both before and after the attack (the others are not compared)."""
        return (inputs.prediction("clean") == inputs.y) & (inputs.prediction("adv") == inputs.y)

    def maps(self, inputs: MetricInputs) -> tuple[torch.Tensor, torch.Tensor]:
        return inputs.attribution("cam", "clean"), inputs.attribution("cam", "adv")


@METRICS.decorator("topk-intersection")
class TopKIntersection(_CamStability):
    outputs = ("topk-intersection",)
    description = "|TopK ∩ TopK| / k (k = 8) of the true-class CAM, clean vs adversarial, prediction unchanged"

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        return {"k": 8}

    def compute(self, inputs: MetricInputs) -> dict[str, torch.Tensor]:
        a, b = self.maps(inputs)
        value = topk_intersection(a, b, int(self.params["k"]))
        return {self.name: torch.where(self._unchanged(inputs), value, torch.nan)}


@METRICS.decorator("kendall-tau")
class KendallTau(_CamStability):
    outputs = ("kendall-tau",)
    description = "Kendall's tau between the true-class CAMs, clean vs adversarial, prediction unchanged"

    def compute(self, inputs: MetricInputs) -> dict[str, torch.Tensor]:
        a, b = self.maps(inputs)
        return {self.name: torch.where(self._unchanged(inputs), kendall_tau(a, b), torch.nan)}


@METRICS.decorator("max-sensitivity")
class MaxSensitivity(Metric):
    outputs = ("max-sensitivity-saliency", "max-sensitivity-ig")
    higher_is_better = False
    description = ("max over random inputs in an Linf ball (radius 0.02, 10 samples, clipped to [0, 1]) of "
                   "||phi(x') - phi(x)|| / ||phi(x)||, phi = saliency and IG (Yeh et al. 2019; captum's "
                   "sensitivity_max)")

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        return {"radius": 0.02, "samples": 10}

    def compute(self, inputs: MetricInputs) -> dict[str, torch.Tensor]:
        radius, samples = float(self.params["radius"]), int(self.params["samples"])
        x = inputs.inputs("eval")
        gen = torch.Generator().manual_seed(inputs.seed)
        noisy = [(x + (torch.rand(x.shape, generator=gen) * 2 - 1) * radius).clamp(0, 1) for _ in range(samples)]
        out: dict[str, torch.Tensor] = {}
        for name in ("saliency", "ig"):
            base = inputs.attribution(name).flatten(1).double()
            worst = torch.zeros(len(x), dtype=torch.float64)
            for xn in noisy:
                moved = attribute(name, inputs.model, xn, inputs.y, batch_size=inputs.batch_size).flatten(1).double()
                worst = torch.maximum(worst, (moved - base).norm(dim=1) / base.norm(dim=1).clamp_min(1e-30))
            out[f"max-sensitivity-{name}"] = worst
        return out


def create_metric(name: str, **params: Any) -> Metric:
    """Instantiate a registered metric with its defaults overridden by ``params``."""
    return METRICS.get(name)(**params)


def compute_metrics(names: list[str], inputs: MetricInputs) -> dict[str, torch.Tensor]:
    """Every output of every named metric, per example (float64, NaN where a metric does not apply)."""
    out: dict[str, torch.Tensor] = {}
    for name in names:
        metric = create_metric(name)
        if metric.pairwise and inputs.x_adv is None:
            raise ConfigError(f"metric {name!r} compares clean and adversarial inputs: it needs an attack source")
        if metric.not_applicable(inputs.model):  # NaN per example; the cell's rows say why (``inapplicable``)
            out.update({o: torch.full((len(inputs.x),), torch.nan, dtype=torch.float64) for o in metric.outputs})
            continue
        out.update(metric.compute(inputs))
    return out


def inapplicable(names: list[str], model: nn.Module) -> dict[str, str]:
    """Output name → why it cannot be measured on ``model``, for the named metrics that do not apply to it."""
    out: dict[str, str] = {}
    for name in names:
        metric = create_metric(name)
        reason = metric.not_applicable(model)
        out.update({o: reason for o in metric.outputs} if reason else {})
    return out
