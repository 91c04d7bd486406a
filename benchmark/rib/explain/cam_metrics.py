"""Metrics comparing the CAMs of clean and adversarial inputs (Boopathy et al. 2020): D, top-k intersection, tau.

Every pairwise metric excludes the examples the attack left unchanged (nothing to compare); top-k intersection and
Kendall's tau also those whose prediction the attack changed (the paper: "prediction unchanged"). A spatially
constant true-class CAM (all-zero included, as ReLU'd Grad-CAM maps often are) is degenerate; so is a top-k set
decided by ties. CAM-head and Grad-CAM maps differ in kind: stored rows say which (``cam``).
"""

from __future__ import annotations

from typing import Any

import torch

from rib.explain.degenerate import Values, constant_maps, topk_tied
from rib.explain.inputs import MetricInputs
from rib.explain.metric_base import METRICS, Metric
from rib.explain.scores import kendall_tau, topk_intersection


def true_class(cams: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The maps of the true class ``[N, h, w]`` out of ``[N, classes, h, w]``."""
    return cams[torch.arange(len(y)), y]


def unmoved(inputs: MetricInputs) -> torch.Tensor:
    """Examples whose adversarial input equals the clean one."""
    return (inputs.inputs("adv") - inputs.inputs("clean")).flatten(1).abs().amax(1) == 0


def other_class_weights(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """softmax(z) renormalized over the classes c ≠ y, computed as the softmax of the other classes' logits (float64:
    it does not underflow to 0 for a confident model)."""
    mask = torch.nn.functional.one_hot(y, logits.shape[1]).bool()
    return logits.double().masked_fill(mask, -torch.inf).softmax(dim=1)


class _CamMetric(Metric):
    pairwise = True
    needs_cam = True
    revision = 2


@METRICS.decorator("interp-discrepancy")
class InterpretationDiscrepancy(_CamMetric):
    outputs = ("interp-discrepancy", "interp-discrepancy-raw")
    higher_is_better = False
    description = ("Boopathy et al.'s D between the CAMs of the clean and the adversarial input, relative to the clean "
                   "CAMs' l1 norm under the same class weights (scale-free); -raw: the paper's D")

    def compute(self, inputs: MetricInputs) -> dict[str, Values]:
        y = inputs.y
        clean, adv = inputs.cams("clean").double(), inputs.cams("adv").double()
        # a CAM head's maps average to its logits; other CAMs (Grad-CAM) weigh classes by the model's own logits
        exact = getattr(inputs.model, "cam_mean_is_logits", True) and inputs.mode != "random"
        w = other_class_weights(adv.mean(dim=(2, 3)) if exact else inputs.logits("adv"), y)
        moved = (adv - clean).abs().flatten(2).sum(2)  # [N, C]
        mass = clean.abs().flatten(2).sum(2)
        rows = torch.arange(len(y))
        raw = moved[rows, y] + (w * moved).sum(1)
        norm = mass[rows, y] + (w * mass).sum(1)
        dead, still = constant_maps(true_class(clean, y)), unmoved(inputs)
        out = {"interp-discrepancy": raw / norm, "interp-discrepancy-raw": raw}
        return {k: Values.of(v).mark(dead, "degenerate: constant CAM").mark(still, "excluded: input not moved")
                for k, v in out.items()}


class _CamStability(_CamMetric):
    def maps(self, inputs: MetricInputs) -> tuple[torch.Tensor, torch.Tensor]:
        return true_class(inputs.cams("clean"), inputs.y), true_class(inputs.cams("adv"), inputs.y)

    def mark(self, value: Values, inputs: MetricInputs, a: torch.Tensor, b: torch.Tensor) -> Values:
        """Degenerate maps first (a property of the model), then the examples the paper does not compare."""
        changed = inputs.prediction("clean") != inputs.prediction("adv")
        return (value.mark(constant_maps(a) | constant_maps(b), "degenerate: constant CAM")
                .mark(unmoved(inputs), "excluded: input not moved")
                .mark(changed, "excluded: prediction changed"))


@METRICS.decorator("topk-intersection")
class TopKIntersection(_CamStability):
    outputs = ("topk-intersection",)
    description = "|TopK ∩ TopK| / k (k = 8) of the true-class CAM, clean vs adversarial, prediction unchanged"

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        return {"k": 8}

    def compute(self, inputs: MetricInputs) -> dict[str, Values]:
        k = int(self.params["k"])
        a, b = self.maps(inputs)
        tied = Values.of(topk_intersection(a, b, k)).mark(topk_tied(a, k) | topk_tied(b, k), "degenerate: top-k tied")
        return {self.name: self.mark(tied, inputs, a, b)}


@METRICS.decorator("kendall-tau")
class KendallTau(_CamStability):
    outputs = ("kendall-tau",)
    description = "Kendall's tau-b between the true-class CAMs, clean vs adversarial, prediction unchanged"
    libraries = ("torch", "scipy")

    def compute(self, inputs: MetricInputs) -> dict[str, Values]:
        a, b = self.maps(inputs)
        return {self.name: self.mark(Values.of(kendall_tau(a, b)), inputs, a, b)}
