import hashlib
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from rib import DATASETS, load_dataset
from rib.errors import ConfigError, DatasetError, UnknownNameError

MNIST5K_SHA256 = "07299714c7c5d8d44ded19b545f9b6e308977617b378695b43e0d9006c3e31a9"


def test_mnist5k_split_is_pinned() -> None:
    digest = hashlib.sha256()
    for split in ("train", "test"):
        x, y = load_dataset("mnist-5k", split)
        digest.update(x.numpy().tobytes())
        digest.update(y.numpy().tobytes())
    assert digest.hexdigest() == MNIST5K_SHA256


@pytest.mark.parametrize(("split", "n", "per_class"), [("train", 4000, 400), ("test", 1000, 100),
                                                       ("fit", 3500, 350), ("val", 500, 50)])
def test_mnist5k_contract(split: str, n: int, per_class: int) -> None:
    x, y = load_dataset("mnist-5k", split)
    assert x.shape == (n, 1, 28, 28) and x.dtype == torch.float32
    assert y.shape == (n,) and y.dtype == torch.int64
    assert x.min().item() >= 0.0 and x.max().item() <= 1.0
    assert torch.bincount(y, minlength=10).tolist() == [per_class] * 10


def test_splits_are_disjoint() -> None:
    def keys(split: str) -> set[bytes]:
        return {row.numpy().tobytes() for row in load_dataset("mnist-5k", split)[0]}

    train, test, fit, val = keys("train"), keys("test"), keys("fit"), keys("val")
    assert not train & test
    assert not fit & val and fit | val == train


def test_unknown_dataset_and_split() -> None:
    with pytest.raises(UnknownNameError, match="did you mean 'mnist-5k'"):
        load_dataset("mnist5k")
    with pytest.raises(ConfigError, match="unknown split"):
        load_dataset("mnist-5k", "validation")


def _write_idx(path: Path, array: np.ndarray) -> None:
    magic = 0x0800 | array.ndim  # unsigned byte data
    path.write_bytes(struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes())


def test_mnist_loader_reads_torchvision_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RIB_DATA_DIR", str(tmp_path))
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 12), ("t10k", 7)):
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", (np.arange(n) % 10).astype(np.uint8))
    x, y = load_dataset("mnist", "test")
    assert x.shape == (7, 1, 28, 28) and x.dtype == torch.float32 and float(x.max()) <= 1.0
    assert y.tolist() == [0, 1, 2, 3, 4, 5, 6]
    assert load_dataset("mnist", "train")[0].shape == (12, 1, 28, 28)


def _refuse_download(*args: object, **kwargs: object) -> None:
    raise OSError("network unreachable (test)")


def test_missing_files_and_failed_download_give_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torchvision.datasets.cifar as tv_cifar
    import torchvision.datasets.mnist as tv_mnist
    import torchvision.datasets.utils as tv_utils

    monkeypatch.setenv("RIB_DATA_DIR", str(tmp_path / "empty"))
    for module in (tv_mnist, tv_cifar, tv_utils):  # every name a download could go through
        for name in ("download_and_extract_archive", "download_url"):
            if hasattr(module, name):
                monkeypatch.setattr(module, name, _refuse_download)
    for name in ("mnist", "cifar10"):
        with pytest.raises(DatasetError) as info:
            load_dataset(name, "test")
        message = str(info.value)
        assert "network unreachable (test)" in message
        assert str(tmp_path / "empty") in message and "mnist-5k" in message and "\n" not in message


def _write_cifar(folder: Path, rng: np.random.Generator) -> None:
    folder.mkdir(parents=True)
    for name, n in [(f"data_batch_{i}", 3) for i in range(1, 6)] + [("test_batch", 4)]:
        batch = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), b"labels": list(range(n))}
        with (folder / name).open("wb") as fh:
            pickle.dump(batch, fh)


def test_cifar10_loader_reads_torchvision_layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RIB_DATA_DIR", str(tmp_path))
    _write_cifar(tmp_path / "cifar-10-batches-py", np.random.default_rng(0))
    x, y = load_dataset("cifar10", "train")
    assert x.shape == (15, 3, 32, 32) and x.dtype == torch.float32
    assert y.tolist() == [0, 1, 2] * 5
    x_te, _ = load_dataset("cifar10", "test")
    assert x_te.shape == (4, 3, 32, 32) and float(x_te.min()) >= 0.0 and float(x_te.max()) <= 1.0


class _Boom:
    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (Path("/tmp/rib-pwned").touch, ())


def test_cifar10_loader_never_executes_pickled_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RIB_DATA_DIR", str(tmp_path))
    folder = tmp_path / "cifar-10-batches-py"
    _write_cifar(folder, np.random.default_rng(0))
    with (folder / "test_batch").open("wb") as fh:
        pickle.dump({b"data": _Boom(), b"labels": [0]}, fh)
    Path("/tmp/rib-pwned").unlink(missing_ok=True)
    with pytest.raises(DatasetError, match="refusing to load"):
        load_dataset("cifar10", "test")
    assert not Path("/tmp/rib-pwned").exists()


def test_dataset_registry_lists_all() -> None:
    assert DATASETS.names() == ["cifar10", "mnist", "mnist-5k"]
    assert DATASETS.get("mnist-5k").offline
