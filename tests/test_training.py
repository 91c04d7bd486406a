from dataclasses import replace
from pathlib import Path

import pytest
import torch
from rib import create_model, load_dataset
from rib import training as training_mod
from rib.defenses import TrainContext, create_defense
from rib.defenses.loop import TrainConfig, fit
from rib.errors import ConfigError, RibError
from rib.evaluation import accuracy
from rib.zoo import build_model, read_card
from rib.zoo.recipes import Recipe, get_recipe, recipes, training_order


def _fit(defense: str, epochs: int, n: int, seed: int = 0, arch: str = "tiny", lr: float = 1e-3,
         schedule: str = "cosine", **params: object) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = build_model(arch, "mnist-5k")
    x, y = load_dataset("mnist-5k", "fit")
    ctx = TrainContext("mnist-5k", torch.device("cpu"), torch.Generator().manual_seed(seed + 1))
    fit(model, create_defense(defense, "mnist-5k", dict(params)), x[:n], y[:n],
        TrainConfig(epochs=epochs, batch_size=50, seed=seed, lr=lr, schedule=schedule), ctx)
    return model


def test_short_training_improves_accuracy() -> None:
    x_val, y_val = load_dataset("mnist-5k", "val")
    torch.manual_seed(0)
    before = accuracy(build_model("cam-cnn", "mnist-5k"), x_val, y_val)
    after = accuracy(_fit("standard", 2, 3500, arch="cam-cnn", schedule="constant"), x_val, y_val)
    assert before < 0.2 and after > 0.6


def test_training_is_deterministic_under_a_seed() -> None:
    a = _fit("adv-linf", 1, 300, steps=2).state_dict()
    b = _fit("adv-linf", 1, 300, steps=2).state_dict()
    c = _fit("adv-linf", 1, 300, seed=1, steps=2).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_nonfinite_loss_stops_training() -> None:
    with pytest.raises(RibError, match="loss became"):
        _fit("gradient-reg", 1, 100, lam=float("inf"))


def test_train_config_validation() -> None:
    with pytest.raises(ConfigError):
        TrainConfig(epochs=0)
    with pytest.raises(ConfigError, match="unknown optimizer"):
        TrainConfig(optimizer="rmsprop")


def test_mnist5k_recipes_cover_the_zoo() -> None:
    ids = recipes("mnist-5k").names()
    assert ids == ["adv-l2", "adv-linf", "gradient-reg", "ir", "l1", "lipschitz", "proper-int", "proper-int2",
                   "standard"]
    order = training_order(ids, "mnist-5k")
    assert order.index("adv-l2") < order.index("ir")
    assert get_recipe("double-backprop", "mnist-5k").id == "gradient-reg"
    for dataset in ("mnist", "cifar10"):
        for rid in recipes(dataset).names():  # every recipe names a real arch and defense with valid params
            r = recipes(dataset).get(rid)
            create_defense(r.defense, dataset, r.params)
            TrainConfig(**r.training)


@pytest.fixture
def tiny_recipe(monkeypatch: pytest.MonkeyPatch) -> Recipe:
    base = get_recipe("l1", "mnist-5k")
    recipe = replace(base, training={**base.training, "epochs": 1},
                     calibration={"param": "lam1", "values": [1e-4, 100.0], "epochs": 1, "max_drop": 0.03})
    monkeypatch.setattr(training_mod, "get_recipe", lambda model_id, dataset: recipe)
    return recipe


def test_train_model_calibrates_writes_card_and_refuses_overwrite(tiny_recipe: Recipe, tmp_path: Path) -> None:
    out = tmp_path / "trained"
    card = training_mod.train_model("l1", "mnist-5k", training_mod.TrainOptions(out_dir=out, progress=False,
                                                                                device="cpu"))
    cal = card.calibration
    assert cal is not None and cal["chosen"] == 1e-4  # λ₁ = 100 ruins accuracy: the smaller value is chosen
    assert cal["val_accuracy"][1] < cal["reference_val_accuracy"] - 0.03
    assert cal["val_accuracy"][0] >= cal["reference_val_accuracy"] - 0.03
    assert (out / "mnist-5k" / "calibration" / "l1.toml").is_file()  # calibrated on the training set's fit/val
    assert card.defense_params["lam1"] == 1e-4
    assert not (out / "mnist-5k" / "l1.toml").exists()
    on_disk = read_card(out / "mnist" / "l1.toml")  # evaluated where the recipe says: MNIST's official test split
    assert (on_disk.dataset, on_disk.trained_on) == ("mnist", "mnist-5k")
    for key in ("rib_version", "git_sha", "torch_version", "device", "seed", "epochs", "wall_time_s",
                "train_accuracy", "test_accuracy"):
        assert key in on_disk.provenance
    assert on_disk.provenance["test_split"] == "mnist-5k test"  # as the committed zoo's cards say
    model = create_model("l1", models_dir=out)
    x, y = load_dataset("mnist-5k", "test")
    assert accuracy(model, x, y) == pytest.approx(on_disk.provenance["test_accuracy"], abs=1e-4)
    with pytest.raises(RibError, match="pass --force"):
        training_mod.train_model("l1", "mnist-5k", training_mod.TrainOptions(out_dir=out, progress=False, device="cpu"))
    # a forced retrain reuses the recorded calibration and, being deterministic, gives the same weights
    again = training_mod.train_model("l1", "mnist-5k", training_mod.TrainOptions(out_dir=out, progress=False,
                                                                                 device="cpu", force=True))
    assert again.calibration == cal and again.weights_sha256 == card.weights_sha256
