"""Faithfulness (deletion) and the model-parameter randomization test, for saliency, IG and SmoothGrad.

* ``deletion``: pixel flipping (Bach et al. 2015) as Quantus' ``PixelFlipping`` runs it: features ordered by the
  signed attribution, most positive first (a stable sort); the next ``ceil(F / steps)`` are set to 0 (black, the
  images' minimum) at each step; after each step the model is scored. rib scores whether it still predicts the true
  class (an accuracy curve, so the value does not move with confidence or logit scale: ROAD's reading) and stores
  the area under the ``steps`` points, divided by ``steps − 1``. Lower = the attribution finds the evidence.
* ``mprt``: Adebayo et al. 2018's cascading randomization, as Quantus' ``MPRT`` (top_down, abs): Spearman's rank
  correlation between |explanation| and |explanation after randomizing the layers from the top|, one per cascade
  step, averaged over the steps (the unrandomized model not among them). Lower = depends on the learned weights.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from rib.batching import batches
from rib.explain.degenerate import Values, marked_maps
from rib.explain.inputs import MetricInputs
from rib.explain.metric_base import METRICS, Metric
from rib.explain.randomize import cascade
from rib.explain.scores import curve_area, spearman

METHODS = ("saliency", "ig", "smoothgrad")
TESTED = "tests/explain/test_against_libraries.py"


def deletion_curve(model: nn.Module, x: torch.Tensor, y: torch.Tensor, maps: torch.Tensor, steps: int, *,
                   score: str = "correct", batch_size: int = 256) -> torch.Tensor:
    """``[N, K]`` scores of the true class after each of the K = ceil(F / ceil(F / steps)) deletion steps: ``correct``
    (1 where the model still predicts y) or ``probability`` (its softmax probability)."""
    features = x[0].numel()
    per = math.ceil(features / steps)
    order = torch.argsort(-maps.flatten(1).double(), dim=1, stable=True)
    device = next(model.parameters()).device
    model.eval()
    xp = x.detach().flatten(1).clone().cpu()
    points = []
    with torch.no_grad():
        for k in range(math.ceil(features / per)):
            xp.scatter_(1, order[:, k * per:(k + 1) * per], 0.0)
            logits = torch.cat([model(xb.view(-1, *x.shape[1:]).to(device)).cpu()
                                for (xb,) in batches(xp, batch_size=batch_size)])
            if score == "correct":
                points.append((logits.argmax(1) == y.cpu()).double())
            else:
                points.append(torch.softmax(logits.double(), 1)[torch.arange(len(y)), y.cpu()])
    return torch.stack(points, dim=1)


@METRICS.decorator("deletion")
class Deletion(Metric):
    outputs = tuple(f"deletion-{m}" for m in METHODS)
    higher_is_better = False
    description = ("faithfulness (pixel flipping, as Quantus' PixelFlipping): area under the accuracy curve as the "
                   "most-attributed pixels are set to 0 in 28 steps; saliency, IG, SmoothGrad")
    libraries = ("torch", "captum")
    reference = f"quantus PixelFlipping (curve and AUC), {TESTED}"

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        return {"steps": 28}

    def compute(self, inputs: MetricInputs) -> dict[str, Values]:
        x, y = inputs.inputs("eval"), inputs.y
        wrong = inputs.prediction("eval", of="original") != y
        out = {}
        for m in METHODS:
            a = inputs.attribution(m)
            curve = deletion_curve(inputs.original, x, y, a, int(self.params["steps"]), batch_size=inputs.batch_size)
            out[f"deletion-{m}"] = (Values.of(curve_area(curve)).mark_maps(a, inputs.logit_scale())
                                    .mark(wrong, "excluded: misclassified"))
        return out


@METRICS.decorator("mprt")
class ParameterRandomization(Metric):
    outputs = tuple(f"mprt-{m}" for m in METHODS)
    higher_is_better = False
    description = ("sanity (Adebayo et al. 2018): Spearman correlation of |map| with the map after randomizing "
                   "layers from the top, mean over the cascade; saliency, IG, SmoothGrad")
    baselines = ("random",)  # the randomized model is what this metric is made of
    libraries = ("torch", "captum", "scipy")
    reference = f"quantus MPRT (top_down, abs; its layer-wise scores), {TESTED}"

    def compute(self, inputs: MetricInputs) -> dict[str, Values]:
        x, y = inputs.inputs("eval"), inputs.y
        base = {m: inputs.attribution(m) for m in METHODS}
        sims: dict[str, list[torch.Tensor]] = {m: [] for m in METHODS}
        for _, net in cascade(inputs.model, inputs.seed):
            for m in METHODS:
                sims[m].append(spearman(base[m].abs(), inputs.attribute_with(net, m, x, y).abs()))
        out = {}
        for m in METHODS:
            s = torch.stack(sims[m], dim=1) if sims[m] else torch.full((len(x), 1), torch.nan, dtype=torch.float64)
            value = marked_maps(s.nanmean(dim=1), base[m], inputs.logit_scale())
            out[f"mprt-{m}"] = value.mark(s.isnan().all(dim=1), "degenerate: randomized map constant")
        return out
