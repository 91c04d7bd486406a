"""Interpretation regularization, IR (Noack, Ahern, Dou, Li; arXiv 1912.03430).

Targets T(x): sparsified SmoothGrad of a teacher (an ``adv-l2`` model), computed once per training image and
cached. Loss: mean CE + λ_cs · (1 − mean_n cos(g_n, T_n)) + λ_gm · sqrt(Σ_n ‖g_n‖²), g_n = ∇_x z_y(x_n).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save
from tqdm import tqdm

from rib.batching import batches
from rib.defenses.base import DEFENSES, Defense, Logs, TrainContext
from rib.errors import ConfigError
from rib.explain.gradients import smoothgrad, sparsify
from rib.files import atomic_write_bytes
from rib.models import RobustModel
from rib.recipe_files import defense_settings


def default_cache_dir() -> Path:
    """``$RIB_CACHE_DIR`` or ``~/.cache/rib``."""
    return Path(os.environ.get("RIB_CACHE_DIR", Path.home() / ".cache" / "rib")).expanduser()


def teacher_targets(teacher: RobustModel, x: torch.Tensor, y: torch.Tensor, params: Mapping[str, Any], *,
                    batch_size: int = 250, device: torch.device | None = None, progress: bool = False) -> torch.Tensor:
    """Sparsified SmoothGrad maps of ``teacher`` for every (x, y), on the CPU, in input order; ``params`` are IR's
    (SmoothGrad's ``samples`` and ``sigma``, ``sparsify_std``, and ``target_seed`` for the noise)."""
    device = device or torch.device("cpu")
    gen = torch.Generator(device=device).manual_seed(int(params["target_seed"]))
    out = []
    for xb, yb in tqdm(batches(x, y, batch_size=batch_size), desc="IR targets", disable=not progress, leave=False):
        xb, yb = xb.to(device), yb.to(device)
        maps = smoothgrad(teacher, xb, yb, samples=int(params["samples"]), sigma=float(params["sigma"]), generator=gen)
        out.append(sparsify(maps, float(params["sparsify_std"])).cpu())
    return torch.cat(out)


@DEFENSES.decorator("ir", aliases=("interpretation-reg", "noack"))
class InterpretationRegularization(Defense):
    paper = "Noack et al., arXiv 1912.03430"
    PARAMS = ("lambda_cs", "lambda_gm", "teacher", "samples", "sigma", "sparsify_std", "target_seed")

    def threat_model(self) -> tuple[str, float]:
        teacher = self.extra_provenance.get("teacher_threat_model")
        if teacher:
            return teacher[0], float(teacher[1])
        return "l2", float(defense_settings(self.dataset, "adv-l2").get("eps", float("nan")))

    def prepare(
        self, model: RobustModel, x: torch.Tensor, y: torch.Tensor, ctx: TrainContext
    ) -> dict[str, torch.Tensor]:
        p = self.params
        if ctx.resolve_model is None:
            raise ConfigError(f"{self.name} needs its teacher {p['teacher']!r}: the training context has no model "
                              "resolver (rib.zoo.model_resolver)")
        teacher = ctx.resolve_model(p["teacher"])
        card = teacher.card
        if card is None:
            raise ConfigError(f"{self.name}: teacher {p['teacher']!r} has no model card to record")
        recipe = {k: p[k] for k in ("samples", "sigma", "sparsify_std", "target_seed")}
        data_digest = hashlib.sha256(x.numpy().tobytes() + y.numpy().tobytes()).hexdigest()
        key = hashlib.sha256(
            json.dumps({"teacher": card.weights_sha256, "data": data_digest, **recipe}, sort_keys=True).encode()
        ).hexdigest()
        cache = (ctx.cache_dir or default_cache_dir()) / "ir-targets" / f"{key[:32]}.safetensors"
        targets = None
        if cache.exists():
            try:
                loaded = load_file(str(cache))["targets"]
                if loaded.shape == x.shape:
                    targets = loaded
            except Exception:  # a damaged cache entry is recomputed
                targets = None
        if targets is None:
            targets = teacher_targets(teacher, x, y, p, device=ctx.device, progress=ctx.progress)
            atomic_write_bytes(cache, save({"targets": targets.contiguous()}))
        self.extra_provenance = {
            "teacher": card.id,
            "teacher_sha256": card.weights_sha256,
            "teacher_threat_model": [card.trained_norm, card.trained_eps],
            "targets_sha256": hashlib.sha256(targets.numpy().tobytes()).hexdigest(),
        }
        return {"target": targets}

    def loss(self, model: RobustModel, x: torch.Tensor, y: torch.Tensor, aux: dict[str, torch.Tensor],
             progress: float, generator: torch.Generator) -> tuple[torch.Tensor, Logs]:
        x = x.detach().requires_grad_(True)
        logits = model(x)
        ce = F.cross_entropy(logits, y)
        (grad,) = torch.autograd.grad(logits.gather(1, y.view(-1, 1)).sum(), x, create_graph=True)
        grad = grad.flatten(1)
        cos = F.cosine_similarity(grad, aux["target"].flatten(1), dim=1, eps=1e-12).mean()
        magnitude = grad.pow(2).sum().sqrt()
        loss = ce + self.params["lambda_cs"] * (1 - cos) + self.params["lambda_gm"] * magnitude
        return loss, {"ce": ce.item(), "cos": cos.item(), "grad_norm": magnitude.item()}
