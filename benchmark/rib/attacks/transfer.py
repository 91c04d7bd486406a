"""Transfer attacks (Ross & Doshi-Velez's setting): PGD crafted on a surrogate zoo model, evaluated on the target.

The surrogate's adversarial inputs do not depend on the target, so they are crafted once per (surrogate, eps,
seed, inputs) and reused for every target model in the same process.
"""

from __future__ import annotations

import hashlib
import math
from collections import OrderedDict
from typing import Any

import torch
from torch import nn

from rib.attacks.base import ATTACKS, Attack, AttackResult
from rib.attacks.pgd import PGDSettings, default_step_size, pgd_perturb
from rib.batching import batches
from rib.errors import ConfigError
from rib.evaluation import predict
from rib.models import ModelResolver

_CRAFTED: OrderedDict[str, torch.Tensor] = OrderedDict()
_CRAFTED_MAX = 64


class _TransferPGD(Attack):
    kind = "transfer"
    role = "transfer"

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        return {"surrogate": "standard", "steps": 40, "rel_step_size": 2.5}

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.surrogate: nn.Module | None = None
        self.surrogate_sha = ""

    def model_dependencies(self) -> dict[str, str]:
        return {"surrogate": str(self.params["surrogate"])}

    def bind(self, resolve: ModelResolver) -> None:
        """Load the surrogate model through ``resolve`` (the runner's resolver shares it with its other cells)."""
        surrogate = resolve(str(self.params["surrogate"]))
        # the crafted-inputs cache is keyed by the surrogate's weights; a model without a card only by its identity
        sha = surrogate.card.weights_sha256 if surrogate.card is not None else f"uncarded-{id(surrogate)}"
        self.surrogate, self.surrogate_sha = surrogate, sha

    def craft(self, x: torch.Tensor, y: torch.Tensor, eps: float, seed: int, batch_size: int) -> torch.Tensor:
        """Full-length PGD (no early stopping) against the surrogate, for every example."""
        if self.surrogate is None:
            raise ConfigError(f"{self.name}: no surrogate model bound (the runner binds it)")
        steps = int(self.params["steps"])
        digest = hashlib.sha256(x.numpy().tobytes() + y.numpy().tobytes()).hexdigest()
        key = f"{self.surrogate_sha}/{self.norm_name}/{eps!r}/{steps}/{self.params['rel_step_size']}/{seed}/" \
              f"{batch_size}/{digest}"
        if key in _CRAFTED:
            _CRAFTED.move_to_end(key)
            return _CRAFTED[key]
        device = next(self.surrogate.parameters()).device
        gen = torch.Generator(device=device).manual_seed(seed)
        step = default_step_size(eps, steps, self.params["rel_step_size"])
        out = torch.cat([
            pgd_perturb(self.surrogate, xb.to(device), yb.to(device), self.norm, eps, PGDSettings(steps, step),
                        generator=gen).cpu()
            for xb, yb in batches(x, y, batch_size=batch_size)
        ])
        _CRAFTED[key] = out
        while len(_CRAFTED) > _CRAFTED_MAX:
            _CRAFTED.popitem(last=False)
        return out

    def run(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: list[float], *, seed: int,
            batch_size: int, progress: bool) -> AttackResult:
        clean_correct = predict(model, x, batch_size) == y
        alive = clean_correct.clone()
        robust = torch.zeros(len(y), len(eps), dtype=torch.bool)
        distance = torch.where(clean_correct, torch.tensor(math.inf), torch.tensor(0.0))
        x_adv = x.clone()
        for e, epsilon in enumerate(eps):
            adv = self.craft(x, y, epsilon, seed, batch_size)
            fooled = predict(model, adv, batch_size) != y
            newly = alive & fooled
            x_adv[newly] = adv[newly]
            distance[newly] = self.norm.distance(adv[newly], x[newly])
            alive &= ~fooled
            still = alive.clone()
            x_adv[still] = adv[still]
            robust[:, e] = alive
        return AttackResult(eps, clean_correct, robust, distance, x_adv, {"surrogate": self.params["surrogate"]})


@ATTACKS.decorator("transfer-pgd-linf")
class TransferPGDLinf(_TransferPGD):
    norm_name = "linf"


@ATTACKS.decorator("transfer-pgd-l2")
class TransferPGDL2(_TransferPGD):
    norm_name = "l2"
