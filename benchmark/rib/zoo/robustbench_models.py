"""RobustBench's model zoo as rib models: ``--model robustbench:Carmon2019Unlabeled``.

The checkpoint is fetched (when missing) and loaded by ``robustbench.utils.load_model`` into
``$RIB_ROBUSTBENCH_DIR`` (default ``~/.cache/rib/robustbench``), in RobustBench's own layout
``<dir>/<dataset>/<threat model>/<name>.pt``. RobustBench loads its checkpoints with ``torch.load``: choosing a
RobustBench model is choosing to trust RobustBench as a source. rib records the checkpoint's sha256 in the
model's card, so every result row names the exact file it measured.
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path
from typing import Any

from rib.errors import ConfigError, UnknownNameError
from rib.files import sha256_file
from rib.models import RobustModel
from rib.zoo.cards import ModelCard

PREFIX = "robustbench:"
ARCH = "robustbench"
DATASETS = {"cifar10": "cifar10"}
THREAT_MODELS = {"Linf": "linf", "L2": "l2"}
EPS = {"Linf": 8 / 255, "L2": 0.5}


def model_dir() -> Path:
    return Path(os.environ.get("RIB_ROBUSTBENCH_DIR", Path.home() / ".cache" / "rib" / "robustbench"))


def _robustbench() -> Any:
    """Import robustbench; its ``eval`` module imports AutoAttack as ``autoattack``, which PyPI ships as
    ``pyautoattack``, so the one is made an alias of the other first."""
    try:
        import pyautoattack

        sys.modules.setdefault("autoattack", pyautoattack)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import robustbench.utils
            from robustbench.model_zoo import model_dicts
    except ImportError as exc:
        raise ConfigError(f"RobustBench models need robustbench: pip install 'rib[robustbench]' ({exc})") from exc
    return robustbench.utils, model_dicts


def _locate(name: str, dataset: str) -> str:
    """The threat model (``Linf`` or ``L2``) under which RobustBench lists ``name`` for ``dataset``."""
    _, model_dicts = _robustbench()
    from robustbench.model_zoo.enums import BenchmarkDataset, ThreatModel

    if dataset not in DATASETS:
        raise ConfigError(f"RobustBench models are available here for {', '.join(DATASETS)}, not {dataset!r}")
    zoo = model_dicts[BenchmarkDataset(DATASETS[dataset])]
    for tm in THREAT_MODELS:
        if name in zoo.get(ThreatModel(tm), {}):
            return tm
    import difflib

    known = sorted({n for tm in THREAT_MODELS for n in zoo.get(ThreatModel(tm), {})})
    close = difflib.get_close_matches(name, known, n=2, cutoff=0.6)
    hint = f"; did you mean {' or '.join(repr(PREFIX + c) for c in close)}?" if close else ""
    raise UnknownNameError(f"RobustBench has no {dataset} model {name!r}{hint}")


def _load(name: str, dataset: str, threat: str) -> Any:
    utils, _ = _robustbench()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return utils.load_model(name, model_dir=str(model_dir()), dataset=DATASETS[dataset], threat_model=threat)


def robustbench_card(spec: str, dataset: str) -> ModelCard:
    """A card for ``robustbench:NAME`` (loading the checkpoint once, downloading it if missing, to hash it)."""
    name = spec[len(PREFIX):]
    threat = _locate(name, dataset)
    path = model_dir() / DATASETS[dataset] / threat / f"{name}.pt"
    if not path.is_file():
        _load(name, dataset, threat)  # RobustBench downloads it
    return ModelCard(id=spec, dataset=dataset, arch=ARCH, defense="robustbench", mean=[0.0, 0.0, 0.0],
                     std=[1.0, 1.0, 1.0], weights_file=path.name, weights_sha256=sha256_file(path),
                     arch_kwargs={"name": name, "threat_model": threat}, trained_norm=THREAT_MODELS[threat],
                     trained_eps=EPS[threat], description=f"RobustBench model {name} ({dataset}, {threat})",
                     paper="https://robustbench.github.io", path=path.with_suffix(".toml"))


def robustbench_model(card: ModelCard) -> RobustModel:
    """The RobustBench network behind ``card`` (it normalizes inside, so rib's normalization is the identity)."""
    path = model_dir() / DATASETS[card.dataset] / card.arch_kwargs["threat_model"] / f"{card.arch_kwargs['name']}.pt"
    if sha256_file(path) != card.weights_sha256:
        raise ConfigError(f"{path} changed since {card.id} was planned")
    net = _load(card.arch_kwargs["name"], card.dataset, card.arch_kwargs["threat_model"])
    model = RobustModel(net, card.mean, card.std)
    model.card = card
    return model.eval()
