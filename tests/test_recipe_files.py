"""Recipe files give each defense its settings per dataset: no defense file holds a table per dataset."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from rib.data import DATASETS, DatasetInfo
from rib.defenses import DEFENSES, create_defense
from rib.defenses.base import Defense
from rib.errors import ConfigError
from rib.recipe_files import defense_settings, recipe_file
from rib.registry import Registry


@pytest.mark.parametrize("dataset", ["mnist", "cifar10"])
def test_every_defense_is_fully_set_on_the_papers_datasets(dataset: str) -> None:
    for name in DEFENSES.names():
        defense = create_defense(name, dataset)
        assert sorted(defense.params) == sorted(DEFENSES.get(name).PARAMS), name


def test_settings_are_the_papers_and_a_models_params_override_them() -> None:
    assert create_defense("adv-linf", "mnist").params == {"eps": 0.3, "steps": 40, "step_size": 0.01, "ramp": 0.0}
    assert create_defense("adv-linf", "cifar10").params["eps"] == pytest.approx(8 / 255)
    assert (create_defense("ir", "mnist").params["lambda_cs"], create_defense("ir", "cifar10").params["lambda_cs"]) \
        == (3.0, 0.75)
    assert create_defense("adv-linf", "mnist", {"eps": 0.1}).params["eps"] == 0.1
    # IR's threat model before its teacher is known: the teacher defense's eps on that dataset
    assert create_defense("ir", "mnist").threat_model() == ("l2", 1.5)
    assert create_defense("ir", "cifar10").threat_model() == ("l2", 0.5)


def test_a_variant_shares_its_familys_settings() -> None:
    assert DATASETS.get("mnist-5k").family == "mnist" and "defenses" not in recipe_file("mnist-5k")
    assert defense_settings("mnist-5k", "adv-l2") == defense_settings("mnist", "adv-l2")


def test_a_dataset_without_settings_is_one_clear_error_unless_the_params_give_everything(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import rib.recipe_files as files

    svhn = dataclasses.replace(DATASETS.get("mnist-5k"), name="svhn", family="svhn", shape=(3, 32, 32))
    registry: Registry[DatasetInfo] = Registry("dataset")
    registry.register("svhn", svhn)
    monkeypatch.setattr(files, "DATASETS", registry)
    with pytest.raises(ConfigError, match=r"^defense 'adv-linf' has no setting of eps, steps, step_size, ramp on "
                                          r"dataset 'svhn': give it in \[defenses.adv-linf\] of .*svhn.toml"):
        create_defense("adv-linf", "svhn")
    assert create_defense("standard", "svhn").params == {}  # nothing to set
    given = {"eps": 0.1, "steps": 5, "step_size": 0.03, "ramp": 0.0}
    assert create_defense("adv-linf", "svhn", given).params == given


def test_a_setting_the_defense_does_not_have_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import rib.recipe_files as files

    path = tmp_path / "mnist.toml"
    path.write_text('dataset = "mnist"\n[defenses.l1]\nlam1 = 0.01\nreference_batch = 50\nlam2 = 3\n')
    monkeypatch.setitem(files._OUTSIDE_RECIPES, "mnist", path)
    files.recipe_file.cache_clear()
    try:
        with pytest.raises(ConfigError, match=r"\[defenses.l1\] sets lam2, which defense 'l1' does not have"):
            create_defense("l1", "mnist")
        path.write_text("[defenses.l1\n")
        files.recipe_file.cache_clear()
        with pytest.raises(ConfigError, match=r"recipe file .*mnist.toml cannot be read"):
            create_defense("l1", "mnist")
    finally:
        files.recipe_file.cache_clear()


def test_no_defense_file_holds_settings_per_dataset() -> None:
    import rib.defenses as package

    for path in Path(package.__file__).parent.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "PAPER_DEFAULTS" not in text and '"mnist"' not in text and '"cifar10"' not in text, path.name
    assert all(issubclass(DEFENSES.get(name), Defense) for name in DEFENSES.names())
