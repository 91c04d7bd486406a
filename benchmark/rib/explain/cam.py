"""CAM-based interpretation discrepancy (Boopathy et al., ICML 2020)."""

from __future__ import annotations

import torch

from rib.cams import NO_CAM, CamModel, has_cam  # below the zoo and explain: re-exported here

__all__ = ["NO_CAM", "CamModel", "has_cam", "interpretation_discrepancy"]


def interpretation_discrepancy(
    model: CamModel,
    x: torch.Tensor,
    x_adv: torch.Tensor,
    y: torch.Tensor,
    *,
    one_class: bool = False,
    cam_clean: torch.Tensor | None = None,
) -> torch.Tensor:
    """Per-example D(x, x') = ‖I_y(x') − I_y(x)‖₁ + Σ_{c≠y} w_c(x') ‖I_c(x') − I_c(x)‖₁.

    ``I_c`` is the CAM of class c; ``w_c`` is softmax(z(x')) renormalized over c ≠ y. ``one_class`` keeps only
    the first term. ``cam_clean`` may pass ``model.cam(x)`` when it is already known (inside an attack loop).
    Differentiable in the model's parameters and in both inputs.
    """
    if cam_clean is None:
        cam_clean = model.cam(x)
    cam_adv = model.cam(x_adv)
    l1 = (cam_adv - cam_clean).abs().flatten(2).sum(dim=2)  # [N, C]
    true = l1.gather(1, y.view(-1, 1)).squeeze(1)
    if one_class:
        return true
    # a CAM head's maps average to its exact logits; other CAMs (Grad-CAM) say so and the model gives its logits
    exact = getattr(model, "cam_mean_is_logits", True)
    logits_adv = cam_adv.mean(dim=(2, 3)) if exact else model(x_adv)  # type: ignore[operator]
    probs = torch.softmax(logits_adv, dim=1)
    others = torch.ones_like(probs).scatter_(1, y.view(-1, 1), 0.0)
    w = probs * others
    w = w / w.sum(dim=1, keepdim=True).clamp_min(1e-12)
    return true + (w * l1).sum(dim=1)
