"""Where model cards are found: the committed zoo and the folders a user names, read without importing torch
(``rib ls models`` answers at once)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from rib.data import DATASETS
from rib.zoo.cards import ModelCard, read_card

ModelDirs = Path | str | Sequence[Path | str] | None


def zoo_dir() -> Path:
    """The committed zoo: ``$RIB_MODELS_DIR``, else the repository's ``models/``, else ``./models``."""
    env = os.environ.get("RIB_MODELS_DIR")
    if env:
        return Path(env).expanduser()
    repo_models = Path(__file__).resolve().parents[3] / "models"
    return repo_models if repo_models.is_dir() else Path.cwd() / "models"


def model_dirs(models_dir: ModelDirs = None) -> list[Path]:
    """Folders searched for cards, in order: the given ones, then the committed zoo."""
    if models_dir is None:
        given: list[Path] = []
    elif isinstance(models_dir, (str, Path)):
        given = [Path(models_dir)]
    else:
        given = [Path(d) for d in models_dir]
    zoo = zoo_dir()
    return [*given, *([zoo] if zoo not in given else [])]


def list_cards(dataset: str | None = None, models_dir: ModelDirs = None, *,
               check_names: bool = True) -> list[ModelCard]:
    """Every card found (the first folder wins when two hold the same dataset/id), sorted by dataset and id
    (``check_names``: see ``ModelCard.from_dict``)."""
    found: dict[tuple[str, str], ModelCard] = {}
    datasets = [DATASETS.canonical(dataset)] if dataset else DATASETS.names()
    for folder in model_dirs(models_dir):
        for ds in datasets:
            for path in sorted((folder / ds).glob("*.toml")):
                card = read_card(path, check_names=check_names)
                found.setdefault((card.dataset, card.id), card)
    return [found[k] for k in sorted(found)]
