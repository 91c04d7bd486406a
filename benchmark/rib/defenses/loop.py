"""The one training loop every defense shares: shuffled minibatches, Adam or SGD, a cosine, one-cycle or constant
lr, and an atomic checkpoint after every epoch from which a killed run resumes bit-identically (on the CPU)."""

from __future__ import annotations

import hashlib
import io
import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from rib.batching import batches
from rib.defenses.base import Defense, TrainContext
from rib.errors import ConfigError, DivergedError, RibError
from rib.files import atomic_write_bytes
from rib.models import RobustModel

SCHEDULES = ("cosine", "onecycle", "constant")
AUGMENTATIONS = ("none", "crop-flip")  # crop-flip: zero-pad by ``crop_padding``, random crop, random horizontal flip
CHECKPOINT_FORMAT = 1


@dataclass
class TrainConfig:
    """Optimization settings; every field lands in the model card.

    ``onecycle``: the lr rises linearly from lr/25 to lr over the first ``warmup`` fraction of the steps, then
    falls as a cosine to lr/1e4 (Smith's one-cycle policy, as torch's OneCycleLR with cosine annealing).
    """

    epochs: int = 20
    batch_size: int = 50
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    schedule: str = "cosine"
    warmup: float = 0.3
    seed: int = 0
    augment: str = "none"  # ``AUGMENTATIONS``: the CIFAR-10 papers' random crop and flip, or none
    crop_padding: int = 4

    def __post_init__(self) -> None:
        if self.augment not in AUGMENTATIONS:
            raise ConfigError(f"unknown augmentation {self.augment!r} (known: {', '.join(AUGMENTATIONS)})")
        if self.crop_padding < 0:
            raise ConfigError(f"crop_padding must be ≥ 0, got {self.crop_padding}")
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0:
            raise ConfigError(f"training needs epochs ≥ 1, batch_size ≥ 1 and lr > 0, got {self}")
        if self.optimizer not in ("adam", "sgd"):
            raise ConfigError(f"unknown optimizer {self.optimizer!r} (known: adam, sgd)")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"unknown lr schedule {self.schedule!r} (known: {', '.join(SCHEDULES)})")
        if not 0.0 < self.warmup < 1.0:
            raise ConfigError(f"warmup must lie in (0, 1), got {self.warmup}")

    def to_dict(self) -> dict[str, Any]:
        """Every field (the augmentation's only where there is one: cards and checkpoints of runs without it keep
        what they were)."""
        out = asdict(self)
        if self.augment == "none":
            out.pop("augment")
            out.pop("crop_padding")
        return out


def crop_flip(x: torch.Tensor, padding: int, generator: torch.Generator,
              along: dict[str, torch.Tensor] | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Each image zero-padded by ``padding`` pixels, cropped back to its size at a random offset, and flipped
    left-right with probability 1/2 (the CIFAR-10 papers' augmentation); the draws come from ``generator``. Every
    tensor of ``along`` shaped like ``x`` (a defense's per-image maps, e.g. IR's targets) gets the same crop and
    flip; the others are returned as they are."""
    n, _, h, w = x.shape
    dy = torch.randint(0, 2 * padding + 1, (n,), generator=generator).to(x.device)
    dx = torch.randint(0, 2 * padding + 1, (n,), generator=generator).to(x.device)
    flip = (torch.rand(n, generator=generator) < 0.5).to(x.device)
    rows = (dy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]
    cols = dx[:, None] + torch.arange(w, device=x.device)
    cols = torch.where(flip[:, None], cols.flip(1), cols)[:, None, None, :]
    batch = torch.arange(n, device=x.device)[:, None, None, None]

    def apply(t: torch.Tensor) -> torch.Tensor:
        padded = torch.nn.functional.pad(t, (padding, padding, padding, padding))
        return padded[batch, torch.arange(t.shape[1], device=t.device)[None, :, None, None], rows, cols]

    return apply(x), {k: apply(v) if v.shape == x.shape else v for k, v in (along or {}).items()}


def lr_factor(cfg: TrainConfig, total: int) -> Callable[[int], float]:
    """The lr multiplier at each step for ``cfg.schedule`` over ``total`` steps."""
    if cfg.schedule == "constant":
        return lambda s: 1.0
    if cfg.schedule == "cosine":
        return lambda s: 0.5 * (1 + math.cos(math.pi * s / total))
    up = max(1, round(cfg.warmup * total))

    def onecycle(s: int) -> float:
        if s < up:
            return 1 / 25 + (1 - 1 / 25) * s / up
        t = min(1.0, (s - up) / max(1, total - up))
        return 1e-4 + (1 - 1e-4) * 0.5 * (1 + math.cos(math.pi * t))

    return onecycle


def _save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_checkpoint(path: Path, key: str) -> dict[str, Any] | None:
    """The checkpoint at ``path`` if it belongs to the run ``key`` (else None: a changed recipe starts afresh).

    Loaded with ``weights_only=True``: tensors, numbers, strings and containers, never pickled code.
    """
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a checkpoint cut short or not ours: say so, never train on it
        raise RibError(f"{path} is not a readable training checkpoint ({type(exc).__name__}); delete it to start "
                       f"this training afresh") from exc
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT or state.get("key") != key:
        return None
    return state


class _Feedback:
    """A bar (images/s, ETA) on a terminal; otherwise one line per finished epoch on stderr; nothing when off."""

    def __init__(self, on: bool, desc: str, total_images: int, done_images: int) -> None:
        self.on, self.desc, self.total = on, desc, total_images
        self.bar_mode = on and sys.stderr.isatty()
        self.bar = tqdm(total=total_images, initial=done_images, desc=desc, unit="img", unit_scale=True,
                        leave=False, disable=not self.bar_mode, dynamic_ncols=True)
        self.started, self.start_images = time.perf_counter(), done_images

    def batch(self, n: int, logs: dict[str, float]) -> None:
        self.bar.update(n)
        self.bar.set_postfix({k: f"{v:.3g}" for k, v in logs.items() if k in ("loss", "ce", "ce_adv", "acc_adv")},
                             refresh=False)

    def epoch(self, epoch: int, epochs: int, done_images: int, logs: dict[str, float]) -> None:
        if not self.on or self.bar_mode:
            return
        elapsed = time.perf_counter() - self.started
        rate = (done_images - self.start_images) / elapsed if elapsed > 0 else 0.0
        eta = (self.total - done_images) / rate if rate > 0 else 0.0
        shown = " ".join(f"{k} {v:.4g}" for k, v in logs.items() if k in ("loss", "ce", "ce_adv", "acc_adv", "eps"))
        print(f"{self.desc}: epoch {epoch}/{epochs} done, {rate:.0f} img/s, ETA {eta:.0f} s; {shown}",
              file=sys.stderr, flush=True)

    def close(self) -> None:
        self.bar.close()


@dataclass(frozen=True)
class Checkpoint:
    """Where a training run keeps its checkpoint (``path``) and what identifies the run (``key``): a checkpoint
    with another key belongs to another run and is not resumed."""

    path: Path
    key: str = ""


def fit(model: RobustModel, defense: Defense, x: torch.Tensor, y: torch.Tensor, cfg: TrainConfig,
        ctx: TrainContext, *, checkpoint: Checkpoint | None = None) -> dict[str, Any]:
    """Train ``model`` in place with ``defense``'s loss; returns wall time, epochs resumed and the last epoch's
    mean logs.

    Deterministic on the CPU for a given ``cfg.seed``: shuffling and every random start use seeded generators.
    With ``checkpoint``, the weights, optimizer, schedule, every RNG state and the logs are written to its path
    atomically after each epoch; a run whose checkpoint has its key resumes after its last finished epoch and
    ends with the weights an uninterrupted run would have (bit-identical on the CPU).
    """
    desc = ctx.desc
    checkpoint_key = checkpoint.key if checkpoint is not None else ""
    checkpoint_path = checkpoint.path if checkpoint is not None else None
    device = ctx.device
    model.to(device).train()
    aux = defense.prepare(model, x, y, ctx)
    if defense.extra_provenance:  # what prepare() resolved (IR's teacher weights) belongs to the run's identity
        checkpoint_key = hashlib.sha256(
            json.dumps([checkpoint_key, defense.extra_provenance], sort_keys=True, default=str).encode()).hexdigest()
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.optimizer == "adam":
        opt: torch.optim.Optimizer = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    else:
        opt = torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    steps_per_epoch = math.ceil(len(x) / cfg.batch_size)
    total = cfg.epochs * steps_per_epoch
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor(cfg, total))
    shuffle = torch.Generator().manual_seed(cfg.seed)
    augment = torch.Generator().manual_seed(cfg.seed + 1)
    first_epoch, step, elapsed_before = 0, 0, 0.0
    epoch_logs: dict[str, float] = {}
    state = load_checkpoint(checkpoint_path, checkpoint_key) if checkpoint_path is not None else None
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        shuffle.set_state(state["shuffle_rng"])
        if "augment_rng" in state:
            augment.set_state(state["augment_rng"])
        ctx.generator.set_state(state["attack_rng"])
        torch.set_rng_state(state["torch_rng"])
        first_epoch, step = int(state["epoch"]), int(state["step"])
        epoch_logs, elapsed_before = dict(state["epoch_logs"]), float(state["elapsed_s"])
    start = time.perf_counter()
    feedback = _Feedback(ctx.progress, desc, cfg.epochs * len(x), first_epoch * len(x))
    for epoch in range(first_epoch, cfg.epochs):
        perm = torch.randperm(len(x), generator=shuffle)
        sums: dict[str, float] = {}
        for (idx,) in batches(perm, batch_size=cfg.batch_size):
            xb, yb = x[idx].to(device), y[idx].to(device)
            aux_b = {k: v[idx].to(device) for k, v in aux.items()}
            if cfg.augment == "crop-flip":
                xb, aux_b = crop_flip(xb, cfg.crop_padding, augment, aux_b)
            loss, logs = defense.loss(model, xb, yb, aux_b, step / total, ctx.generator)
            if not torch.isfinite(loss):
                raise DivergedError(f"{desc}: the loss became {loss.item()} at step {step}; lower the lr or the "
                                    "penalty")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            logs["loss"] = loss.item()
            for k, v in logs.items():
                sums[k] = sums.get(k, 0.0) + v
            feedback.batch(len(idx), logs)
        epoch_logs = {k: v / steps_per_epoch for k, v in sums.items()}
        if checkpoint_path is not None:
            _save_checkpoint(checkpoint_path, {
                "format": CHECKPOINT_FORMAT, "key": checkpoint_key, "epoch": epoch + 1, "step": step,
                "model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                "shuffle_rng": shuffle.get_state(), "attack_rng": ctx.generator.get_state().cpu(),
                **({"augment_rng": augment.get_state()} if cfg.augment != "none" else {}),
                "torch_rng": torch.get_rng_state(), "epoch_logs": epoch_logs,
                "elapsed_s": elapsed_before + time.perf_counter() - start,
            })
        feedback.epoch(epoch + 1, cfg.epochs, (epoch + 1) * len(x), epoch_logs)
    feedback.close()
    model.eval()
    return {"wall_time_s": round(elapsed_before + time.perf_counter() - start, 1), "last_epoch": epoch_logs,
            "resumed_at_epoch": first_epoch}
