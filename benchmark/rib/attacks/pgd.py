"""The projected-gradient ascent loop shared by adversarial training and rib's PGD attacks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import overload

import torch
import torch.nn.functional as F
from torch import nn

from rib.norms import Norm

# loss(model, x_adv, y) -> per-example loss to maximize
LossFn = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]


def ce_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-example cross-entropy of ``model`` at ``x``."""
    return F.cross_entropy(model(x), y, reduction="none")


@overload
def default_step_size(eps: float, steps: int, rel_step_size: float = 2.5) -> float: ...
@overload
def default_step_size(eps: torch.Tensor, steps: int, rel_step_size: float = 2.5) -> torch.Tensor: ...
def default_step_size(eps: float | torch.Tensor, steps: int, rel_step_size: float = 2.5) -> float | torch.Tensor:
    """papers.md's step rule, the one every PGD-style loop uses: ``rel_step_size · eps / steps`` (2.5 · eps / steps).

    Evaluated as ``(rel_step_size * eps) / max(steps, 1)``, always in that order, so results stay bit-identical.
    """
    return rel_step_size * eps / max(steps, 1)


def random_delta(norm: Norm, x: torch.Tensor, eps: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """A random perturbation inside the eps ball that keeps ``x + delta`` in [0, 1]."""
    delta = norm.random_init(x, eps, generator)
    return (x + delta).clamp(0, 1) - x


@torch.no_grad()
def projected_step(norm: Norm, x: torch.Tensor, delta: torch.Tensor, grad: torch.Tensor,
                   step_size: float | torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """One ascent step along the normalized gradient, projected onto the eps ball and [0, 1]."""
    delta = norm.project(delta + step_size * norm.normalize_grad(grad), eps)
    return (x + delta).clamp(0, 1) - x


@dataclass(frozen=True)
class PGDSettings:
    """How a projected-gradient ascent runs: ``steps`` steps of ``step_size`` (a scalar or a per-example tensor;
    None: ``default_step_size``), from a random point of the ball or from the input, maximizing ``loss_fn``, with
    ``restarts`` random restarts where the loop takes them."""

    steps: int
    step_size: float | torch.Tensor | None = None
    random_start: bool = True
    loss_fn: LossFn = ce_loss
    restarts: int = 1


def pgd_perturb(model: nn.Module, x: torch.Tensor, y: torch.Tensor, norm: Norm, eps: float | torch.Tensor,
                settings: PGDSettings, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """Maximize ``settings.loss_fn`` within the ``norm`` ball of radius ``eps`` around ``x``, inside [0, 1].

    ``eps`` is a scalar or a per-example tensor. Returns the adversarial inputs, detached. Parameter gradients are
    never touched: only the input gradient is computed.
    """
    steps, step_size, loss_fn = settings.steps, settings.step_size, settings.loss_fn
    n = x.shape[0]
    eps_t = torch.as_tensor(eps, dtype=x.dtype, device=x.device).expand(n).clone()
    if step_size is None:
        step_size = default_step_size(eps_t, steps)
    step_t = torch.as_tensor(step_size, dtype=x.dtype, device=x.device).expand(n).clone()
    step_view = step_t.view(-1, *([1] * (x.dim() - 1)))
    x = x.detach()
    delta = random_delta(norm, x, eps_t, generator) if settings.random_start else torch.zeros_like(x)
    for _ in range(steps):
        delta.requires_grad_(True)
        loss = loss_fn(model, x + delta, y)
        (grad,) = torch.autograd.grad(loss.sum(), delta)
        delta = projected_step(norm, x, delta.detach(), grad, step_view, eps_t)
    return (x + delta).detach()
