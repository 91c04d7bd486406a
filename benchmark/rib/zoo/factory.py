"""``create_model``: the one door to every rib model — find the card, build the architecture, load verified weights."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from rib.cams import GradCamNet
from rib.data import DATASETS, DEFAULT_DATASET
from rib.defenses import DEFENSES
from rib.errors import ConfigError, UnknownNameError
from rib.models import ModelResolver, RobustModel
from rib.registry import Registry
from rib.zoo.all_archs import ARCHS
from rib.zoo.boopathy_archs import ReleaseCamNet
from rib.zoo.cards import ONNX_ARCH, ModelCard, read_card
from rib.zoo.catalog import ModelDirs, list_cards, model_dirs
from rib.zoo.onnx_model import load_onnx_net
from rib.zoo.release_pickle import read_release_pickle
from rib.zoo.robustbench_models import robustbench_card, robustbench_model
from rib.zoo.weights import load_into, read_weights


def find_card(model_id: str, dataset: str = DEFAULT_DATASET, models_dir: ModelDirs = None) -> ModelCard:
    """The card of ``model_id`` (an id, a defense alias, or a path to a .toml card) on ``dataset``."""
    if model_id.endswith(".toml"):
        return read_card(Path(model_id))
    dataset = DATASETS.canonical(dataset)
    if model_id.startswith("robustbench:"):
        return robustbench_card(model_id, dataset)
    dirs = model_dirs(models_dir)
    for candidate in _candidate_ids(model_id):
        for folder in dirs:
            path = folder / dataset / f"{candidate}.toml"
            if path.is_file():
                card = read_card(path)
                if card.dataset != dataset:
                    raise ConfigError(f"{path}: card says dataset {card.dataset!r}, but it lies under {dataset}/")
                return card
    known: Registry[ModelCard] = Registry(f"{dataset} model")
    for card in list_cards(dataset, models_dir):
        known.register(card.id, card)
    try:
        return known.get(model_id)  # a card whose file name differs from its id
    except UnknownNameError as exc:
        searched = ", ".join(str(d) for d in dirs)
        raise UnknownNameError(f"{exc} — searched {searched}") from None


def _candidate_ids(model_id: str) -> list[str]:
    out = [model_id]
    if model_id in DEFENSES:
        canonical = DEFENSES.canonical(model_id)
        if canonical != model_id:
            out.append(canonical)
    return out


def build_model(arch: str, dataset: str, arch_kwargs: dict | None = None,
                mean: Sequence[float] | None = None, std: Sequence[float] | None = None) -> RobustModel:
    """A freshly initialized ``RobustModel`` of a registered architecture for ``dataset``'s input shape."""
    info = DATASETS.get(dataset)
    factory = ARCHS.get(arch)
    try:
        net = factory(in_channels=info.shape[0], num_classes=info.num_classes, **(arch_kwargs or {}))
    except TypeError as exc:
        raise ConfigError(f"architecture {arch!r} does not take these arguments: {exc}") from exc
    return RobustModel(net, mean if mean is not None else info.mean, std if std is not None else info.std)


def model_from_card(card: ModelCard, device: torch.device | str = "cpu") -> RobustModel:
    """Build the card's architecture and load its weights after checking their sha256."""
    if card.arch == "robustbench":
        return robustbench_model(card).to(device).eval()
    info = DATASETS.get(card.dataset)
    if len(card.mean) != info.shape[0]:
        raise ConfigError(
            f"card {card.id!r}: {len(card.mean)} normalization channels, {card.dataset} has {info.shape[0]}"
        )
    if card.arch == ONNX_ARCH:  # an outside architecture: the graph and its weights are the .onnx file
        net: nn.Module = load_onnx_net(card.weights_path, card.weights_sha256, card.dataset)
        model = RobustModel(GradCamNet(net, card.cam_layer) if card.cam_layer else net, card.mean, card.std)
    elif card.from_release:  # an authors' own network: their pickle, read without executing anything
        model = build_model(card.arch, card.dataset, card.arch_kwargs, card.mean, card.std)
        if not isinstance(model.net, ReleaseCamNet):
            raise ConfigError(f"card {card.id!r}: architecture {card.arch!r} cannot read a release's files")
        layers = read_release_pickle(card.weights_path, card.weights_sha256)
        load_into(model.net, model.net.load_release(layers, card.weights_file), f"weights of {card.id!r}")
    else:
        model = build_model(card.arch, card.dataset, card.arch_kwargs, card.mean, card.std)
        state = read_weights(card.weights_path, card.weights_sha256)
        load_into(model.net, state, f"weights of {card.id!r}")
    model.card = card
    return model.to(device).eval()


def parameter_count(model: nn.Module) -> int:
    """Every stored number of a model's network: its parameters and buffers (for an ONNX graph, every
    initializer), normalization left out."""
    net = model.net if isinstance(model, RobustModel) else model
    return sum(t.numel() for t in net.state_dict().values() if t.is_floating_point())


def cached_model(card: ModelCard, device: torch.device | str, cache: dict[str, RobustModel]) -> RobustModel:
    """``model_from_card`` through ``cache``, keyed by dataset, id and weights hash (one load per run)."""
    key = f"{card.dataset}/{card.id}/{card.weights_sha256}"
    if key not in cache:
        cache[key] = model_from_card(card, device)
    return cache[key]


def model_resolver(dataset: str, models_dir: ModelDirs = None, device: torch.device | str = "cpu",
                   cache: dict[str, RobustModel] | None = None) -> ModelResolver:
    """A ``ModelResolver`` for ``dataset``: zoo names (or aliases) → verified models on ``device``, each loaded once
    through ``cache`` (shared with the caller's own models when given)."""
    models = cache if cache is not None else {}

    def resolve(model_id: str) -> RobustModel:
        return cached_model(find_card(model_id, dataset, models_dir), device, models)

    return resolve


def create_model(model_id: str, dataset: str = DEFAULT_DATASET, *, models_dir: ModelDirs = None,
                 device: torch.device | str = "cpu") -> RobustModel:
    """The zoo model ``model_id`` on ``dataset``: an eval-mode ``nn.Module`` taking [0, 1] inputs, returning logits.

    Weights are verified against the card's sha256; ``model.card`` holds the card.
    """
    return model_from_card(find_card(model_id, dataset, models_dir), device)
