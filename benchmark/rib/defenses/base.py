"""The ``Defense`` interface: hyperparameters, a threat model, optional per-example targets, and a loss."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch

from rib.data import DEFAULT_TRAINING_DATASET
from rib.errors import ConfigError
from rib.models import ModelResolver, RobustModel
from rib.params import Parameterized
from rib.recipe_files import defense_settings, recipe_path
from rib.registry import Registry

Logs = dict[str, float]


@dataclass
class TrainContext:
    """What a defense may need beyond the batch: other zoo models (IR's teacher), a cache, the device and the RNG.

    ``resolve_model`` gives zoo models by name on ``dataset`` and ``device`` (``rib.zoo.model_resolver``); ``desc``
    names the run in progress output and errors.
    """

    dataset: str
    device: torch.device
    generator: torch.Generator
    resolve_model: ModelResolver | None = None
    cache_dir: Path | None = None
    progress: bool = False
    desc: str = "train"


class Defense(Parameterized, ABC):
    """A training objective, registered with ``@DEFENSES.decorator(name)`` (which sets ``name``); subclasses set
    ``paper``, name their hyperparameters in ``PARAMS`` and implement ``loss``.

    The values of the hyperparameters on a dataset come from its recipe file's ``[defenses.<name>]`` table (the
    papers' settings, ``rib.recipe_files``), overridden by the ones given; a hyperparameter neither gives is a
    ``ConfigError``.
    """

    params_kind = "defense"
    paper: ClassVar[str] = ""
    PARAMS: ClassVar[tuple[str, ...]] = ()

    def __init__(self, dataset: str = DEFAULT_TRAINING_DATASET, **params: Any) -> None:
        self.set_params(self.settings(dataset, params), params)
        self.dataset = dataset
        self.extra_provenance: dict[str, Any] = {}

    @classmethod
    def settings(cls, dataset: str, given: dict[str, Any] | None = None) -> dict[str, Any]:
        """Every hyperparameter of the defense on ``dataset``: its recipe file's settings, then ``given``; one that
        neither states, or a setting the defense does not have, is a ``ConfigError``."""
        stated = defense_settings(dataset, cls.name)
        unknown = sorted(set(stated) - set(cls.PARAMS))
        if unknown:
            raise ConfigError(f"{recipe_path(dataset)}: [defenses.{cls.name}] sets {', '.join(unknown)}, which "
                              f"defense {cls.name!r} does not have (it has: {', '.join(cls.PARAMS) or 'none'})")
        merged = {name: value for name, value in {**stated, **(given or {})}.items() if name in cls.PARAMS}
        missing = [name for name in cls.PARAMS if name not in merged]
        if missing:
            raise ConfigError(f"defense {cls.name!r} has no setting of {', '.join(missing)} on dataset {dataset!r}: "
                              f"give it in [defenses.{cls.name}] of {recipe_path(dataset)} or in the model's params")
        return {name: merged[name] for name in cls.PARAMS}

    def threat_model(self) -> tuple[str, float]:
        """The (norm, eps) the model is trained against; ``("none", 0.0)`` for non-adversarial objectives."""
        return "none", 0.0

    def prepare(
        self, model: RobustModel, x: torch.Tensor, y: torch.Tensor, ctx: TrainContext
    ) -> dict[str, torch.Tensor]:
        """Per-example auxiliary tensors indexed like the training set (IR's target maps); none by default."""
        return {}

    @abstractmethod
    def loss(
        self,
        model: RobustModel,
        x: torch.Tensor,
        y: torch.Tensor,
        aux: dict[str, torch.Tensor],
        progress: float,
        generator: torch.Generator,
    ) -> tuple[torch.Tensor, Logs]:
        """The training loss on one batch and scalars to log; ``progress`` runs from 0 to 1 over training."""


DEFENSES: Registry[type[Defense]] = Registry("defense", name_attr="name")
"""Defense classes by CLI name: ``@DEFENSES.decorator("adv-linf", aliases=(...))`` registers one and sets its
``name``."""


def create_defense(name: str, dataset: str = DEFAULT_TRAINING_DATASET, params: dict[str, Any] | None = None) -> Defense:
    """Instantiate a registered defense with the paper defaults for ``dataset`` overridden by ``params``."""
    return DEFENSES.get(name)(dataset, **(params or {}))
