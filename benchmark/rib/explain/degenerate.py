"""Degenerate and excluded examples: a metric value that would be a number for the wrong reason is NaN, with why.

*Degenerate*: the explanation carries nothing to measure (a zero or constant map, a CE loss below float32
resolution), so any value would reward a dead, saturated or constant model. *Excluded*: the example is outside
what the metric compares (the attack changed the prediction, or did not move the input). A cell whose examples
are mostly degenerate (``MOSTLY``) stores no mean: its row's value is NaN and its params say ``flag: degenerate``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import torch

FLOAT32_EPS = float(torch.finfo(torch.float32).eps)
MOSTLY = 0.5  # a cell is flagged when more than this share of its compared examples is degenerate
DEGENERATE, EXCLUDED = "degenerate", "excluded"

REASONS = {
    "degenerate: zero attribution": "the map's l1 mass is at most float32 eps times the largest |logit| it explains "
                                    "(a dead or constant model: every attribution is rounding)",
    "degenerate: constant attribution": "every entry of the map is equal to within float32 eps: it ranks nothing",
    "degenerate: zero gradient": "the gradient's l1 mass is at most float32 eps times the value it differentiates",
    "degenerate: CE saturated": "the cross-entropy is below float32 eps: the model is so confident that its loss, "
                                "and the loss's gradient, are rounding",
    "degenerate: zero input": "the input is all zeros: its direction is undefined",
    "degenerate: constant CAM": "the true-class CAM is spatially constant (all-zero included): no location stands out",
    "degenerate: top-k tied": "the k-th and (k+1)-th largest CAM values are equal: the top-k set is not determined",
    "degenerate: randomized map constant": "every randomized-model map of the cascade is constant: no rank correlation",
    "excluded: prediction changed": "the attack changed the prediction (the paper compares examples whose prediction "
                                    "did not change)",
    "excluded: input not moved": "the attack returned the clean input unchanged: there is nothing to compare",
    "excluded: misclassified": "the model misclassifies the input: deleting its evidence for the true class is moot",
}


@dataclass
class Values:
    """Per-example values of one metric output (float64) and, where a value is NaN, why (``REASONS``)."""

    value: torch.Tensor
    reason: list[str]

    @classmethod
    def of(cls, value: torch.Tensor) -> Values:
        """Values with no example marked (NaN in ``value`` stays NaN without a reason)."""
        return cls(value.detach().double().cpu().clone(), [""] * len(value))

    def mark(self, mask: torch.Tensor, reason: str) -> Values:
        """Set the examples of ``mask`` to NaN with ``reason`` (an example keeps the first reason it got)."""
        if reason not in REASONS:
            raise ValueError(f"undocumented reason {reason!r}")
        for i in mask.cpu().nonzero().flatten().tolist():
            if not self.reason[i]:
                self.reason[i] = reason
                self.value[i] = torch.nan
        return self

    def mark_maps(self, maps: torch.Tensor, scale: torch.Tensor) -> Values:
        """Mark the examples whose map is zero (against ``scale``, see ``zero_maps``) or constant."""
        return (self.mark(zero_maps(maps, scale), "degenerate: zero attribution")
                .mark(constant_maps(maps), "degenerate: constant attribution"))

    def count(self, kind: str) -> int:
        """How many examples are marked ``kind`` (``DEGENERATE`` or ``EXCLUDED``)."""
        return sum(r.startswith(kind + ":") for r in self.reason)

    def mostly_degenerate(self) -> bool:
        """More than ``MOSTLY`` of the examples not excluded are degenerate (so no mean is stored)."""
        compared = len(self.reason) - self.count(EXCLUDED)
        return compared > 0 and self.count(DEGENERATE) > MOSTLY * compared

    def summary(self) -> dict[str, Any]:
        """Counts for a stored row's params: degenerate, excluded, and how many of each reason."""
        return {DEGENERATE: self.count(DEGENERATE), EXCLUDED: self.count(EXCLUDED),
                "reasons": dict(sorted(Counter(r for r in self.reason if r).items()))}


def _flat(maps: torch.Tensor) -> torch.Tensor:
    return maps.detach().flatten(1).double().cpu()


def zero_maps(maps: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Maps whose l1 mass is at most float32 eps · ``scale`` (per example; e.g. the largest |logit| explained)."""
    return _flat(maps).abs().sum(1) <= FLOAT32_EPS * scale.detach().double().cpu().abs()


def constant_maps(maps: torch.Tensor) -> torch.Tensor:
    """Maps whose entries are all equal to within float32 eps of their largest |entry| (all-zero maps included)."""
    a = _flat(maps)
    return a.max(1).values - a.min(1).values <= FLOAT32_EPS * a.abs().max(1).values


def marked_maps(values: torch.Tensor, maps: torch.Tensor, scale: torch.Tensor) -> Values:
    """``values`` with the examples whose map is zero (against ``scale``, see ``zero_maps``) or constant marked."""
    return Values.of(values).mark_maps(maps, scale)


def topk_tied(maps: torch.Tensor, k: int) -> torch.Tensor:
    """Maps whose k-th and (k+1)-th largest entries are equal: their top-k set depends on how ties are broken."""
    a = _flat(maps)
    if a.shape[1] <= k:
        return torch.zeros(len(a), dtype=torch.bool)
    top = a.topk(k + 1, dim=1).values
    return top[:, k - 1] == top[:, k]
