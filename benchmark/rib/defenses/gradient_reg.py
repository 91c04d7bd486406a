"""Input-gradient regularization by double backpropagation (Ross & Doshi-Velez, AAAI 2018)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from rib.defenses.base import DEFENSES, Defense, Logs
from rib.models import RobustModel


def ce_with_gradient_penalty(
    model: RobustModel, x: torch.Tensor, y: torch.Tensor, *, uniform: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean CE, mean_n ‖∇_{x_n} L_n‖₂²) with L the CE against y, or against uniform labels if ``uniform``.

    The penalty is differentiable in the parameters (double backpropagation).
    """
    x = x.detach().requires_grad_(True)
    logits = model(x)
    ce = F.cross_entropy(logits, y, reduction="none")
    target = -F.log_softmax(logits, dim=1).mean(dim=1) if uniform else ce
    (grad,) = torch.autograd.grad(target.sum(), x, create_graph=True)
    return ce.mean(), grad.flatten(1).pow(2).sum(dim=1).mean()


@DEFENSES.decorator("gradient-reg", aliases=("double-backprop", "input-gradient-reg", "ross"))
class GradientRegularization(Defense):
    """L = mean CE + λ · mean_n ‖∇_{x_n} CE_n‖²; the paper's MNIST choice is λ ≈ 110 in this form.

    ``uniform=true`` is the paper's "certainty insensitivity" variant (the penalty on CE against uniform labels).
    """

    paper = "Ross & Doshi-Velez, AAAI 2018"
    PARAMS = ("lam", "uniform")

    def loss(self, model: RobustModel, x: torch.Tensor, y: torch.Tensor, aux: dict[str, torch.Tensor],
             progress: float, generator: torch.Generator) -> tuple[torch.Tensor, Logs]:
        ce, penalty = ce_with_gradient_penalty(model, x, y, uniform=bool(self.params["uniform"]))
        return ce + self.params["lam"] * penalty, {"ce": ce.item(), "grad_sq": penalty.item()}
