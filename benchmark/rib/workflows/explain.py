"""``rib explain``: the attribution picture of a model on stratified test images and their PGD adversarial examples
at the headline eps of the chosen norm (the attack runs here; ``rib.explain.pictures`` only draws)."""

from __future__ import annotations

from pathlib import Path

from torch import nn

from rib.attacks import attack_for, create_attack
from rib.data import headline_eps, load_dataset
from rib.explain.pictures import FigureImages, attribution_figure
from rib.stats import stratified_indices


def explain_figure(model: nn.Module, model_id: str, dataset: str, out: Path, *, n: int = 8, norm: str = "linf",
                   seed: int = 0) -> Path:
    """Write ``out`` (a PNG) for ``n`` stratified test images of ``dataset``; returns the path."""
    x, y = load_dataset(dataset, "test")
    idx = stratified_indices(y, n)
    x, y = x[idx], y[idx]
    eps = headline_eps(dataset, norm)
    x_adv = create_attack(attack_for("reference", norm))(model, x, y, [eps], seed=seed).x_adv
    images = FigureImages(x, y, x_adv, adv_title=f"PGD {norm} {eps:g}")
    return attribution_figure(model, out, images, title=f"{model_id} on {dataset}", seed=seed)
