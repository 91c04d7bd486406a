"""The committed zoo: every mnist-5k recipe trained and evaluated on the official MNIST test split, weights verified,
numbers in the cards reproducible (their training-time accuracy on mnist-5k's own test split)."""

from pathlib import Path

import pytest
from rib import create_model, load_dataset
from rib.evaluation import accuracy
from rib.zoo import find_card, list_cards, zoo_dir
from rib.zoo.recipes import recipes

ZOO_IDS = recipes("mnist-5k").names()


def test_every_recipe_has_a_committed_model() -> None:
    cards = [c for c in list_cards("mnist", [zoo_dir()]) if c.path and c.path.parent.parent == zoo_dir()]
    assert sorted(c.id for c in cards) == ZOO_IDS
    assert {(c.dataset, c.trained_on) for c in cards} == {("mnist", "mnist-5k")}
    assert not list((zoo_dir() / "mnist-5k").glob("*.toml"))  # evaluated on the official test split only


@pytest.mark.parametrize("model_id", ZOO_IDS)
def test_card_accuracy_reproduces(model_id: str) -> None:
    model = create_model(model_id)  # verifies sha256
    card = model.card
    assert card is not None
    assert card.provenance["test_split"] == "mnist-5k test"
    x, y = load_dataset("mnist-5k", "test")
    assert accuracy(model, x, y) == pytest.approx(card.provenance["test_accuracy"], abs=1e-4)
    for key in ("rib_version", "git_sha", "torch_version", "device", "seed", "epochs", "wall_time_s",
                "train_accuracy", "test_accuracy"):
        assert key in card.provenance, key
    assert card.training["deviations"], "every zoo card records its deviations from the paper"
    assert model.supports_cam


def test_standard_clears_95_percent() -> None:
    assert find_card("standard").provenance["test_accuracy"] >= 0.95


def test_threat_models_and_teacher() -> None:
    assert (find_card("adv-linf").trained_norm, find_card("adv-linf").trained_eps) == ("linf", 0.3)
    assert (find_card("adv-l2").trained_norm, find_card("adv-l2").trained_eps) == ("l2", 1.5)
    assert find_card("standard").trained_norm == "none"
    ir = find_card("ir")
    assert ir.provenance["teacher_sha256"] == find_card("adv-l2").weights_sha256
    assert (ir.trained_norm, ir.trained_eps) == ("l2", 1.5)


@pytest.mark.parametrize("model_id", ["gradient-reg", "lipschitz", "ir"])
def test_calibrated_models_record_their_sweep(model_id: str) -> None:
    card = find_card(model_id)
    cal = card.calibration
    assert cal is not None
    assert len(cal["values"]) == len(cal["val_accuracy"]) >= 3
    assert card.defense_params[cal["param"]] == cal["chosen"]
    ok = [v for v, a in zip(cal["values"], cal["val_accuracy"], strict=True)
          if a >= cal["reference_val_accuracy"] - cal["max_drop"]]
    assert cal["chosen"] == (max(ok) if ok else min(cal["values"]))


@pytest.mark.slow
def test_retraining_standard_reproduces_its_card(tmp_path: Path) -> None:
    from rib.training import train_model

    committed = find_card("standard")  # retrained from its recipe, on the data its card says it was trained on
    card = train_model("standard", committed.trained_on, out_dir=tmp_path, progress=False, device="cpu")
    assert card.provenance["test_accuracy"] == pytest.approx(committed.provenance["test_accuracy"], abs=0.01)
    assert card.defense_params == committed.defense_params
