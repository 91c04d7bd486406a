"""PGD adversarial training (Madry et al.): cross-entropy on PGD examples, eps ramped up early in training."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from rib.attacks.pgd import PGDSettings, pgd_perturb
from rib.defenses.base import DEFENSES, Defense, Logs
from rib.models import RobustModel
from rib.norms import NORMS


def ramped_eps(eps: float, progress: float, ramp: float) -> float:
    """Linear eps ramp from 0 to ``eps`` over the first ``ramp`` fraction of training."""
    return eps if ramp <= 0 else eps * min(1.0, progress / ramp)


def attack_in_eval(model: RobustModel, fn: Callable[..., torch.Tensor], *args: Any, **kwargs: Any) -> torch.Tensor:
    """Run an attack with the model in eval mode (batch-norm statistics untouched), then restore its mode."""
    was_training = model.training
    model.eval()
    try:
        return fn(model, *args, **kwargs)
    finally:
        model.train(was_training)


class _PGDTraining(Defense):
    norm_name: str = "linf"
    PARAMS = ("eps", "steps", "step_size", "ramp")

    def threat_model(self) -> tuple[str, float]:
        return self.norm_name, float(self.params["eps"])

    def loss(self, model: RobustModel, x: torch.Tensor, y: torch.Tensor, aux: dict[str, torch.Tensor],
             progress: float, generator: torch.Generator) -> tuple[torch.Tensor, Logs]:
        p = self.params
        eps = ramped_eps(p["eps"], progress, p["ramp"])
        step = p["step_size"] * eps / p["eps"] if p["step_size"] else None  # step shrinks with the ramp
        x_adv = attack_in_eval(model, pgd_perturb, x, y, NORMS.get(self.norm_name), eps, PGDSettings(p["steps"], step),
                               generator=generator)
        logits = model(x_adv)
        ce = F.cross_entropy(logits, y)
        return ce, {"ce_adv": ce.item(), "acc_adv": (logits.argmax(1) == y).float().mean().item(), "eps": eps}


@DEFENSES.decorator("adv-linf", aliases=("at", "pgd-at", "madry"))
class AdversarialLinf(_PGDTraining):
    paper = "Madry et al., ICLR 2018 (settings of Chalasani et al. / Boopathy et al.)"
    norm_name = "linf"


@DEFENSES.decorator("adv-l2", aliases=("at-l2",))
class AdversarialL2(_PGDTraining):
    paper = "Madry et al., ICLR 2018 (the L2 teacher of Noack et al.)"
    norm_name = "l2"
