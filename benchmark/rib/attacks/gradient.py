"""rib's own gradient attacks: FGSM and PGD (random start, restarts, per-example early stopping)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from rib.attacks.base import ATTACKS, FixedEpsAttack
from rib.attacks.pgd import PGDSettings, default_step_size, projected_step, random_delta
from rib.norms import Norm


class _FGSM(FixedEpsAttack):
    """One step of size eps along the normalized gradient of cross-entropy, no random start."""

    single_step = True
    role = "single-step"

    def attack_batch(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float,
                     generator: torch.Generator) -> torch.Tensor:
        x = x.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(F.cross_entropy(model(x), y, reduction="sum"), x)
        return (x + eps * self.norm.normalize_grad(grad)).detach()


@ATTACKS.decorator("fgsm-linf", aliases=("fgsm",))
class FGSMLinf(_FGSM):
    norm_name = "linf"


@ATTACKS.decorator("fgsm-l2")
class FGSML2(_FGSM):
    norm_name = "l2"


def pgd_early_stop(model: nn.Module, x: torch.Tensor, y: torch.Tensor, norm: Norm, eps: float,
                   settings: PGDSettings, generator: torch.Generator) -> torch.Tensor:
    """PGD on cross-entropy (``settings``' steps, step size and restarts; always from a random point); an example
    leaves the batch as soon as it is misclassified, keeping that input.

    Each restart starts from a new random point and attacks only the examples every earlier restart failed on,
    so an example counts as robust only if it survives every restart.
    """
    steps, step_size, restarts = settings.steps, settings.step_size, settings.restarts
    assert step_size is not None, "pgd_early_stop takes its step size from the attack"
    best = x.detach().clone()
    fooled = torch.zeros(len(x), dtype=torch.bool, device=x.device)
    for _ in range(restarts):
        todo = (~fooled).nonzero().flatten()
        if len(todo) == 0:
            break
        xs, ys = x[todo].detach(), y[todo]
        eps_t = torch.full((len(todo),), eps, device=x.device, dtype=x.dtype)
        delta = random_delta(norm, xs, eps_t, generator)
        active = torch.arange(len(todo), device=x.device)
        for step in range(steps + 1):
            xi = (xs[active] + delta[active]).requires_grad_(step < steps)
            with torch.set_grad_enabled(step < steps):
                logits = model(xi)
            wrong = logits.argmax(1) != ys[active]
            if wrong.any():
                hit = todo[active[wrong]]
                best[hit] = xi[wrong].detach()
                fooled[hit] = True
            if step == steps:
                break
            keep = ~wrong
            if not keep.any():
                break
            loss = F.cross_entropy(logits, ys[active], reduction="none")[keep].sum()
            (grad,) = torch.autograd.grad(loss, xi)
            active = active[keep]
            delta[active] = projected_step(norm, xs[active], delta[active], grad[keep], step_size,
                                           eps_t[: len(active)])
        survivors = todo[~fooled[todo]]
        best[survivors] = (x[survivors] + delta[(~fooled[todo]).nonzero().flatten()]).detach()
    return best


class _PGD(FixedEpsAttack):
    role = "reference"
    @classmethod
    def default_params(cls) -> dict[str, Any]:
        return {"steps": 40, "rel_step_size": 2.5, "restarts": 1}

    def attack_batch(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float,
                     generator: torch.Generator) -> torch.Tensor:
        steps = int(self.params["steps"])
        step = default_step_size(eps, steps, self.params["rel_step_size"])
        return pgd_early_stop(model, x, y, self.norm, eps, PGDSettings(steps, step,
                                                                       restarts=int(self.params["restarts"])),
                              generator)


@ATTACKS.decorator("pgd-linf", aliases=("pgd",))
class PGDLinf(_PGD):
    norm_name = "linf"


@ATTACKS.decorator("pgd-l2")
class PGDL2(_PGD):
    norm_name = "l2"
