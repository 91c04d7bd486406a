"""Attacks on the interpretation itself (Boopathy et al., after Ghorbani et al.): move the CAM, keep the label.

``topk-cam-linf`` runs Linf sign steps that lower the true-class CAM on the clean input's top-k locations
(minimize Σ_{i∈TopK(I_y(x))} I_y(x')_i). A step that would change the label is undone and retried at half the
size, so every iterate stays classified as y and the damage is all in the explanation: the metrics
``topk-intersection`` and ``kendall-tau`` measure it. As a robustness attack it is weak by design (its kind is
``interpretation``).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from rib.attacks.base import ATTACKS, FixedEpsAttack
from rib.attacks.pgd import default_step_size
from rib.errors import ConfigError
from rib.explain.cam import NO_CAM, CamModel, has_cam


@ATTACKS.decorator("topk-cam-linf", aliases=("topk-attack",))
class TopKCamLinf(FixedEpsAttack):
    norm_name = "linf"
    kind = "interpretation"

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        return {"k": 8, "steps": 40, "rel_step_size": 2.5}

    def not_applicable(self, model: nn.Module) -> str:
        return "" if has_cam(model) else f"{self.name} attacks the CAM and {NO_CAM}"

    def attack_batch(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float,
                     generator: torch.Generator) -> torch.Tensor:
        if not has_cam(model) or not isinstance(model, CamModel):
            raise ConfigError(self.not_applicable(model))
        k, steps = int(self.params["k"]), int(self.params["steps"])
        step_size = default_step_size(eps, steps, float(self.params["rel_step_size"]))
        rows = torch.arange(len(x), device=x.device)
        with torch.no_grad():
            cam_clean = model.cam(x)[rows, y].flatten(1)
        top = cam_clean.topk(min(k, cam_clean.shape[1]), dim=1).indices
        eps_t = torch.full((len(x),), eps, device=x.device, dtype=x.dtype)
        step = torch.full((len(x),) + (1,) * (x.dim() - 1), step_size, device=x.device, dtype=x.dtype)
        delta = torch.zeros_like(x)  # a deterministic start at x itself
        for _ in range(steps):
            xi = (x + delta).requires_grad_(True)
            cam = model.cam(xi)[rows, y].flatten(1)
            (grad,) = torch.autograd.grad(cam.gather(1, top).sum(), xi)
            with torch.no_grad():
                cand = self.norm.project(delta - step * self.norm.normalize_grad(grad), eps_t)
                cand = (x + cand).clamp(0, 1) - x
                keep = (model(x + cand).argmax(1) == y).view(-1, *([1] * (x.dim() - 1)))
                delta = torch.where(keep, cand, delta)  # a step that flips the label is undone ...
                step = torch.where(keep, step, step / 2)  # ... and retried at half the size
        return (x + delta).detach()
