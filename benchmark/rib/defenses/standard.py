"""Standard training: cross-entropy only (the baseline)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from rib.defenses.base import DEFENSES, Defense, Logs
from rib.models import RobustModel


@DEFENSES.decorator("standard", aliases=("natural", "ce"))
class Standard(Defense):
    paper = "baseline"

    def loss(self, model: RobustModel, x: torch.Tensor, y: torch.Tensor, aux: dict[str, torch.Tensor],
             progress: float, generator: torch.Generator) -> tuple[torch.Tensor, Logs]:
        ce = F.cross_entropy(model(x), y)
        return ce, {"ce": ce.item()}
