from pathlib import Path

import pytest
import torch
from rib.errors import ConfigError, UnknownNameError, WeightsError
from rib.files import sha256_file
from rib.zoo import ModelCard, create_model, find_card, list_cards, read_card, write_card
from rib.zoo.cards import card_errors
from rib.zoo.weights import save_weights

from tests.helpers import make_card


def test_card_round_trip(tmp_path: Path) -> None:
    card = make_card(tmp_path, "m1")
    card.defense_params = {"eps": 0.3, "steps": 10, "one_class": False}
    card.provenance = {"seed": 0, "test_accuracy": 0.97}
    card.calibration = {"param": "lam", "values": [1.0, 3.0], "chosen": 3.0}
    path = tmp_path / "mnist" / "m1.toml"
    write_card(card, path)
    again = read_card(path)
    assert again.to_dict() == card.to_dict()
    assert again.weights_path == tmp_path / "mnist" / "m1.safetensors"


def test_schema_errors_are_listed_together(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('id = 3\n[arch]\nname = "tiny"\n[weights]\nfile = "../x.pt"\nsha256 = "abc"\n')
    with pytest.raises(ConfigError) as info:
        read_card(path)
    message = str(info.value)
    for part in ("field id must be str", "missing field dataset", "missing field normalization.mean",
                 "missing field defense.name", "weights.sha256 must be 64", "weights.file must be a bare"):
        assert part in message
    assert "\n" not in message


def test_malformed_toml(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("id = [unclosed")
    with pytest.raises(ConfigError, match="not valid TOML"):
        read_card(path)


def test_card_errors_accepts_a_valid_card(tmp_path: Path) -> None:
    assert card_errors(make_card(tmp_path).to_dict()) == []


def test_create_model_verifies_and_loads(tiny_zoo: Path) -> None:
    model = create_model("tiny-std", models_dir=tiny_zoo)
    assert not model.training
    assert model.card is not None and model.card.id == "tiny-std"
    assert model(torch.rand(2, 1, 28, 28)).shape == (2, 10)


def test_sha256_mismatch_is_refused(tiny_zoo: Path) -> None:
    weights = tiny_zoo / "mnist" / "tiny-std.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="refusing to load"):
        create_model("tiny-std", models_dir=tiny_zoo)


def _rewrite_weights(zoo: Path, state: dict[str, torch.Tensor]) -> None:
    weights = zoo / "mnist" / "tiny-std.safetensors"
    sha = save_weights(state, weights)
    card = read_card(zoo / "mnist" / "tiny-std.toml")
    card.weights_sha256 = sha
    write_card(card, zoo / "mnist" / "tiny-std.toml")


def test_truncated_safetensors(tiny_zoo: Path) -> None:
    weights = tiny_zoo / "mnist" / "tiny-std.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    card = read_card(tiny_zoo / "mnist" / "tiny-std.toml")
    card.weights_sha256 = sha256_file(weights)
    write_card(card, tiny_zoo / "mnist" / "tiny-std.toml")
    with pytest.raises(WeightsError, match="not a readable safetensors"):
        create_model("tiny-std", models_dir=tiny_zoo)


def test_wrong_shapes_missing_keys_and_nan(tiny_zoo: Path) -> None:
    state = create_model("tiny-std", models_dir=tiny_zoo).weights_state()
    bad = dict(state, **{"conv1.weight": torch.zeros(4, 1, 3, 3)})
    _rewrite_weights(tiny_zoo, bad)
    with pytest.raises(WeightsError, match=r"conv1\.weight has shape"):
        create_model("tiny-std", models_dir=tiny_zoo)
    _rewrite_weights(tiny_zoo, {k: v for k, v in state.items() if k != "classifier.weight"})
    with pytest.raises(WeightsError, match="missing"):
        create_model("tiny-std", models_dir=tiny_zoo)
    nan = dict(state, **{"conv2.bias": torch.full_like(state["conv2.bias"], float("nan"))})
    _rewrite_weights(tiny_zoo, nan)
    with pytest.raises(WeightsError, match="NaN"):
        create_model("tiny-std", models_dir=tiny_zoo)


def test_missing_weights_file(tiny_zoo: Path) -> None:
    (tiny_zoo / "mnist" / "tiny-std.safetensors").unlink()
    with pytest.raises(WeightsError, match="missing"):
        create_model("tiny-std", models_dir=tiny_zoo)


def test_unknown_model_suggests(tiny_zoo: Path) -> None:
    with pytest.raises(UnknownNameError, match="did you mean 'tiny-std'"):
        find_card("tiny-sdt", models_dir=tiny_zoo)


def test_list_cards_prefers_the_first_folder(tmp_path: Path) -> None:
    make_card(tmp_path / "a", "same", seed=1)
    make_card(tmp_path / "b", "same", seed=2)
    make_card(tmp_path / "b", "other")
    cards = [c for c in list_cards("mnist", [tmp_path / "a", tmp_path / "b"]) if c.id in ("same", "other")]
    assert [c.id for c in cards] == ["other", "same"]
    assert cards[1].path is not None and cards[1].path.parent.parent == tmp_path / "a"


def test_card_in_the_wrong_dataset_folder(tmp_path: Path) -> None:
    card = make_card(tmp_path, "m")
    card.dataset = "cifar10"
    write_card(card, tmp_path / "mnist" / "m.toml")
    with pytest.raises(ConfigError, match="lies under mnist/"):
        find_card("m", "mnist", models_dir=tmp_path)


def test_model_card_requires_location() -> None:
    card = ModelCard(id="x", dataset="mnist-5k", arch="tiny", defense="standard", mean=[0.0], std=[1.0],
                     weights_file="x.safetensors", weights_sha256="0" * 64)
    with pytest.raises(ConfigError, match="no location"):
        _ = card.weights_path


def test_card_found_by_id_when_its_file_is_named_otherwise(tmp_path: Path) -> None:
    make_card(tmp_path, "real-id")
    (tmp_path / "mnist" / "real-id.toml").rename(tmp_path / "mnist" / "renamed.toml")
    assert find_card("real-id", models_dir=tmp_path).id == "real-id"


def test_trained_on_is_kept_apart_from_where_a_model_is_evaluated(tmp_path: Path) -> None:
    card = make_card(tmp_path, "tiny-a", dataset="mnist", trained_on="")
    assert card.trained_on == "mnist"  # absent: trained on the evaluation dataset
    card.trained_on = "mnist-5k"
    write_card(card, tmp_path / "mnist" / "tiny-a.toml")
    text = (tmp_path / "mnist" / "tiny-a.toml").read_text()
    assert 'trained_on = "mnist-5k"' in text
    assert read_card(tmp_path / "mnist" / "tiny-a.toml").trained_on == "mnist-5k"


def test_a_card_trained_on_mnist_is_refused_on_mnist5k(tmp_path: Path) -> None:
    make_card(tmp_path, "tiny-a", dataset="mnist-5k")
    path = tmp_path / "mnist-5k" / "tiny-a.toml"
    path.write_text('trained_on = "mnist"\n' + path.read_text())
    with pytest.raises(ConfigError, match=r"trained on mnist's training split, it cannot be evaluated on mnist-5k, "
                                          r"whose test images are drawn from that split") as info:
        read_card(path)
    assert "\n" not in str(info.value)


def test_a_listing_without_the_registries_still_refuses_an_unknown_dataset(tmp_path: Path) -> None:
    card = make_card(tmp_path, "m1")
    path = tmp_path / "mnist" / "m1.toml"
    write_card(card, path)
    path.write_text(path.read_text().replace('arch = "tiny"', 'arch = "tinny"').replace(
        'name = "tiny"', 'name = "tinny"'))
    listed = {c.id: c for c in list_cards("mnist", tmp_path, check_names=False)}
    assert listed["m1"].arch == "tinny"  # looked up when the card is used
    with pytest.raises(UnknownNameError, match="unknown architecture 'tinny'"):
        read_card(path)
    path.write_text(path.read_text().replace('dataset = "mnist"', 'dataset = "mnsit"'))
    with pytest.raises(UnknownNameError, match="unknown dataset 'mnsit'"):
        list_cards("mnist", tmp_path, check_names=False)
