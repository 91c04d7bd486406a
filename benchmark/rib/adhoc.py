"""``rib.evaluate``: any ``torch.nn.Module`` of [0, 1] pixels through the cells, cascade and checks of ``rib run``.

The module gets a card of its own (arch ``module``, weights sha256 = a hash of its state dict, no normalization:
the module takes pixels), cells are planned for that card by the runner's own planners (``plan_run``, or
``plan_grid`` with ``grid=``) and run by its local executor with the module in the model cache, so a cell's numbers
are those ``rib run`` stores for the same weights and settings. Nothing of the evaluation is re-implemented here.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import torch
from torch import nn

from rib.data import DATASETS
from rib.errors import ConfigError
from rib.explain.gradcam import GradCamNet
from rib.metric_cells import metric_names
from rib.runner import not_applicable_reason, plan_grid, plan_run, run_cells
from rib.runtime import resolve_device
from rib.store import ResultStore
from rib.zoo.cards import MODULE_ARCH, ModelCard
from rib.zoo.factory import ModelDirs
from rib.zoo.onnx_model import probe
from rib.zoo.robust_model import RobustModel

DEFAULT_ATTACKS = "pgd-linf,pgd-l2"


def state_sha256(model: nn.Module) -> str:
    """A sha256 of a module's state dict: every tensor's name, dtype, shape and bytes, in key order."""
    digest = hashlib.sha256()
    for key, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{key}|{t.dtype}|{list(t.shape)}|".encode())
        digest.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()


def module_card(model: nn.Module, dataset: str, name: str | None = None) -> ModelCard:
    """The card of an ad-hoc module: id ``name`` (default ``module-<hash>``), weights sha256 of its state dict,
    identity normalization (the module takes [0, 1] pixels)."""
    sha = state_sha256(model)
    channels = DATASETS.get(dataset).shape[0]
    return ModelCard(id=name or f"module-{sha[:12]}", dataset=dataset, arch=MODULE_ARCH, defense="unknown",
                     mean=[0.0] * channels, std=[1.0] * channels, weights_file="", weights_sha256=sha,
                     description=f"{type(model).__name__} given to rib.evaluate")


def as_robust_model(model: nn.Module, dataset: str, cam_layer: str | None = None) -> RobustModel:
    """``model`` as rib's models are: a ``RobustModel`` (a CAM where the module has one, Grad-CAM at
    ``cam_layer`` when named), checked once on a probe batch (one finite ``[N, classes]`` output with an input
    gradient)."""
    if isinstance(model, RobustModel):
        if cam_layer:
            raise ConfigError("cam_layer goes with a plain module; a RobustModel brings its own CAM")
        wrapped = model
    else:
        channels = DATASETS.get(dataset).shape[0]
        net = GradCamNet(model, cam_layer) if cam_layer else model
        wrapped = RobustModel(net, [0.0] * channels, [1.0] * channels)
    probe(wrapped.eval(), dataset, type(model).__name__)
    return wrapped


def evaluate(model: nn.Module, dataset: str = "mnist", attacks: str | Sequence[str] | None = None,
             metrics: str | Sequence[str] = (), n: int | None = None, eps: Sequence[float] | None = None,
             results: Path | str | None = None, *, grid: str | None = None, name: str | None = None,
             cam_layer: str | None = None, seed: int = 0, batch_size: int = 500, device: str = "auto",
             force: bool = False, progress: bool = False, models_dir: ModelDirs = None) -> pd.DataFrame:
    """Evaluate a module of [0, 1] pixels as ``rib run`` evaluates a zoo model; one row per measured number.

    ``attacks`` (names, comma list or wildcards; default pgd-linf and pgd-l2) at ``eps`` (default: the dataset's
    eps of each attack's norm) on ``n`` test images (default: the dataset's n), plus ``metrics`` on clean inputs
    and on each attack's inputs; or, with ``grid`` (a shipped name or a .toml path), that grid's cells for
    ``dataset``, cascade included. ``results`` stores the cells there (resumable; a stored cell is read back unless
    ``force``); without it they are computed in a temporary store. ``cam_layer`` names the module where Grad-CAM
    is taken when the module has no ``cam``; without either, CAM metrics and the top-k CAM attack are reported not
    applicable (column ``not_applicable``: the reason). The model is moved to ``device`` and put in eval mode.
    """
    dataset = DATASETS.canonical(dataset)
    if grid is not None and (attacks is not None or metrics or n is not None or eps is not None):
        raise ConfigError("grid= sets the attacks, metrics, n and eps itself: give either grid or those")
    dev = resolve_device(device)
    robust = as_robust_model(model, dataset, cam_layer).to(dev).eval()
    card = module_card(model, dataset, name)
    if grid is not None:
        cells = plan_grid(grid, dataset, cards=[card], models_dir=models_dir)
    else:
        names = attacks if isinstance(attacks, str) else ",".join(attacks or DEFAULT_ATTACKS.split(","))
        cells = plan_run(card.id, names, dataset, eps=eps, n=n or DATASETS.get(dataset).n, seed=seed,
                         batch_size=batch_size, models_dir=models_dir, cards=[card],
                         metrics=metric_names(list(metrics) if not isinstance(metrics, str) else metrics)
                         if metrics else ())
    cache = {f"{card.dataset}/{card.id}/{card.weights_sha256}": robust}
    with tempfile.TemporaryDirectory(prefix="rib-evaluate-") as tmp:
        store = ResultStore(results if results is not None else tmp)
        outcomes = run_cells(cells, store, device=str(dev), force=force, models_dir=models_dir, progress=progress,
                             card=card, model_cache=cache)
    frame = pd.DataFrame([row for outcome in outcomes for row in outcome.rows])
    if not frame.empty:
        frame["not_applicable"] = [not_applicable_reason(r) for r in frame.to_dict("records")]
    return frame
