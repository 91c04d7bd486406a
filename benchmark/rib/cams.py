"""What a model with class activation maps is (``CamModel``), and Grad-CAM as one (``GradCamNet``).

Both the zoo (a ``RobustModel`` with a CAM head, an ONNX graph with Grad-CAM at a named layer) and the metrics and
attacks that read CAMs (``rib.explain``, ``rib.attacks.interpretation``) need these, so they live below both.

``GradCamNet(net, layer)`` behaves as ``net`` and adds ``cam``: for every class c, ``ReLU(Σ_k α_kc A_k)`` with ``A``
the layer's output ``[N, K, h, w]`` and ``α_kc`` the spatial mean of ``∂z_c/∂A_k`` (Selvaraju et al. 2017). Unlike a
CAM head's maps, their spatial mean is not the logits (``cam_mean_is_logits`` is False, so the interpretation
discrepancy weighs classes by the model's own logits).
"""

from __future__ import annotations

import difflib
from typing import Any, Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from torch import nn

from rib.errors import ConfigError


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


class GradCamNet(nn.Module):
    """``net`` with Grad-CAM maps at its module ``layer`` (a name from ``net.named_modules()``)."""

    cam_mean_is_logits = False

    def __init__(self, net: nn.Module, layer: str) -> None:
        super().__init__()
        modules = dict(net.named_modules())
        if not layer or layer not in modules:
            close = difflib.get_close_matches(layer, [m for m in modules if m], n=3)
            hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
            raise ConfigError(f"cam layer {layer!r} is not a module of the network{hint}")
        self.net = net
        self.layer_name = layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    @property
    def feature_layer(self) -> nn.Module:
        """The module whose output Grad-CAM weighs (captum's ``LayerGradCam`` hooks it too)."""
        return dict(self.net.named_modules())[self.layer_name]

    def cam(self, x: torch.Tensor) -> torch.Tensor:
        """Grad-CAM maps ``[N, classes, h, w]`` of every class; differentiable when autograd is on."""
        differentiable = torch.is_grad_enabled()
        seen: dict[str, Any] = {}
        handle = self.feature_layer.register_forward_hook(lambda _m, _i, out: seen.__setitem__("a", out))
        with torch.enable_grad():
            xi = x if x.requires_grad else x.detach().requires_grad_(True)
            try:
                logits = self.net(xi)
            finally:
                handle.remove()
            a = seen.get("a")
            if not isinstance(a, torch.Tensor) or a.dim() != 4:
                shape = tuple(a.shape) if isinstance(a, torch.Tensor) else type(a).__name__
                raise ConfigError(f"cam layer {self.layer_name!r} gives {shape}, Grad-CAM needs a map [N, K, h, w]")
            maps = []
            for c in range(logits.shape[1]):
                (grad,) = torch.autograd.grad(logits[:, c].sum(), a, create_graph=differentiable, retain_graph=True)
                maps.append(F.relu((grad.mean(dim=(2, 3), keepdim=True) * a).sum(dim=1)))
            out = torch.stack(maps, dim=1)
        return out if differentiable else out.detach()
