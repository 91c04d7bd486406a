"""Natural training with an L1 weight penalty: Chalasani et al.'s control for sparsity by regularization."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from rib.defenses.base import DEFENSES, Defense, Logs
from rib.models import RobustModel


def l1_of_weights(model: RobustModel) -> torch.Tensor:
    """Σ|W| over every conv and linear weight (biases excluded)."""
    return sum(p.abs().sum() for n, p in model.net.named_parameters() if n.endswith("weight") and p.dim() > 1)  # type: ignore[return-value]


@DEFENSES.decorator("l1", aliases=("l1-reg",))
class L1Weights(Defense):
    """Paper form: Σ_n CE_n + λ₁ Σ|W| with batch 50; here mean CE + (λ₁ / reference_batch) Σ|W|, the same objective."""

    paper = "Chalasani et al., ICML 2020"
    PARAMS = ("lam1", "reference_batch")

    def loss(self, model: RobustModel, x: torch.Tensor, y: torch.Tensor, aux: dict[str, torch.Tensor],
             progress: float, generator: torch.Generator) -> tuple[torch.Tensor, Logs]:
        ce = F.cross_entropy(model(x), y)
        penalty = l1_of_weights(model)
        loss = ce + self.params["lam1"] / self.params["reference_batch"] * penalty
        return loss, {"ce": ce.item(), "l1": penalty.item()}
