"""Authors' own evaluation protocols, reproduced exactly: what a paper measured, stored beside rib's worst case.

A protocol attack is of kind ``protocol``: its numbers are never part of rib's worst case or leaderboard (they are
weaker by design, and run on the authors' images, not rib's sample); the model page and the claims set them beside
rib's own numbers on the same images.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from rib.attacks.base import ATTACKS, AttackResult, FixedEpsAttack
from rib.batching import batches
from rib.evaluation import predict
from rib.norms import NormName


@ATTACKS.decorator("boopathy-pgd-linf")
class BoopathyPGD(FixedEpsAttack):
    """Boopathy et al.'s ``pgd_attack`` (their eval.py): PGD-Linf from the clean image (no random start), ``steps``
    sign steps of ``step_size`` on the cross-entropy, each projected onto the eps ball and [0, 1]; robust accuracy
    on the final iterate. Each eps is attacked on its own, from the clean image, as their script does (no sharing
    across the sweep), on their 200 images (numpy seed 99's permutation of the test split)."""

    norm_name: ClassVar[NormName] = "linf"
    kind: ClassVar[str] = "protocol"
    role = "protocol"
    sample: ClassVar[str] = "boopathy2020"

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        return {"steps": 200, "step_size": 0.01}

    def attack_batch(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float,
                     generator: torch.Generator) -> torch.Tensor:
        x_adv = x.clone()
        for _ in range(int(self.params["steps"])):
            x_adv.requires_grad_(True)
            (grad,) = torch.autograd.grad(F.cross_entropy(model(x_adv), y, reduction="sum"), x_adv)
            with torch.no_grad():
                x_adv = x_adv + float(self.params["step_size"]) * grad.sign()
                x_adv = torch.min(torch.max(x_adv, x - eps), x + eps).clamp(0, 1)
        return x_adv.detach()

    def run(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: list[float], *, seed: int,
            batch_size: int, progress: bool) -> AttackResult:
        device = next(model.parameters()).device
        generator = torch.Generator(device=device).manual_seed(seed)  # unused: the protocol has no randomness
        clean_correct = predict(model, x, batch_size) == y
        robust = torch.zeros(len(y), len(eps), dtype=torch.bool)
        distance = torch.where(clean_correct, torch.tensor(math.inf), torch.tensor(0.0))
        x_adv = x.clone()
        idx = clean_correct.nonzero().flatten()
        for e, epsilon in enumerate(eps):  # every eps from the clean image, like the authors' script
            alive = clean_correct.clone()
            for (chunk,) in batches(idx, batch_size=batch_size):
                xb, yb = x[chunk].to(device), y[chunk].to(device)
                adv = self._admissible(xb, self.attack_batch(model, xb, yb, epsilon, generator), epsilon)
                with torch.no_grad():
                    fooled = (model(adv).argmax(1) != yb).cpu()
                hit = chunk[fooled]
                alive[hit] = False
                x_adv[hit] = adv[fooled].detach().cpu()
                distance[hit] = torch.minimum(distance[hit], self.norm.distance(adv[fooled].cpu(), x[hit]))
            robust[:, e] = alive
        return AttackResult(eps, clean_correct, robust, distance, x_adv)
