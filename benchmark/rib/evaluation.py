"""Batched prediction and clean accuracy."""

from __future__ import annotations

import torch
from torch import nn

from rib.batching import batches


@torch.no_grad()
def predict(
    model: nn.Module, x: torch.Tensor, batch_size: int = 500, device: torch.device | None = None
) -> torch.Tensor:
    """Predicted labels for ``x``, computed in batches on ``device`` (default: the model's device)."""
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        preds = [model(xb.to(device)).argmax(1).cpu() for (xb,) in batches(x, batch_size=batch_size)]
    finally:
        model.train(was_training)
    return torch.cat(preds) if preds else torch.empty(0, dtype=torch.long)


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 500) -> float:
    """Share of ``x`` classified as ``y``."""
    return float((predict(model, x, batch_size) == y).float().mean().item()) if len(y) else float("nan")
