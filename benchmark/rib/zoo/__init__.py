"""The model zoo: architectures, cards, recipes, verified weights, and ``create_model``."""

from rib.models import ModelResolver, RobustModel
from rib.zoo.archs import ARCHS
from rib.zoo.cards import ModelCard, read_card, write_card
from rib.zoo.factory import build_model, create_model, find_card, list_cards, model_resolver, zoo_dir

__all__ = ["ARCHS", "ModelCard", "ModelResolver", "RobustModel", "build_model", "create_model", "find_card",
           "list_cards", "model_resolver", "read_card", "write_card", "zoo_dir"]
