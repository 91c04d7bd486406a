"""Recipe files: one TOML per dataset (``rib/zoo/recipes/<dataset>.toml``, or a file a plugin registered).

A recipe file holds two things. ``[defenses.<name>]`` gives each defense's settings on that dataset, from the papers
(``Defense`` reads them: no defense file holds a table per dataset). ``[models.<id>]`` gives how each zoo model is
trained (``rib.zoo.recipes`` reads them). This module only finds and parses the files, so the defenses below the
zoo can read their settings without importing it.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import tomllib

from rib.data import DATASETS
from rib.errors import ConfigError

RECIPES_DIR = Path(__file__).resolve().parent / "zoo" / "recipes"
_OUTSIDE_RECIPES: dict[str, Path] = {}  # dataset → a recipe file a plugin registered (``register_recipes``)


def register_recipes(dataset: str, path: Path | str) -> None:
    """Make ``path`` (a recipe TOML file, in the format of ``rib/zoo/recipes/``) the recipes of ``dataset``: how a
    plugin's dataset gets its defenses' settings and a zoo ``rib train`` can train, with no file of rib edited."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"recipe file {path} does not exist")
    _OUTSIDE_RECIPES[DATASETS.canonical(dataset)] = path
    recipe_file.cache_clear()


def recipe_path(dataset: str) -> Path:
    """Where ``dataset``'s recipe file is: a plugin's, or rib's own (which may not exist)."""
    dataset = DATASETS.canonical(dataset)
    return _OUTSIDE_RECIPES.get(dataset) or RECIPES_DIR / f"{dataset}.toml"


@functools.cache
def recipe_file(dataset: str) -> dict[str, Any]:
    """The parsed recipe file of ``dataset``; ``{}`` when it has none. A malformed file is a ``ConfigError``."""
    path = recipe_path(dataset)
    if not path.is_file():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"recipe file {path} cannot be read: {exc}") from None


def defense_settings(dataset: str, defense: str) -> dict[str, Any]:
    """``defense``'s settings on ``dataset``: the ``[defenses.<defense>]`` table of the dataset's recipe file, or
    of its family's (``mnist-5k`` shares ``mnist``'s); ``{}`` when neither gives one."""
    info = DATASETS.get(dataset)
    for source in dict.fromkeys((info.name, info.family)):
        if source not in DATASETS:  # a family that is no dataset of its own has no recipe file
            continue
        table = recipe_file(source).get("defenses", {}).get(defense)
        if table is not None:
            if not isinstance(table, dict):
                raise ConfigError(f"recipe file {recipe_path(source)}: [defenses.{defense}] is not a table")
            return dict(table)
    return {}
