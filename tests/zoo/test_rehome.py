"""rib rehome: the same weights evaluated on another dataset of their family, with every refusal before a move."""

from pathlib import Path

import pytest
from rib.cli import main
from rib.errors import ConfigError
from rib.zoo import find_card, read_card, write_card
from rib.zoo.rehome import rehome_cards

from tests.helpers import make_card


def test_rehome_moves_cards_and_weights_and_keeps_the_training_set(tmp_path: Path) -> None:
    for name in ("tiny-a", "tiny-b", "other"):
        card = make_card(tmp_path, name, dataset="mnist-5k")
        card.claims = [{"attack": "clean", "metric": "clean_accuracy", "value": 0.5, "n": 100}]
        write_card(card, tmp_path / "mnist-5k" / f"{name}.toml")
    moved = rehome_cards("tiny-*", "mnist-5k", "mnist", tmp_path)
    assert [c.id for c in moved] == ["tiny-a", "tiny-b"]
    card = find_card("tiny-a", "mnist", models_dir=tmp_path)
    assert (card.dataset, card.trained_on, card.claims) == ("mnist", "mnist-5k", [])
    assert card.provenance["test_split"] == "mnist-5k test"
    assert card.weights_sha256 == moved[0].weights_sha256 and card.weights_path.is_file()
    assert not (tmp_path / "mnist-5k" / "tiny-a.toml").exists()
    assert not (tmp_path / "mnist-5k" / "tiny-a.safetensors").exists()
    assert (tmp_path / "mnist-5k" / "other.toml").exists()  # not selected: untouched


def test_rehome_refuses_before_moving_anything(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_card(tmp_path, "tiny-a", dataset="mnist", trained_on="mnist")
    before = sorted(p.name for p in (tmp_path / "mnist").iterdir())
    with pytest.raises(ConfigError, match="cannot be evaluated on mnist-5k"):  # trained on MNIST's training split
        rehome_cards("tiny-a", "mnist", "mnist-5k", tmp_path)
    with pytest.raises(ConfigError, match="differ in family"):
        rehome_cards("tiny-a", "mnist", "cifar10", tmp_path)
    (tmp_path / "mnist" / "tiny-a.safetensors").write_bytes(b"not the weights")
    make_card(tmp_path, "tiny-b", dataset="mnist", trained_on="mnist")
    assert main(["rehome", "--model", "tiny-a", "--from", "mnist", "--to", "mnist", "--models", str(tmp_path)]) == 2
    assert main(["rehome", "--model", "tiny-*", "--from", "mnist-5k", "--to", "mnist",
                 "--models", str(tmp_path)]) != 0  # nothing of mnist-5k matches
    err = capsys.readouterr().err
    assert err.count("rib: error:") == 2 and "already evaluated on mnist" in err
    assert sorted(p.name for p in (tmp_path / "mnist").iterdir()) == sorted([*before, "tiny-b.safetensors",
                                                                               "tiny-b.toml"])
    assert read_card(tmp_path / "mnist" / "tiny-a.toml").dataset == "mnist"


def test_rehome_checks_every_weights_file_first(tmp_path: Path) -> None:
    make_card(tmp_path, "tiny-a", dataset="mnist-5k")
    make_card(tmp_path, "tiny-b", dataset="mnist-5k")
    (tmp_path / "mnist-5k" / "tiny-b.safetensors").write_bytes(b"damaged")
    with pytest.raises(ConfigError, match=r"tiny-b\.safetensors: weights do not match the card's sha256; nothing"):
        rehome_cards("*", "mnist-5k", "mnist", tmp_path)
    assert not (tmp_path / "mnist").exists()  # tiny-a (checked fine) did not move either
    assert (tmp_path / "mnist-5k" / "tiny-a.toml").exists()
