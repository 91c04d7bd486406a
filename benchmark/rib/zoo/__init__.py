"""The model zoo: architectures, cards, recipes, verified weights, and ``create_model``."""

from rib.zoo.archs import ARCHS
from rib.zoo.cards import ModelCard, read_card, write_card
from rib.zoo.factory import build_model, create_model, find_card, list_cards, model_resolver, zoo_dir
from rib.zoo.robust_model import ModelResolver, RobustModel

__all__ = ["ARCHS", "ModelCard", "ModelResolver", "RobustModel", "build_model", "create_model", "find_card",
           "list_cards", "model_resolver", "read_card", "write_card", "zoo_dir"]
