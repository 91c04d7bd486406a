"""Cascading parameter randomization (Adebayo et al. 2018): re-initialize a network's layers from the top down.

The layers are the modules with ``reset_parameters`` in ``named_modules()`` order, the top last (Quantus'
``get_random_layer_generator``, top_down). Each is re-initialized by its own ``reset_parameters`` after seeding
torch's generator with ``seed + 1`` (as Quantus does), so rib's randomized networks equal Quantus' for one seed.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator

from torch import nn

from rib.explain.attributions import seeded


def layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The randomizable layers of ``model`` (name, module), bottom first."""
    return [(name, m) for name, m in model.named_modules() if name and hasattr(m, "reset_parameters")]


def cascade(model: nn.Module, seed: int = 0) -> Iterator[tuple[str, nn.Module]]:
    """(layer name, network) after randomizing each further layer from the top; one copy, changed in place."""
    net = copy.deepcopy(model).eval()
    for name, module in reversed(layers(net)):
        with seeded(seed + 1):
            module.reset_parameters()  # type: ignore[operator]
        yield name, net


def randomized(model: nn.Module, seed: int = 0) -> nn.Module:
    """A copy of ``model`` with every layer randomized (the cascade's last step)."""
    steps = list(cascade(model, seed))
    return steps[-1][1] if steps else copy.deepcopy(model).eval()
