"""The run context: what the cells of one run share, passed to every evaluator instead of loose parameters."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import torch

from rib.models import RobustModel
from rib.zoo.catalog import ModelDirs


@dataclass
class RunContext:
    """One run: its device and id, where zoo cards are found, whether bars show, the models loaded so far (each
    once, by ``cached_model``'s key), and the adversarial inputs an attack cell made that a later metric cell of the
    same run reads (``keep``: the keys of those to keep; ``adversarial``: key → (inputs, seconds the attack took))."""

    device: torch.device
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    models_dir: ModelDirs = None
    progress: bool = False
    models: dict[str, RobustModel] = field(default_factory=dict)
    keep: set[str] = field(default_factory=set)
    adversarial: dict[str, tuple[torch.Tensor, float]] = field(default_factory=dict)

    @classmethod
    def of(cls, device: torch.device, *, models_dir: ModelDirs = None, progress: bool = False,
           models: dict[str, Any] | None = None) -> RunContext:
        """A context for a new run; ``models`` shares an existing model cache (``rib.evaluate``'s own model)."""
        return cls(device, models_dir=models_dir, progress=progress, models=models if models is not None else {})
