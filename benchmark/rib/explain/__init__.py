"""Attributions and interpretability helpers."""

from rib.explain.cam import CamModel, interpretation_discrepancy
from rib.explain.gradients import input_gradient, smoothgrad, sparsify

__all__ = ["CamModel", "input_gradient", "interpretation_discrepancy", "smoothgrad", "sparsify"]
