"""Train zoo models from their recipes: calibration of regularizer weights, training, cards and weights on disk."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import tomli_w
import tomllib
import torch

from rib.data import DATASETS, DEFAULT_TRAINING_DATASET, load_dataset
from rib.defenses import Defense, TrainContext, create_defense
from rib.defenses.ir import default_cache_dir
from rib.defenses.loop import Checkpoint, TrainConfig, fit
from rib.errors import ConfigError, DivergedError
from rib.evaluation import accuracy
from rib.files import atomic_write_text
from rib.models import RobustModel
from rib.runtime import provenance, resolve_device
from rib.zoo.cards import ModelCard, write_card
from rib.zoo.catalog import zoo_dir
from rib.zoo.factory import build_model, model_resolver
from rib.zoo.recipes import Recipe, get_recipe, recipes, training_order
from rib.zoo.weights import save_weights

CALIBRATION_RULE = "largest value whose validation accuracy is at least standard training's minus max_drop"


def checkpoint_dir() -> Path:
    """Where unfinished trainings keep their per-epoch checkpoints: ``$RIB_CACHE_DIR/checkpoints`` (default
    ``~/.cache/rib/checkpoints``), outside any work tree, keyed by everything that defines the run."""
    return default_cache_dir() / "checkpoints"


def run_key(recipe: Recipe, params: dict[str, Any], cfg: TrainConfig, split: str, x: torch.Tensor,
            y: torch.Tensor) -> str:
    """A digest of everything that defines one training run: recipe, defense parameters, optimization, data."""
    data = hashlib.sha256(x.numpy().tobytes() + y.numpy().tobytes()).hexdigest()
    spec = {"id": recipe.id, "dataset": recipe.dataset, "split": split, "arch": recipe.arch,
            "arch_kwargs": recipe.arch_kwargs, "defense": recipe.defense, "params": params, "cfg": cfg.to_dict(),
            "data": data, "torch": torch.__version__.split("+")[0]}
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()


@dataclass(frozen=True)
class TrainOptions:
    """How ``rib train`` trains, whatever the model: where cards go (``out_dir``, also searched first for a
    teacher or a calibration), the recipe's epochs and seed overridden when given, the device, whether an existing
    card is overwritten (``force``) or a recorded calibration rerun (``recalibrate``), and progress output."""

    out_dir: Path = Path("trained")
    epochs: int | None = None
    seed: int | None = None
    device: str = "auto"
    force: bool = False
    recalibrate: bool = False
    progress: bool = True


DEFAULT_TRAIN_OPTIONS = TrainOptions()


def _train_once(recipe: Recipe, params: dict[str, Any], cfg: TrainConfig, split: str, options: TrainOptions,
                desc: str) -> tuple[RobustModel, Defense, dict[str, Any]]:
    device = resolve_device(options.device)
    torch.manual_seed(cfg.seed)
    model = build_model(recipe.arch, recipe.dataset, recipe.arch_kwargs)
    defense = create_defense(recipe.defense, recipe.dataset, params)
    x, y = load_dataset(recipe.dataset, split)
    search_dirs = [Path(options.out_dir), zoo_dir()]
    ctx = TrainContext(recipe.dataset, device, torch.Generator(device=device).manual_seed(cfg.seed + 1),
                       resolve_model=model_resolver(recipe.card_dataset, search_dirs, device),
                       progress=options.progress, desc=desc)
    key = run_key(recipe, params, cfg, split, x, y)
    log = fit(model, defense, x, y, cfg, ctx, checkpoint=Checkpoint(checkpoint_dir() / f"{key[:32]}.pt", key))
    return model, defense, log


def calibration_path(folder: Path, dataset: str, model_id: str) -> Path:
    """Where a calibration record lives: ``<folder>/<dataset>/calibration/<id>.toml``."""
    return folder / dataset / "calibration" / f"{model_id}.toml"


def calibrate(model_id: str, dataset: str = DEFAULT_TRAINING_DATASET,
              options: TrainOptions = DEFAULT_TRAIN_OPTIONS) -> dict[str, Any]:
    """Sweep a recipe's regularizer weight on the fit/val split and pick the largest value within ``max_drop``.

    The reference is ``standard`` training with the same architecture, optimizer and epochs. The record is
    written to ``calibration_path(out_dir, ...)`` and returned.
    """
    recipe = get_recipe(model_id, dataset)
    spec = recipe.calibration
    if not spec:
        raise ConfigError(f"{dataset}/{recipe.id} has no calibration sweep in its recipe")
    dev = resolve_device(options.device)
    cfg = TrainConfig(**{**recipe.training, "epochs": int(spec["epochs"])})
    reference = replace(recipe, defense="standard")
    ref_model, _, _ = _train_once(reference, {}, cfg, "fit", options, f"{recipe.id} calib: standard")
    x_val, y_val = load_dataset(dataset, "val")
    ref_acc = accuracy(ref_model, x_val, y_val)
    accs: list[float] = []
    diverged: list[float] = []
    for value in spec["values"]:
        params = {**recipe.params, spec["param"]: value}
        try:
            model, _, _ = _train_once(recipe, params, cfg, "fit", options,
                                      f"{recipe.id} calib: {spec['param']}={value}")
        except DivergedError:  # a penalty too strong for the network: that value is out
            diverged.append(value)
            accs.append(0.0)
            continue
        accs.append(round(accuracy(model, x_val, y_val), 4))
    ok = [v for v, a in zip(spec["values"], accs, strict=True) if a >= ref_acc - spec["max_drop"]]
    chosen = max(ok) if ok else min(spec["values"])
    record = {
        "model": recipe.id,
        "dataset": dataset,
        "param": spec["param"],
        "values": list(spec["values"]),
        "val_accuracy": accs,
        "reference": "standard",
        "reference_val_accuracy": round(ref_acc, 4),
        "max_drop": spec["max_drop"],
        "rule": CALIBRATION_RULE if ok else "no value within max_drop: the smallest value of the sweep",
        "chosen": chosen,
        "epochs": cfg.epochs,
        "split": f"fit/val of the train split ({DATASETS.get(dataset).val_per_class} validation images per class)",
        **({"diverged": diverged} if diverged else {}),
        "seed": cfg.seed,
        **provenance(dev),
    }
    atomic_write_text(calibration_path(Path(options.out_dir), dataset, recipe.id), tomli_w.dumps(record))
    return record


def find_calibration(model_id: str, dataset: str, out_dir: Path) -> dict[str, Any] | None:
    """A calibration record for the model, from ``out_dir`` first, then the committed zoo."""
    for folder in (Path(out_dir), zoo_dir()):
        path = calibration_path(folder, dataset, model_id)
        if path.is_file():
            try:
                return tomllib.loads(path.read_text(encoding="utf-8"))
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(f"{path}: not valid TOML ({exc})") from exc
    return None


def train_model(model_id: str, dataset: str = DEFAULT_TRAINING_DATASET,
                options: TrainOptions = DEFAULT_TRAIN_OPTIONS) -> ModelCard:
    """Train one zoo model from its recipe on ``dataset``'s training split and write
    ``<out_dir>/<evaluation dataset>/<id>.toml`` and its safetensors (the recipe file's ``evaluate_on``, else
    ``dataset``).

    An existing card is never overwritten without ``force``. A recipe with a calibration sweep uses the
    recorded calibration (``out_dir`` first, then the committed zoo) or runs the sweep once.
    """
    dataset = DATASETS.canonical(dataset)
    recipe = get_recipe(model_id, dataset)
    out = Path(options.out_dir) / recipe.card_dataset
    card_path = out / f"{recipe.id}.toml"
    if card_path.exists() and not options.force:
        raise ConfigError(f"{card_path} exists; pass --force to overwrite it, or choose another --out")
    dev = resolve_device(options.device)
    params = dict(recipe.params)
    calibration = None
    if recipe.calibration:
        calibration = None if options.recalibrate else find_calibration(recipe.id, dataset, Path(options.out_dir))
        if calibration is None:
            calibration = calibrate(recipe.id, dataset, options)
        params[calibration["param"]] = calibration["chosen"]
    overrides = {k: v for k, v in (("epochs", options.epochs), ("seed", options.seed)) if v is not None}
    cfg = TrainConfig(**{**recipe.training, **overrides})
    model, defense, log = _train_once(recipe, params, cfg, "train", options, f"train {recipe.id}")
    x_tr, y_tr = load_dataset(dataset, "train")
    x_te, y_te = load_dataset(dataset, "test")
    norm, eps = defense.threat_model()
    out.mkdir(parents=True, exist_ok=True)
    weights_file = f"{recipe.id}.safetensors"
    sha = save_weights(model.weights_state(), out / weights_file)
    training = {**cfg.to_dict(), "train_split": "train", "checkpoint": "last epoch",
                "deviations": list(recipe.deviations)}
    if overrides:
        training["overrides"] = overrides
    extra = {k: v for k, v in defense.extra_provenance.items() if k != "teacher_threat_model"}
    card = ModelCard(
        id=recipe.id, dataset=recipe.card_dataset, trained_on=dataset, arch=recipe.arch,
        arch_kwargs=dict(recipe.arch_kwargs),
        defense=recipe.defense, defense_params=defense.params, trained_norm=norm, trained_eps=eps,
        mean=list(DATASETS.get(dataset).mean), std=list(DATASETS.get(dataset).std),
        description=recipe.description, paper=recipe.paper, training=training,
        weights_file=weights_file, weights_sha256=sha,
        provenance={
            **provenance(dev),
            "seed": cfg.seed,
            "epochs": cfg.epochs,
            "wall_time_s": log["wall_time_s"],
            **({"resumed_at_epoch": log["resumed_at_epoch"]} if log["resumed_at_epoch"] else {}),
            "train_accuracy": round(accuracy(model, x_tr, y_tr), 4),
            "test_accuracy": round(accuracy(model, x_te, y_te), 4),
            "test_split": f"{dataset} test",  # the training set's own test split, not where the card is evaluated
            "n_train": len(y_tr),
            "n_test": len(y_te),
            "last_epoch_logs": {k: round(v, 5) for k, v in log["last_epoch"].items()},
            **extra,
        },
        calibration=calibration,
    )
    write_card(card, card_path)
    return card


def training_plan(dataset: str, models: str | None = None) -> list[str]:
    """Recipe ids to train: comma-separated ``models`` (aliases resolved) or, when None, every recipe of
    ``dataset``; in dependency order when training them all (IR's teacher before IR)."""
    if models is None:
        return training_order(recipes(dataset).names(), dataset)
    return [get_recipe(m.strip(), dataset).id for m in models.split(",") if m.strip()]


def train_models(models: str | None, dataset: str = DEFAULT_TRAINING_DATASET,
                 options: TrainOptions = DEFAULT_TRAIN_OPTIONS, *, skip_finished: bool = False,
                 on_trained: Callable[[ModelCard], None] | None = None,
                 on_skipped: Callable[[str, Path], None] | None = None) -> list[ModelCard]:
    """Train ``models`` (comma-separated ids; None: every recipe of ``dataset``, in dependency order) one after
    the other with ``train_model``; ``on_trained`` sees each card as soon as it is written.

    With ``skip_finished`` (``rib train --all``), a model whose card is already in ``out_dir`` is skipped
    (``on_skipped`` sees its id and card) instead of refused, so a cut run continues where it stopped: the
    finished models are kept, the one that was cut resumes from its last checkpoint.
    """
    cards = []
    for model_id in training_plan(dataset, models):
        card_path = Path(options.out_dir) / get_recipe(model_id, dataset).card_dataset / f"{model_id}.toml"
        if skip_finished and not options.force and card_path.exists():
            if on_skipped:
                on_skipped(model_id, card_path)
            continue
        cards.append(train_model(model_id, dataset, options))
        if on_trained:
            on_trained(cards[-1])
    return cards
