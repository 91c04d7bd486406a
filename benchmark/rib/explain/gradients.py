"""Input gradients and SmoothGrad, shared by the gradient-based defenses and the attribution metrics."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def input_gradient(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, of: str = "logit", create_graph: bool = False
) -> torch.Tensor:
    """Per-example gradient w.r.t. the input of the true-class logit (``of="logit"``) or of cross-entropy.

    With ``create_graph=True`` the result stays differentiable (double backpropagation).
    """
    x = x if x.requires_grad else x.detach().requires_grad_(True)
    logits = model(x)
    if of == "logit":
        out = logits.gather(1, y.view(-1, 1)).sum()
    elif of == "ce":
        out = F.cross_entropy(logits, y, reduction="sum")
    else:
        raise ValueError(f"input_gradient: of must be 'logit' or 'ce', got {of!r}")
    (grad,) = torch.autograd.grad(out, x, create_graph=create_graph)
    return grad


def smoothgrad(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    samples: int = 50,
    sigma: float = 0.15,
    include_clean: bool = True,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Mean true-class-logit gradient over ``x`` (optionally) and ``samples`` noisy copies clipped to [0, 1]."""
    total = input_gradient(model, x, y) if include_clean else torch.zeros_like(x)
    for _ in range(samples):
        noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype) * sigma
        total = total + input_gradient(model, (x + noise).clamp(0, 1), y)
    return total / (samples + int(include_clean))


def sparsify(maps: torch.Tensor, n_std: float = 1.0) -> torch.Tensor:
    """Keep entries with ``|m − mean(m)| > n_std · std(m)`` per map, zero the rest (Noack et al.)."""
    flat = maps.flatten(1)
    mean = flat.mean(dim=1, keepdim=True)
    std = flat.std(dim=1, keepdim=True)
    keep = (flat - mean).abs() > n_std * std
    return (flat * keep).view_as(maps)
