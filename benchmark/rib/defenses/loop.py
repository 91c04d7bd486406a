"""The one training loop every defense shares: shuffled minibatches, Adam or SGD, cosine or constant lr."""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import torch
from tqdm import tqdm

from rib.batching import batches
from rib.defenses.base import Defense, TrainContext
from rib.errors import ConfigError, RibError

if TYPE_CHECKING:  # annotations only: the zoo imports the defenses, so they never import the zoo
    from rib.zoo.robust_model import RobustModel


@dataclass
class TrainConfig:
    """Optimization settings; every field lands in the model card."""

    epochs: int = 20
    batch_size: int = 50
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    schedule: str = "cosine"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0:
            raise ConfigError(f"training needs epochs ≥ 1, batch_size ≥ 1 and lr > 0, got {self}")
        if self.optimizer not in ("adam", "sgd"):
            raise ConfigError(f"unknown optimizer {self.optimizer!r} (known: adam, sgd)")
        if self.schedule not in ("cosine", "constant"):
            raise ConfigError(f"unknown lr schedule {self.schedule!r} (known: cosine, constant)")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def fit(
    model: RobustModel,
    defense: Defense,
    x: torch.Tensor,
    y: torch.Tensor,
    cfg: TrainConfig,
    ctx: TrainContext,
    *,
    desc: str = "train",
) -> dict[str, Any]:
    """Train ``model`` in place with ``defense``'s loss; returns wall time and the last epoch's mean logs.

    Deterministic on the CPU for a given ``cfg.seed``: shuffling and every random start use seeded generators.
    """
    device = ctx.device
    model.to(device).train()
    aux = defense.prepare(model, x, y, ctx)
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.optimizer == "adam":
        opt: torch.optim.Optimizer = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    else:
        opt = torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    steps_per_epoch = math.ceil(len(x) / cfg.batch_size)
    total = cfg.epochs * steps_per_epoch
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, (lambda s: 0.5 * (1 + math.cos(math.pi * s / total))) if cfg.schedule == "cosine" else (lambda s: 1.0)
    )
    shuffle = torch.Generator().manual_seed(cfg.seed)
    start = time.perf_counter()
    step = 0
    epoch_logs: dict[str, float] = {}
    bar = tqdm(total=total, desc=desc, disable=not ctx.progress, leave=False, unit="batch")
    for _epoch in range(cfg.epochs):
        perm = torch.randperm(len(x), generator=shuffle)
        sums: dict[str, float] = {}
        for (idx,) in batches(perm, batch_size=cfg.batch_size):
            xb, yb = x[idx].to(device), y[idx].to(device)
            aux_b = {k: v[idx].to(device) for k, v in aux.items()}
            loss, logs = defense.loss(model, xb, yb, aux_b, step / total, ctx.generator)
            if not torch.isfinite(loss):
                raise RibError(f"{desc}: the loss became {loss.item()} at step {step}; lower the lr or the penalty")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            logs["loss"] = loss.item()
            for k, v in logs.items():
                sums[k] = sums.get(k, 0.0) + v
            bar.update(1)
            bar.set_postfix({k: f"{v:.3g}" for k, v in logs.items() if k in ("loss", "ce", "ce_adv", "acc_adv")})
        epoch_logs = {k: v / steps_per_epoch for k, v in sums.items()}
    bar.close()
    model.eval()
    return {"wall_time_s": round(time.perf_counter() - start, 1), "last_epoch": epoch_logs}
