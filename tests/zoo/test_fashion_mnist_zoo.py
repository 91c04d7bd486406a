"""The committed Fashion-MNIST zoo: each model trained from its fashion-mnist recipe on all 60,000 Fashion-MNIST
training images and evaluated on the official test split, its card recording the training, its weights verified and
its test accuracy reproducible from the weights and the data."""

import pytest
from rib import create_model, load_dataset
from rib.evaluation import accuracy
from rib.zoo import list_cards, zoo_dir
from rib.zoo.recipes import recipes

from tests.helpers import assert_zoo_card_records_its_training

DATASET = "fashion-mnist"
RECIPES = recipes(DATASET).names()
COMMITTED = sorted(c.id for c in list_cards(DATASET, [zoo_dir()]) if not c.from_release)
THREAT_MODELS = {"adv-linf": ("linf", 0.1), "adv-l2": ("l2", 1.0), "proper-int": ("linf", 0.1),
                 "proper-int2": ("linf", 0.1), "standard": ("none", 0.0)}


def test_the_committed_models_are_recipes_of_the_dataset() -> None:
    assert "standard" in COMMITTED
    assert set(COMMITTED) <= set(RECIPES)


@pytest.mark.parametrize("model_id", COMMITTED)
def test_card_records_its_training(model_id: str) -> None:
    card = assert_zoo_card_records_its_training(model_id, DATASET)
    if model_id in THREAT_MODELS:
        assert (card.trained_norm, card.trained_eps) == THREAT_MODELS[model_id]


def test_standard_accuracy_reproduces_on_the_official_test_split() -> None:
    model = create_model("standard", dataset=DATASET)  # verifies sha256
    assert model.supports_cam
    x, y = load_dataset(DATASET, "test")
    assert accuracy(model, x, y) == pytest.approx(model.card.provenance["test_accuracy"], abs=1e-4)
