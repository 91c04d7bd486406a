"""Re-home cards: the same weights, evaluated on another dataset of the same family (their training set unchanged).

The mnist-5k zoo was trained on mnist-5k's 4,000 training images and is evaluated on MNIST's official test split:
``rib rehome --model '*' --from mnist-5k --to mnist`` moves each card and its weights from ``models/mnist-5k/`` to
``models/mnist/``, records ``trained_on = "mnist-5k"``, and drops the claims (they were measured on the old test
split; ``rib verify --zoo --write-claims`` writes new ones from the new results).
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

from rib.data import DATASETS
from rib.errors import ConfigError
from rib.files import sha256_file
from rib.registry import Registry
from rib.zoo.cards import ModelCard, read_card, training_leak, write_card


def rehome_cards(models: str, source: str, target: str, models_dir: Path | str = "models", *,
                 force: bool = False) -> list[ModelCard]:
    """Move the cards ``models`` (ids, comma-separated, wildcards allowed) of ``models_dir/source`` to
    ``models_dir/target``: same weights (their sha256 checked), ``dataset = target``, ``trained_on`` kept."""
    source, target = DATASETS.canonical(source), DATASETS.canonical(target)
    src, dst = DATASETS.get(source), DATASETS.get(target)
    if source == target:
        raise ConfigError(f"the cards are already evaluated on {source}")
    if (src.family, src.shape, src.num_classes) != (dst.family, dst.shape, dst.num_classes):
        raise ConfigError(f"{source} and {target} differ in family, image shape or classes: a model of one cannot "
                          f"be evaluated on the other")
    folder = Path(models_dir)
    found: Registry[ModelCard] = Registry(f"{source} model in {folder / source}")
    for path in sorted((folder / source).glob("*.toml")):
        card = read_card(path)
        found.register(card.id, card)
    cards = [found.get(name) for name in found.resolve(models)]
    for card in cards:  # every check before anything moves
        leak = training_leak(card.trained_on, target)
        if leak:
            raise ConfigError(f"{card.id}: {leak}")
        if (folder / target / f"{card.id}.toml").exists() and not force:
            raise ConfigError(f"{folder / target / card.id}.toml exists; pass --force to replace it")
        if sha256_file(card.weights_path) != card.weights_sha256:
            raise ConfigError(f"{card.weights_path}: weights do not match the card's sha256; nothing was moved")
    moved = []
    for card in cards:
        old_card, old_weights = card.path, card.weights_path
        assert old_card is not None  # read from a file
        (folder / target).mkdir(parents=True, exist_ok=True)
        shutil.copy2(old_weights, folder / target / card.weights_file)
        new = replace(card, dataset=target, trained_on=card.trained_on, claims=[],
                      provenance={**card.provenance, "test_split": f"{source} test"})
        write_card(new, folder / target / f"{card.id}.toml")
        old_card.unlink()
        old_weights.unlink()
        moved.append(new)
    return moved
