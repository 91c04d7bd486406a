"""Standard training: cross-entropy only (the baseline)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from rib.defenses.base import DEFENSES, Defense, Logs

if TYPE_CHECKING:  # annotations only: the zoo imports the defenses, so they never import the zoo
    from rib.zoo.robust_model import RobustModel


@DEFENSES.decorator("standard", aliases=("natural", "ce"))
class Standard(Defense):
    paper = "baseline"

    def loss(self, model: RobustModel, x: torch.Tensor, y: torch.Tensor, aux: dict[str, torch.Tensor],
             progress: float, generator: torch.Generator) -> tuple[torch.Tensor, Logs]:
        ce = F.cross_entropy(model(x), y)
        return ce, {"ce": ce.item()}
