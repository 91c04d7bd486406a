"""The committed zoo: every mnist recipe trained on all 60,000 MNIST training images and evaluated on the official
test split, weights verified, the numbers in its cards reproducible from the weights and the data."""

from pathlib import Path

import pytest
from rib import create_model, load_dataset
from rib.evaluation import accuracy
from rib.zoo import find_card, list_cards, zoo_dir
from rib.zoo.recipes import recipes

from tests.helpers import assert_zoo_card_records_its_training

ZOO_IDS = recipes("mnist").names()
LADDER = ["lipschitz-1e-3", "lipschitz-1e-2", "lipschitz-1e-1", "lipschitz-1"]


def test_every_recipe_has_a_committed_model() -> None:
    cards = [c for c in list_cards("mnist", [zoo_dir()]) if c.path and c.path.parent.parent == zoo_dir()
             and not c.from_release]
    assert sorted(c.id for c in cards) == ZOO_IDS
    assert {(c.dataset, c.trained_on) for c in cards} == {("mnist", "mnist")}
    assert not list((zoo_dir() / "mnist-5k").glob("*.toml"))  # evaluated on the official test split only


@pytest.mark.parametrize("model_id", ZOO_IDS)
def test_card_records_its_training(model_id: str) -> None:
    card = assert_zoo_card_records_its_training(model_id, "mnist")
    assert card.claims, "the committed zoo's claims are measured (rib verify --zoo --write-claims)"
    assert {c["metric"] for c in card.claims} == {"clean_accuracy", "robust_accuracy"}


@pytest.mark.parametrize("model_id", ["standard", "adv-linf", "lipschitz-1"])
def test_card_accuracy_reproduces_on_the_official_test_split(model_id: str) -> None:
    model = create_model(model_id)  # verifies sha256
    assert model.supports_cam
    x, y = load_dataset("mnist", "test")
    assert accuracy(model, x, y) == pytest.approx(model.card.provenance["test_accuracy"], abs=1e-4)


def test_standard_reaches_the_papers_accuracy() -> None:
    assert find_card("standard").provenance["test_accuracy"] >= 0.99


def test_threat_models_teacher_and_ladder() -> None:
    assert (find_card("adv-linf").trained_norm, find_card("adv-linf").trained_eps) == ("linf", 0.3)
    assert (find_card("adv-l2").trained_norm, find_card("adv-l2").trained_eps) == ("l2", 1.5)
    assert find_card("standard").trained_norm == "none"
    ir = find_card("ir")
    assert ir.provenance["teacher_sha256"] == find_card("adv-l2").weights_sha256
    assert (ir.trained_norm, ir.trained_eps) == ("l2", 1.5)
    assert [find_card(m).defense_params["lam"] for m in LADDER] == [1e-3, 1e-2, 1e-1, 1.0]
    assert {find_card(m).defense for m in LADDER} == {"lipschitz"}


@pytest.mark.parametrize("model_id", ["gradient-reg", "l1"])
def test_calibrated_models_record_their_sweep(model_id: str) -> None:
    card = find_card(model_id)
    cal = card.calibration
    assert cal is not None and cal["split"].startswith("fit/val")  # never the test split
    assert len(cal["values"]) == len(cal["val_accuracy"]) >= 3
    assert card.defense_params[cal["param"]] == cal["chosen"]
    ok = [v for v, a in zip(cal["values"], cal["val_accuracy"], strict=True)
          if a >= cal["reference_val_accuracy"] - cal["max_drop"]]
    assert cal["chosen"] == (max(ok) if ok else min(cal["values"]))


@pytest.mark.slow
def test_retraining_standard_reproduces_its_card(tmp_path: Path) -> None:
    from rib.training import TrainOptions, train_model

    committed = find_card("standard")  # retrained from its recipe on all 60,000 training images
    card = train_model("standard", "mnist", TrainOptions(out_dir=tmp_path, progress=False, device="cpu"))
    assert card.provenance["test_accuracy"] == pytest.approx(committed.provenance["test_accuracy"], abs=0.005)
    assert card.defense_params == committed.defense_params
