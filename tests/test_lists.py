"""``rib ls models``: the clean accuracy it shows is measured where the model is evaluated."""

import dataclasses
from pathlib import Path

from rib.lists import cards_table, evaluated_clean_accuracy

from tests.helpers import make_card


def test_clean_accuracy_is_the_evaluation_sets(tmp_path: Path) -> None:
    card = make_card(tmp_path, "tiny-x", dataset="mnist", trained_on="mnist-5k")
    card.provenance = {"test_accuracy": 0.9, "wall_time_s": 1.0}  # measured on mnist-5k's test split at training
    assert evaluated_clean_accuracy(card) is None  # not a number on mnist: shown as "?"
    assert "?" in cards_table([card]).splitlines()[-1]
    same = dataclasses.replace(card, trained_on="mnist")
    assert evaluated_clean_accuracy(same) == 0.9
    claimed = dataclasses.replace(card, claims=[{"attack": "clean", "metric": "clean_accuracy", "value": 0.95,
                                                  "n": 1000}])
    assert evaluated_clean_accuracy(claimed) == 0.95
    assert "95.00%" in cards_table([claimed])
