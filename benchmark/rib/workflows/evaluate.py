"""``rib.evaluate``: any ``torch.nn.Module`` of [0, 1] pixels through the cells, cascade and checks of ``rib run``.

The module gets a card of its own (arch ``module``, weights sha256 = a hash of its state dict, no normalization:
the module takes pixels), cells are planned for that card by the runner's own planners (``plan_run``, or
``plan_grid`` with ``grid=``) and run by its local executor with the module in the model cache, so a cell's numbers
are those ``rib run`` stores for the same weights and settings. Nothing of the evaluation is re-implemented here.
The module is an outside model: its admission checks (``rib.admission``) run first and are stored with its cells.
"""

from __future__ import annotations

import hashlib
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import torch
from torch import nn

from rib.admission.gate import admit_cells
from rib.admission.record import record_key
from rib.cams import GradCamNet
from rib.data import DATASETS
from rib.engine import EpsSpec, RunOptions, Sampling, not_applicable_reason, plan_grid, plan_run, run_cells
from rib.errors import ConfigError, UnknownNameError
from rib.metric_cells import metric_names
from rib.models import RobustModel
from rib.runtime import resolve_device
from rib.store import ResultStore
from rib.zoo.cards import MODULE_ARCH, ModelCard, unknown_name_errors
from rib.zoo.catalog import ModelDirs
from rib.zoo.onnx_model import probe

DEFAULT_ATTACKS = "pgd-linf,pgd-l2"


def state_sha256(model: nn.Module) -> str:
    """A sha256 of a module's state dict: every tensor's name, dtype, shape and bytes, in key order."""
    digest = hashlib.sha256()
    for key, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{key}|{t.dtype}|{list(t.shape)}|".encode())
        digest.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()


def module_card(model: nn.Module, dataset: str, name: str | None = None, *, defense: str = "unknown",
                trained_on: str = "", paper: str = "", threat_model: tuple[str, float] | None = None) -> ModelCard:
    """The card of an ad-hoc module: id ``name`` (default ``module-<hash>``), weights sha256 of its state dict,
    identity normalization (the module takes [0, 1] pixels), and what the caller says of it: ``defense`` (a
    registered defense, or ``unknown`` / ``other``), ``trained_on`` (a registered dataset), ``paper`` and the
    ``threat_model`` (norm, eps) it was trained against; checked as a card's names are."""
    sha = state_sha256(model)
    channels = DATASETS.get(dataset).shape[0]
    norm, eps = threat_model or ("none", 0.0)
    if norm not in ("none", "linf", "l2"):
        raise ConfigError(f"threat_model norm {norm!r} is neither linf nor l2 (nor none)")
    unknown = unknown_name_errors({"arch": {"name": MODULE_ARCH}, "defense": {"name": defense}, "dataset": dataset,
                                   **({"trained_on": trained_on} if trained_on else {})})
    if unknown:
        raise UnknownNameError("; ".join(unknown))
    return ModelCard(id=name or f"module-{sha[:12]}", dataset=dataset, arch=MODULE_ARCH, defense=defense,
                     mean=[0.0] * channels, std=[1.0] * channels, weights_file="", weights_sha256=sha,
                     description=f"{type(model).__name__} given to rib.evaluate", paper=paper,
                     trained_on=DATASETS.canonical(trained_on) if trained_on else "", trained_norm=norm,
                     trained_eps=float(eps))


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
             metrics: str | Sequence[str] = (), n: int | None = None, eps: EpsSpec | None = None,
             results: Path | str | None = None, *, grid: str | None = None, name: str | None = None,
             cam_layer: str | None = None, seed: int = 0, batch_size: int = 500, device: str = "auto",
             force: bool = False, progress: bool | None = None, models_dir: ModelDirs = None,
             defense: str = "unknown", trained_on: str = "", paper: str = "",
             threat_model: tuple[str, float] | None = None) -> pd.DataFrame:
    """Evaluate a module of [0, 1] pixels as ``rib run`` evaluates a zoo model; one row per measured number.

    ``attacks`` (names, comma list or wildcards; default pgd-linf and pgd-l2) at ``eps`` (a mapping norm → eps
    list, e.g. ``{"linf": [0.3], "l2": [2.0]}``, or one list for every norm, checked against each norm's range;
    default: the dataset's eps of each attack's norm) on ``n`` test images (default: the dataset's n; rib's seeded
    random stratified sample), plus ``metrics`` on clean inputs
    and on each attack's inputs; or, with ``grid`` (a shipped name or a .toml path), that grid's cells for
    ``dataset``, cascade included. ``results`` stores the cells there (resumable; a stored cell is read back unless
    ``force``); without it they are computed in a temporary store. ``cam_layer`` names the module where Grad-CAM
    is taken when the module has no ``cam``; without either, CAM metrics and the top-k CAM attack are reported not
    applicable (column ``not_applicable``: the reason). The model is moved to ``device`` and put in eval mode.

    ``defense``, ``trained_on``, ``paper`` and ``threat_model`` go into the module's card and every stored row, so
    a board shows them. ``progress``: bars on stderr (default: when stderr is a terminal). To put the module on the
    board beside the zoo, give ``grid="default"``, a ``name`` and ``results="results"`` (the zoo's store), then
    run ``rib report``.

    Before any attack the admission checks run (``rib.admission``; their rows lead the frame): a refused module
    raises ``AdmissionError``, a marked one (randomized, unusable gradients, memorized test images) is evaluated
    with a ``RibWarning`` per failed check, never ranked or verified.
    """
    dataset = DATASETS.canonical(dataset)
    if grid is not None and (attacks is not None or metrics or n is not None or eps is not None):
        raise ConfigError("grid= sets the attacks, metrics, n and eps itself: give either grid or those")
    dev = resolve_device(device)
    progress = sys.stderr.isatty() if progress is None else progress
    robust = as_robust_model(model, dataset, cam_layer).to(dev).eval()
    card = module_card(model, dataset, name, defense=defense, trained_on=trained_on, paper=paper,
                       threat_model=threat_model)
    if grid is not None:
        cells = plan_grid(grid, dataset, cards=[card], models_dir=models_dir)
    else:
        names = attacks if isinstance(attacks, str) else ",".join(attacks or DEFAULT_ATTACKS.split(","))
        cells = plan_run([card], names, dataset, eps=eps, sampling=Sampling(n or DATASETS.get(dataset).n, seed,
                                                                             batch_size), models_dir=models_dir,
                         metrics=metric_names(list(metrics) if not isinstance(metrics, str) else metrics)
                         if metrics else ())
    cache = {f"{card.dataset}/{card.id}/{card.weights_sha256}": robust}
    with tempfile.TemporaryDirectory(prefix="rib-evaluate-") as tmp:
        store = ResultStore(results if results is not None else tmp)
        admitted = admit_cells(cells, store, device=str(dev), models_dir=models_dir, force=force,
                               cards={card.id: card}, model_cache=cache)  # refused: AdmissionError, nothing run
        options = RunOptions(device=str(dev), force=force, models_dir=models_dir, progress=progress)
        outcomes = admitted.skipped + run_cells(admitted.cells, store, options, card=card, model_cache=cache)
        admission = store.stored_rows(record_key(card)) or []
    frame = pd.DataFrame([*admission, *(row for outcome in outcomes for row in outcome.rows)])
    if not frame.empty:
        frame["not_applicable"] = [not_applicable_reason(r) for r in frame.to_dict("records")]
    return frame
