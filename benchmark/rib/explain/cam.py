"""CAM-based interpretation discrepancy (Boopathy et al., ICML 2020)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch


@runtime_checkable
class CamModel(Protocol):
    """A model with class activation maps, such as a ``RobustModel`` whose architecture ends in a CAM head.

    Every ``RobustModel`` has a ``cam`` method; ``supports_cam`` tells whether it works.
    """

    def cam(self, x: torch.Tensor) -> torch.Tensor:
        """Class activation maps ``[N, classes, h, w]`` of the inputs."""
        ...


NO_CAM = ("the model has no CAM: no CAM head, and no layer named for Grad-CAM (an onnx card's "
          "[arch] cam_layer, rib.evaluate's cam_layer=)")


def has_cam(model: object) -> bool:
    """Whether ``model`` gives class activation maps (a CAM head, or Grad-CAM at a named layer)."""
    return bool(getattr(model, "supports_cam", isinstance(model, CamModel))) and isinstance(model, CamModel)


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
