"""rib — the Robustness-Interpretability Benchmark."""

__version__ = "0.1.0"

from rib.data import DATASETS, load_dataset
from rib.store import load_results
from rib.zoo import create_model, list_cards

__all__ = ["DATASETS", "__version__", "create_model", "list_cards", "load_dataset", "load_results"]
