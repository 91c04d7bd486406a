"""The ``Defense`` interface: hyperparameters, a threat model, optional per-example targets, and a loss."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch

from rib.data import DATASETS, DEFAULT_TRAINING_DATASET
from rib.errors import ConfigError
from rib.models import ModelResolver, RobustModel
from rib.params import Parameterized
from rib.registry import Registry

Logs = dict[str, float]


def family(dataset: str) -> str:
    """The paper-defaults family of a dataset, from its registry entry (``mnist`` for mnist and mnist-5k)."""
    return DATASETS.get(dataset).family


@dataclass
class TrainContext:
    """What a defense may need beyond the batch: other zoo models (IR's teacher), a cache, the device and the RNG.

    ``resolve_model`` gives zoo models by name on ``dataset`` and ``device`` (``rib.zoo.model_resolver``).
    """

    dataset: str
    device: torch.device
    generator: torch.Generator
    resolve_model: ModelResolver | None = None
    cache_dir: Path | None = None
    progress: bool = False


class Defense(Parameterized, ABC):
    """A training objective, registered with ``@DEFENSES.decorator(name)`` (which sets ``name``); subclasses set
    ``paper`` and ``PAPER_DEFAULTS`` and implement ``loss``."""

    params_kind = "defense"
    paper: ClassVar[str] = ""
    PAPER_DEFAULTS: ClassVar[dict[str, dict[str, Any]]] = {"mnist": {}, "cifar10": {}}

    def __init__(self, dataset: str = DEFAULT_TRAINING_DATASET, **params: Any) -> None:
        defaults = self.paper_defaults(dataset)
        self.set_params(defaults, params)
        self.dataset = dataset
        self.extra_provenance: dict[str, Any] = {}

    @classmethod
    def paper_defaults(cls, dataset: str) -> dict[str, Any]:
        """The paper's hyperparameters for ``dataset``'s family; a family without them is a ``ConfigError``."""
        fam = family(dataset)
        if fam not in cls.PAPER_DEFAULTS:
            raise ConfigError(f"defense {cls.name!r} has no paper defaults for dataset {dataset!r} of family {fam!r} "
                              f"(known families: {', '.join(sorted(cls.PAPER_DEFAULTS))})")
        return cls.PAPER_DEFAULTS[fam]

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
