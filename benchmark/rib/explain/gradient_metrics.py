"""Metrics of input gradients and attribution maps: alignment, Gini, grad-norm, SmoothGrad cosine, max-sensitivity.

Formulas follow papers.md. A zero map (l1 mass at most float32 eps times the largest |logit|) or a constant one is
degenerate, never scored; so is a CE loss below float32 eps for grad-norm (``rib.explain.degenerate``).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from rib.batching import batches
from rib.explain.degenerate import FLOAT32_EPS, Values, marked_maps, zero_maps
from rib.explain.inputs import MetricInputs
from rib.explain.metric_base import METRICS, Metric
from rib.explain.noise import example_uniform
from rib.explain.scores import cosine, gini

CAPTUM = ("torch", "captum")


def ce_gradient(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(∇_x CE, CE) per example, float64. The logits' gradient p − e_y is formed in float64 and backpropagated as a
    unit vector (its norm multiplied back), so a confident model's gradient does not round to zero in float32."""
    x = x.detach().requires_grad_(True)
    z = model(x)
    z64 = z.detach().double()
    ce = F.cross_entropy(z64, y, reduction="none")
    v = torch.softmax(z64, dim=1) - F.one_hot(y, z.shape[1]).double()
    norm = v.norm(dim=1, keepdim=True)
    unit = torch.where(norm > 0, v / norm.clamp_min(1e-300), torch.zeros_like(v))
    (g,) = torch.autograd.grad((z * unit.to(z.dtype)).sum(), x)
    return g.double() * norm.view(-1, *([1] * (x.dim() - 1))), ce


@METRICS.decorator("alignment")
class Alignment(Metric):
    outputs = ("alignment", "alignment-normalized")
    description = "Etmann et al.: |<x, grad z_c>| / ||grad z_c||, c the predicted class; normalized: / ||x||"
    revision = 2
    libraries = CAPTUM

    def compute(self, inputs: MetricInputs) -> dict[str, Values]:
        x = inputs.inputs("eval")
        g = inputs.attribution("saliency", target="pred").flatten(1).double()
        xf = x.flatten(1).double()
        raw = (xf * g).sum(1).abs() / g.norm(dim=1)
        dead = zero_maps(g, inputs.logit_scale())
        return {"alignment": Values.of(raw).mark(dead, "degenerate: zero gradient"),
                "alignment-normalized": Values.of(raw / xf.norm(dim=1)).mark(dead, "degenerate: zero gradient")
                .mark(xf.norm(dim=1) == 0, "degenerate: zero input")}


class _Gini(Metric):
    attribution: ClassVar[str] = ""
    revision = 2
    libraries = CAPTUM
    reference = "quantus Sparseness (abs, no normalization), tests/explain/test_against_libraries.py"

    def compute(self, inputs: MetricInputs) -> dict[str, Values]:
        a = inputs.attribution(self.attribution)
        return {self.name: marked_maps(gini(a), a, inputs.logit_scale())}

    def compute_extras(self, inputs: MetricInputs) -> dict[str, Values]:
        return {f"{self.name}:input": Values.of(gini(inputs.inputs("eval")))}


@METRICS.decorator("gini-saliency")
class GiniSaliency(_Gini):
    outputs, attribution, extras = ("gini-saliency",), "saliency", ("gini-saliency:input",)
    description = "Gini index of the true-class saliency map (higher = sparser); :input = Gini of the image itself"


@METRICS.decorator("gini-ig")
class GiniIG(_Gini):
    outputs, attribution, extras = ("gini-ig",), "ig", ("gini-ig:input",)
    description = ("Gini index of Integrated Gradients (zero baseline, 100 steps; Chalasani et al.); :input = Gini "
                   "of the image itself")


@METRICS.decorator("grad-norm")
class GradNorm(Metric):
    outputs = ("grad-norm",)
    higher_is_better = False
    description = ("L2 norm of the input gradient of cross-entropy (Ross & Doshi-Velez); NaN where CE < float32 eps "
                   "(saturated)")
    revision = 2
    baselines = ("randomized",)  # a random map has no scale to compare: no random baseline

    def compute(self, inputs: MetricInputs) -> dict[str, Values]:
        model, x, y = inputs.model, inputs.inputs("eval"), inputs.y
        model.eval()
        device = next(model.parameters()).device
        grads, losses = [], []
        for xb, yb in batches(x, y, batch_size=inputs.batch_size):
            g, ce = ce_gradient(model, xb.to(device), yb.to(device))
            grads.append(g.cpu())
            losses.append(ce.cpu())
        g, ce = torch.cat(grads).flatten(1), torch.cat(losses)
        return {self.name: Values.of(g.norm(dim=1)).mark(ce <= FLOAT32_EPS, "degenerate: CE saturated")
                .mark(g.abs().sum(1) <= FLOAT32_EPS * ce, "degenerate: zero gradient")}


@METRICS.decorator("smoothgrad-cosine")
class SmoothGradCosine(Metric):
    outputs = ("smoothgrad-cosine",)
    description = ("cosine between the saliency map and its SmoothGrad (50 samples, sigma 0.15, noise drawn per "
                   "example): 1 = not noisy")
    revision = 2
    libraries = CAPTUM

    def compute(self, inputs: MetricInputs) -> dict[str, Values]:
        a, b = inputs.attribution("saliency"), inputs.attribution("smoothgrad")
        scale = inputs.logit_scale()
        return {self.name: Values.of(cosine(a, b)).mark(zero_maps(a, scale) | zero_maps(b, scale),
                                                        "degenerate: zero attribution")}


@METRICS.decorator("max-sensitivity")
class MaxSensitivity(Metric):
    outputs = ("max-sensitivity-saliency", "max-sensitivity-ig")
    higher_is_better = False
    description = ("max over 10 uniform draws in an Linf ball of radius 0.02 (not clipped) of ||phi(x') - phi(x)|| / "
                   "||phi(x)||, phi = saliency and IG (Yeh et al. 2019; relative, as captum's and Quantus')")
    revision = 2
    libraries = CAPTUM
    reference = ("quantus MaxSensitivity (normalise=False) and captum sensitivity_max, "
                 "tests/explain/test_against_libraries.py")

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        return {"radius": 0.02, "samples": 10}

    def perturbations(self, x: torch.Tensor, seed: int) -> torch.Tensor:
        """``[samples, N, ...]`` noisy copies of x: uniform in the Linf ball, drawn per example, not clipped."""
        radius, samples = float(self.params["radius"]), int(self.params["samples"])
        noise = example_uniform(x, seed, self.name, samples).cpu() * radius
        return (x.cpu()[:, None] + noise).transpose(0, 1)

    def compute(self, inputs: MetricInputs) -> dict[str, Values]:
        x = inputs.inputs("eval")
        noisy = self.perturbations(x, inputs.seed)
        out: dict[str, Values] = {}
        for name in ("saliency", "ig"):
            a = inputs.attribution(name)
            base = a.flatten(1).double()
            worst = torch.zeros(len(x), dtype=torch.float64)
            for xn in noisy:
                moved = inputs.attribute(name, xn, inputs.y).flatten(1).double()
                worst = torch.maximum(worst, (moved - base).norm(dim=1))
            out[f"max-sensitivity-{name}"] = marked_maps(worst / base.norm(dim=1), a, inputs.logit_scale())
        return out
