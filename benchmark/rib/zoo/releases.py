"""Authors' releases of trained networks: where their files come from, how they are checked, and their cards.

A release is a data file ``rib/zoo/releases/<name>.toml``: the paper, the authors' repository and commit, the
license, the download URL of each file, the folder under ``$RIB_DATA_DIR`` it is kept in, and the sha256 of every
file. A card points at one file with ``weights = { file = …, sha256 = …, release = "<name>" }``; rib reads it from
``$RIB_DATA_DIR/<folder>/``, downloads it there from the authors' repository when it is missing and the machine is
online, and checks its sha256 before reading anything.
"""

from __future__ import annotations

import functools
import os
import re
import tempfile
import urllib.request
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import tomllib

from rib.data import data_dir, offline
from rib.errors import ConfigError, UnknownNameError, WeightsError
from rib.files import sha256_file

DOWNLOAD_TIMEOUT_S = 60
_FILE_NAME = re.compile(r"(?P<dataset>[a-z0-9]+)_(?P<arch>[a-z0-9]+)_(?P<training>[a-z0-9]+)_(?P<epochs>\d+)\.pkl")


@dataclass(frozen=True)
class Release:
    """One authors' release (``rib/zoo/releases/<name>.toml``)."""

    name: str
    paper: str
    authors: tuple[str, ...]
    repository: str
    commit: str
    license: str
    url: str
    folder: str
    archs: dict[str, str] = field(hash=False)
    datasets: dict[str, str] = field(hash=False)
    trainings: dict[str, dict[str, Any]] = field(hash=False)
    settings: dict[str, dict[str, Any]] = field(hash=False)
    networks: dict[str, str] = field(hash=False)

    def local_path(self, file: str) -> Path:
        """Where ``file`` of this release is kept: ``$RIB_DATA_DIR/<folder>/<file>``."""
        return data_dir() / self.folder / file

    def source_url(self, file: str) -> str:
        """The file's address in the authors' repository, at the release's commit."""
        return self.url.format(file=file)


def release_names() -> list[str]:
    """Every release rib ships a data file for."""
    folder = resources.files("rib").joinpath("zoo", "releases")
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))


@functools.cache
def get_release(name: str) -> Release:
    """The release ``name``; an ``UnknownNameError`` naming the known ones otherwise."""
    if name not in release_names():
        raise UnknownNameError(f"unknown release {name!r} (known: {', '.join(release_names())})")
    text = resources.files("rib").joinpath("zoo", "releases", f"{name}.toml").read_text(encoding="utf-8")
    d = tomllib.loads(text)
    return Release(d["name"], d["paper"], tuple(d["authors"]), d["repository"], d["commit"], d["license"], d["url"],
                   d["folder"], dict(d["archs"]), dict(d["datasets"]), dict(d["trainings"]), dict(d["settings"]),
                   dict(d["networks"]))


def release_file(release: str, file: str, sha256: str) -> Path:
    """The local path of ``file`` of ``release``, downloaded from the authors' repository when missing (never with
    ``RIB_OFFLINE`` set) and checked against ``sha256``; one ``WeightsError`` line on any failure."""
    rel = get_release(release)
    if Path(file).name != file:
        raise ConfigError(f"release file {file!r} must be a bare file name")
    path = rel.local_path(file)
    if path.is_file():
        return path
    if offline():
        raise WeightsError(f"{file} of release {release} is not in {path.parent} and RIB_OFFLINE is set, so nothing "
                           f"is downloaded; set RIB_DATA_DIR to a folder whose {rel.folder}/ holds it")
    _download(rel.source_url(file), path, sha256)
    return path


def _download(url: str, path: Path, sha256: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
            while chunk := response.read(1 << 20):
                out.write(chunk)
        actual = sha256_file(tmp)
        if actual != sha256.lower():
            raise WeightsError(f"{url} downloaded with sha256 {actual}, expected {sha256}: not kept")
        os.replace(tmp, path)
    except WeightsError:
        raise
    except Exception as exc:  # network errors come in many types
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise WeightsError(f"could not download {url} ({reason}); set RIB_DATA_DIR to a folder whose "
                           f"{path.parent.name}/ holds {path.name}") from None
    finally:
        tmp.unlink(missing_ok=True)


def _file_parts(file: str) -> re.Match[str]:
    """The parts of a release file's name: dataset, arch, training, epochs."""
    parts = _FILE_NAME.fullmatch(file)
    if parts is None:
        raise ConfigError(f"{file}: not a file name of the form <dataset>_<arch>_<training>_<epochs>.pkl")
    return parts


def card_id(release: str, file: str) -> str:
    """The zoo id of a release file: ``<author>-<arch>-<training>`` (e.g. ``boopathy-pool-int2``)."""
    parts = _file_parts(file)
    author = re.sub(r"\d+$", "", release)
    return f"{author}-{parts['arch']}-{parts['training']}"


def release_card_data(release: str, file: str) -> dict[str, Any]:
    """The card (as TOML-ready dicts) of one file of ``release``: architecture, the authors' training, the threat
    model it was trained against, the file with its sha256, and the provenance (repository, commit, license)."""
    rel = get_release(release)
    if file not in rel.networks:
        raise UnknownNameError(f"{file} is not a file of release {release} (it has {len(rel.networks)} files)")
    parts = _file_parts(file)
    dataset = rel.datasets[parts["dataset"]]
    training = rel.trainings[parts["training"]]
    settings = rel.settings[dataset]
    standard = training["defense"] == "standard"
    threat = {"norm": "none", "eps": 0.0} if standard else dict(settings["threat_model"])
    channels = 1 if dataset == "mnist" else 3
    return {
        "id": card_id(release, file), "dataset": dataset,
        "description": f"The authors' {parts['arch']} network, {training['description']}, trained by the authors "
                       f"({int(parts['epochs'])} epochs); released with the paper.",
        "paper": rel.paper, "authors": list(rel.authors),
        "arch": {"name": rel.archs[parts["arch"]], "kwargs": {}},
        "normalization": {"mean": [0.0] * channels, "std": [1.0] * channels},
        "defense": {"name": training["defense"], "params": {"release_training": parts["training"]}},
        "threat_model": threat,
        "training": {**settings["training"], "epochs": int(parts["epochs"]), "trained_by": "the authors",
                     "release_training": parts["training"],
                     "deviations": ["none: the authors' own weights, ported from TensorFlow (NHWC, SAME padding) to "
                                    "torch with the same arithmetic (rib.zoo.boopathy_archs)"]},
        "weights": {"file": file, "sha256": rel.networks[file], "release": release},
        "provenance": {"source": "authors' release", "release": release, "repository": rel.repository,
                       "commit": rel.commit, "file": f"networks/{file}", "url": rel.source_url(file),
                       "license": rel.license},
    }


def release_files(release: str, dataset: str | None = None, trainings: list[str] | None = None) -> list[str]:
    """The files of ``release`` (optionally only one rib dataset's, only some trainings), sorted."""
    rel = get_release(release)
    out = []
    for file in sorted(rel.networks):
        parts = _FILE_NAME.fullmatch(file)
        if parts is None or parts["dataset"] not in rel.datasets:
            continue
        if dataset is not None and rel.datasets[parts["dataset"]] != dataset:
            continue
        if trainings is not None and parts["training"] not in trainings:
            continue
        out.append(file)
    return out


def write_release_cards(release: str, out_dir: Path, *, dataset: str | None = None,
                        trainings: list[str] | None = None, force: bool = False, measure: bool = True) -> list[Path]:
    """Write a card per file of ``release`` (optionally one dataset's, some trainings') under
    ``out_dir/<dataset>/<id>.toml``, each with its clean accuracy on the whole test split when ``measure``
    (``test_accuracy_of``); a card already there is kept unless ``force``. Returns the cards written."""
    import tomli_w

    from rib.files import atomic_write_text

    written = []
    for file in release_files(release, dataset, trainings):
        data = release_card_data(release, file)
        path = Path(out_dir) / data["dataset"] / f"{data['id']}.toml"
        if path.exists() and not force:
            continue
        if measure:
            data["provenance"].update(test_accuracy_of(data))
        atomic_write_text(path, tomli_w.dumps(data))
        written.append(path)
    return written


def test_accuracy_of(card_data: dict[str, Any]) -> dict[str, Any]:
    """The clean accuracy of a release card's network on every image of its dataset's test split, measured by rib
    (``test_accuracy``, ``n_test``, ``test_split``): the number ``rib ls models``, the board and the README give."""
    from rib.data import load_dataset
    from rib.evaluation import predict
    from rib.zoo.cards import ModelCard
    from rib.zoo.factory import model_from_card

    model = model_from_card(ModelCard.from_dict(card_data))
    x, y = load_dataset(card_data["dataset"], "test")
    correct = int((predict(model, x, 1000) == y).sum())
    return {"test_accuracy": round(correct / len(y), 4), "n_test": len(y),
            "test_split": f"{card_data['dataset']} test"}
