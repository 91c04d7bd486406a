"""Local Lipschitz regularization (Etmann, Lunz, Maass, Schönlieb, ICML 2019), in the paper's own scale."""

from __future__ import annotations

import torch

from rib.defenses.base import DEFENSES, Defense, Logs
from rib.defenses.gradient_reg import ce_with_gradient_penalty
from rib.models import RobustModel


@DEFENSES.decorator("lipschitz", aliases=("local-lipschitz", "etmann"))
class LocalLipschitz(Defense):
    """L = mean CE + λ · mean_n ‖∇_{x_n} CE_n‖₂² + μ‖W‖².

    The code's raw λ = 10 on a batch of 100 is λ = 1e-3 here (divided by batch²); the paper sweeps λ over a
    robustness ladder (1e-3 … 1).
    """

    paper = "Etmann et al., ICML 2019"
    PARAMS = ("lam", "mu")

    def loss(self, model: RobustModel, x: torch.Tensor, y: torch.Tensor, aux: dict[str, torch.Tensor],
             progress: float, generator: torch.Generator) -> tuple[torch.Tensor, Logs]:
        ce, penalty = ce_with_gradient_penalty(model, x, y)
        weights_sq = sum(p.pow(2).sum() for n, p in model.net.named_parameters() if n.endswith("weight"))
        loss = ce + self.params["lam"] * penalty + self.params["mu"] * weights_sq
        return loss, {"ce": ce.item(), "grad_sq": penalty.item()}
