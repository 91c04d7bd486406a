"""The model zoo: architectures, cards, recipes, verified weights, and ``create_model``.

Names are imported on first use, so that reading cards (``rib ls models``) does not import torch."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rib.models import ModelResolver, RobustModel
    from rib.zoo.all_archs import ARCHS
    from rib.zoo.cards import ModelCard, read_card, write_card
    from rib.zoo.catalog import list_cards, zoo_dir
    from rib.zoo.factory import build_model, create_model, find_card, model_resolver

_HOME = {"ModelResolver": "rib.models", "RobustModel": "rib.models", "ARCHS": "rib.zoo.all_archs",
         "ModelCard": "rib.zoo.cards", "read_card": "rib.zoo.cards", "write_card": "rib.zoo.cards",
         "find_card": "rib.zoo.factory", "list_cards": "rib.zoo.catalog", "zoo_dir": "rib.zoo.catalog",
         "build_model": "rib.zoo.factory", "create_model": "rib.zoo.factory", "model_resolver": "rib.zoo.factory"}

__all__ = ["ARCHS", "ModelCard", "ModelResolver", "RobustModel", "build_model", "create_model", "find_card",
           "list_cards", "model_resolver", "read_card", "write_card", "zoo_dir"]


def __getattr__(name: str) -> Any:
    """``rib.zoo.<name>``, imported from its module on first use."""
    if name not in _HOME:
        raise AttributeError(f"module 'rib.zoo' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOME[name]), name)


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOME})
