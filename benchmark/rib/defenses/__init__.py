"""Defenses: one module per training objective, all registered in ``DEFENSES``; one shared training loop."""

from rib.defenses import adversarial, gradient_reg, ir, l1, lipschitz, proper_int, standard  # noqa: F401
from rib.defenses.base import DEFENSES, Defense, TrainContext, create_defense

__all__ = ["DEFENSES", "Defense", "TrainContext", "create_defense"]
