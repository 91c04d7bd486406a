"""The ``Defense`` interface: hyperparameters, a threat model, optional per-example targets, and a loss."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch

from rib.data import DATASETS
from rib.errors import ConfigError
from rib.registry import Registry
from rib.zoo.robust_model import RobustModel

Logs = dict[str, float]


def family(dataset: str) -> str:
    """The paper-defaults family of a dataset, from its registry entry (``mnist`` for mnist and mnist-5k)."""
    return DATASETS.get(dataset).family


@dataclass
class TrainContext:
    """What a defense may need beyond the batch: where teachers live, a cache, the device and the RNG."""

    dataset: str
    device: torch.device
    generator: torch.Generator
    model_dirs: list[Path] = field(default_factory=list)
    cache_dir: Path | None = None
    progress: bool = False


class Defense(ABC):
    """A training objective. Subclasses set ``name``, ``paper``, ``PAPER_DEFAULTS`` and implement ``loss``."""

    name: ClassVar[str]
    paper: ClassVar[str] = ""
    PAPER_DEFAULTS: ClassVar[dict[str, dict[str, Any]]] = {"mnist": {}, "cifar10": {}}

    def __init__(self, dataset: str = "mnist-5k", **params: Any) -> None:
        defaults = self.paper_defaults(dataset)
        unknown = sorted(set(params) - set(defaults))
        if unknown:
            raise ConfigError(
                f"defense {self.name!r} has no parameter {', '.join(unknown)} (known: {', '.join(sorted(defaults))})"
            )
        self.dataset = dataset
        self.params: dict[str, Any] = {**defaults, **params}
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


DEFENSES: Registry[type[Defense]] = Registry("defense")


def register(name: str, aliases: tuple[str, ...] = ()) -> Any:
    """Class decorator: register a defense under its CLI name."""

    def wrap(cls: type[Defense]) -> type[Defense]:
        cls.name = name
        return DEFENSES.register(name, cls, aliases)

    return wrap


def create_defense(name: str, dataset: str = "mnist-5k", params: dict[str, Any] | None = None) -> Defense:
    """Instantiate a registered defense with the paper defaults for ``dataset`` overridden by ``params``."""
    return DEFENSES.get(name)(dataset, **(params or {}))
