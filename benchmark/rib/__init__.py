"""rib — the Robustness-Interpretability Benchmark.

The public names are imported on first use (PEP 562), so ``import rib`` and ``rib --help`` do not load torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from rib.data import DATASETS, load_dataset
    from rib.store import load_results
    from rib.workflows.evaluate import evaluate
    from rib.zoo import create_model, list_cards

__all__ = ["DATASETS", "__version__", "create_model", "evaluate", "list_cards", "load_dataset", "load_results"]

_LAZY = {"DATASETS": "rib.data", "load_dataset": "rib.data", "load_results": "rib.store",
         "create_model": "rib.zoo", "list_cards": "rib.zoo", "evaluate": "rib.workflows.evaluate"}


def __getattr__(name: str) -> Any:
    """Each public name from its module, imported on first use."""
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'rib' has no attribute {name!r}")
