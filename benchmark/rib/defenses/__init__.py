"""Defenses: one module per training objective, all registered in ``DEFENSES``; one shared training loop.

Every module of this package is imported here, so a new defense is its module (and a recipe entry for its settings
on each dataset): nothing to add to this file.
"""

import importlib
import pkgutil

from rib.defenses.base import DEFENSES, Defense, TrainContext, create_defense

_SHARED = ("base", "loop")  # the interface and the training loop; every other module registers a defense
for _module in pkgutil.iter_modules(__path__):
    if _module.name not in _SHARED:
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["DEFENSES", "Defense", "TrainContext", "create_defense"]
