"""Recipes: how each zoo model is trained, shipped as TOML per dataset inside rib (``zoo/recipes/``; the files
are found and parsed by ``rib.recipe_files``, which also gives each defense its settings per dataset)."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from rib.data import DATASETS
from rib.defenses import DEFENSES
from rib.errors import ConfigError
from rib.recipe_files import recipe_file
from rib.recipe_files import register_recipes as _register_recipes
from rib.registry import Registry


@dataclass(frozen=True)
class Recipe:
    """The training plan of one zoo model; a card is a recipe plus weights, provenance and results."""

    id: str
    dataset: str  # trained on this dataset's training split
    arch: str
    defense: str
    arch_kwargs: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    paper: str = ""
    deviations: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()
    calibration: dict[str, Any] | None = None
    evaluate_on: str = ""  # where the trained model is evaluated (its card's dataset); "" : ``dataset``

    @property
    def card_dataset(self) -> str:
        """The dataset the trained model's card names for evaluation (its folder under the zoo)."""
        return self.evaluate_on or self.dataset


def register_recipes(dataset: str, path: Any) -> None:
    """Make ``path`` the recipe file of ``dataset`` (a plugin's zoo and its defenses' settings; see
    ``rib.recipe_files.register_recipes``)."""
    _register_recipes(dataset, path)
    recipes.cache_clear()


_RECIPE_KEYS = {"defense", "arch", "arch_kwargs", "params", "training", "description", "paper", "deviations",
                "requires", "calibration"}


@functools.cache
def recipes(dataset: str) -> Registry[Recipe]:
    """All recipes of ``dataset`` as a registry (the model ids of its zoo): rib's own file, or one a plugin
    registered (``register_recipes``)."""
    dataset = DATASETS.canonical(dataset)
    reg: Registry[Recipe] = Registry(f"{dataset} model")
    data = recipe_file(dataset)
    defaults = data.get("defaults", {})
    evaluate_on = DATASETS.canonical(data["evaluate_on"]) if "evaluate_on" in data else ""
    for model_id, spec in data.get("models", {}).items():
        unknown = set(spec) - _RECIPE_KEYS
        if unknown:
            raise ConfigError(f"recipe {dataset}/{model_id} has unknown keys {sorted(unknown)}")
        reg.register(model_id, Recipe(
            id=model_id,
            dataset=dataset,
            arch=spec.get("arch", defaults.get("arch", "")),
            defense=spec["defense"],
            arch_kwargs={**defaults.get("arch_kwargs", {}), **spec.get("arch_kwargs", {})},
            params=dict(spec.get("params", {})),
            training={**defaults.get("training", {}), **spec.get("training", {})},
            description=spec.get("description", ""),
            paper=spec.get("paper", ""),
            deviations=(*defaults.get("deviations", []), *spec.get("deviations", [])),
            requires=tuple(spec.get("requires", [])),
            calibration=spec.get("calibration"),
            evaluate_on=evaluate_on,
        ))
    return reg


def get_recipe(model_id: str, dataset: str) -> Recipe:
    """The recipe for ``model_id`` on ``dataset`` (defense aliases accepted), with did-you-mean on a miss."""
    reg = recipes(dataset)
    if model_id not in reg and model_id in DEFENSES and DEFENSES.canonical(model_id) in reg:
        model_id = DEFENSES.canonical(model_id)
    return reg.get(model_id)


def training_order(model_ids: list[str], dataset: str) -> list[str]:
    """``model_ids`` with every model after the models it requires (IR's teacher before IR)."""
    reg = recipes(dataset)
    order: list[str] = []

    def visit(mid: str, stack: tuple[str, ...]) -> None:
        if mid in order:
            return
        if mid in stack:
            raise ConfigError(f"recipes of {dataset} require each other in a cycle: {' → '.join((*stack, mid))}")
        for dep in reg.get(mid).requires:
            visit(dep, (*stack, mid))
        order.append(mid)

    for mid in model_ids:
        visit(mid, ())
    return order
