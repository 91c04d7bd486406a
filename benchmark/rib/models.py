"""``RobustModel``: every model in rib takes inputs in [0, 1], normalizes inside and returns logits; and
``ModelResolver``, how attacks and defenses get another model by name. Both sit at the bottom of rib's layers (beside
the data and the norms), so the attacks, defenses and metrics above them import them, never the zoo."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from rib.cams import CamModel
from rib.errors import ConfigError


class RobustModel(nn.Module):
    """Wraps an architecture with its normalization; ``cam`` is available when the architecture has one."""

    mean: torch.Tensor
    std: torch.Tensor
    card: Any  # the ``rib.zoo.ModelCard`` it was built from (None for a bare network)

    def __init__(self, net: nn.Module, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        if len(mean) != len(std) or any(s <= 0 for s in std):
            raise ConfigError(f"normalization needs one positive std per mean, got mean={mean} std={std}")
        self.net = net
        self.card = None
        self.register_buffer("mean", torch.tensor(list(mean), dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(list(std), dtype=torch.float32).view(1, -1, 1, 1))

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """Map [0, 1] inputs to the network's normalized space."""
        return (x - self.mean) / self.std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.normalize(x))

    @property
    def supports_cam(self) -> bool:
        """Whether the architecture ends in a CAM head (conv map → GAP → bias-free linear)."""
        return isinstance(self.net, CamModel)

    @property
    def cam_mean_is_logits(self) -> bool:
        """Whether the CAM's spatial mean is the logits (a CAM head: yes; Grad-CAM at a named layer: no)."""
        return bool(getattr(self.net, "cam_mean_is_logits", True))

    def cam(self, x: torch.Tensor) -> torch.Tensor:
        """Class activation maps ``[N, classes, h, w]`` of [0, 1] inputs."""
        net = self.net
        if not isinstance(net, CamModel):
            raise ConfigError(f"architecture {type(net).__name__} has no CAM head")
        return net.cam(self.normalize(x))

    def weights_state(self) -> dict[str, torch.Tensor]:
        """The trainable state to save: the network's tensors (normalization lives in the card)."""
        return {k: v.detach().contiguous().cpu() for k, v in self.net.state_dict().items()}


ModelResolver = Callable[[str], RobustModel]
"""Another zoo model by name (an IR teacher, a transfer surrogate): ready, in eval mode, on the device in use and
for the dataset in use. ``rib.zoo.factory.model_resolver`` builds one; attacks and defenses receive it instead of
importing the zoo."""
