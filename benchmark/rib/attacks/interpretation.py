"""Attacks on the interpretation itself (Boopathy et al., after Ghorbani et al.): move the CAM, keep the label.

``topk-cam-linf`` runs Linf sign steps that lower the true-class CAM on the clean input's top-k locations
(minimize Σ_{i∈TopK(I_y(x))} I_y(x')_i): the paper's 200 steps of 0.01 at eps 0.3 (``rel_step_size`` 20/3, so the
step is eps/30) from a random start in the ball (kept only where it keeps the label; else the start is x). A step
that would change the label is undone and retried at half the size, so every iterate stays classified as y and the
damage is all in the explanation: the metrics ``topk-intersection`` and ``kendall-tau`` measure it. As a robustness
attack it is weak by design (its kind is ``interpretation``).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from rib.attacks.base import ATTACKS, FixedEpsAttack
from rib.attacks.pgd import default_step_size, random_delta
from rib.errors import ConfigError
from rib.explain.cam import NO_CAM, CamModel, has_cam


@ATTACKS.decorator("topk-cam-linf", aliases=("topk-attack",))
class TopKCamLinf(FixedEpsAttack):
    norm_name = "linf"
    kind = "interpretation"
    role = "interpretation"
    revision = 2  # 2: the paper's 200 steps of eps/30 from a random start (was 40 steps of 2.5·eps/40 from x)

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        return {"k": 8, "steps": 200, "rel_step_size": 20 / 3, "random_start": True}

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
        delta = torch.zeros_like(x)
        if self.params["random_start"]:  # a uniform start in the ball, where it keeps the label
            with torch.no_grad():
                start = random_delta(self.norm, x, eps_t, generator)
                keep = (model(x + start).argmax(1) == y).view(-1, *([1] * (x.dim() - 1)))
                delta = torch.where(keep, start, delta)
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
