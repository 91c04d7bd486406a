"""rib — the Robustness-Interpretability Benchmark."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

from rib.data import DATASETS, load_dataset
from rib.store import load_results
from rib.zoo import create_model, list_cards

if TYPE_CHECKING:
    from rib.adhoc import evaluate

__all__ = ["DATASETS", "__version__", "create_model", "evaluate", "list_cards", "load_dataset", "load_results"]


def __getattr__(name: str) -> Any:
    """``rib.evaluate``, imported on first use: it pulls in the runner and the attacks, which ``import rib`` does
    not need."""
    if name == "evaluate":
        from rib.adhoc import evaluate

        return evaluate
    raise AttributeError(f"module 'rib' has no attribute {name!r}")
