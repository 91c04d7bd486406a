import dataclasses
import hashlib
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from rib import DATASETS, load_dataset
from rib.data import dataset_eps, headline_eps
from rib.errors import ConfigError, DatasetError, UnknownNameError

from tests.helpers import write_cifar_folder

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


def _fake_mnist(folder: Path, monkeypatch: pytest.MonkeyPatch, n_train: int = 12, n_test: int = 7) -> None:
    """Write small IDX files into ``folder`` and make their MD5s the published ones for this test."""
    import rib.data as data

    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    md5 = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        for kind, array in (("images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)),
                            ("labels-idx1-ubyte", (np.arange(n) % 10).astype(np.uint8))):
            _write_idx(folder / f"{prefix}-{kind}", array)
            md5[f"{prefix}-{kind}"] = hashlib.md5((folder / f"{prefix}-{kind}").read_bytes()).hexdigest()
    monkeypatch.setattr(data, "MNIST_MD5", md5)
    monkeypatch.setattr(data, "_MNIST_SIZE", {"train": n_train, "test": n_test})
    data._mnist_arrays.cache_clear()


@pytest.mark.parametrize("layout", ["mnist", "MNIST/raw"])
def test_mnist_loader_reads_both_layouts(layout: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RIB_DATA_DIR", str(tmp_path))
    _fake_mnist(tmp_path / layout, monkeypatch)
    x, y = load_dataset("mnist", "train")
    assert x.shape == (12, 1, 28, 28) and x.dtype == torch.float32 and float(x.max()) <= 1.0
    assert y.tolist() == [i % 10 for i in range(12)]
    assert load_dataset("mnist", "test")[0].shape == (7, 1, 28, 28)


def test_the_official_mnist_splits_from_the_data_folder() -> None:
    x, y = load_dataset("mnist", "test")
    assert x.shape == (10000, 1, 28, 28) and x.dtype == torch.float32
    assert float(x.min()) == 0.0 and float(x.max()) == 1.0
    assert y[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]  # the published order
    assert y.bincount().tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    x_tr, y_tr = load_dataset("mnist", "train")
    assert x_tr.shape == (60000, 1, 28, 28) and y_tr[:5].tolist() == [5, 0, 4, 1, 9]
    assert y_tr.bincount().tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    _, y_fit = load_dataset("mnist", "fit")
    _, y_val = load_dataset("mnist", "val")
    assert (len(y_fit), len(y_val)) == (55000, 5000) and y_val.bincount().tolist() == [500] * 10
    # none of mnist-5k's images (MNIST training images) is among the official test images; all are training images
    official = {row.numpy().tobytes() for row in x}
    train = {row.numpy().tobytes() for row in x_tr}
    sample = [row.numpy().tobytes() for split in ("train", "test") for row in load_dataset("mnist-5k", split)[0]]
    assert not any(key in official for key in sample)
    assert sum(key in train for key in sample) == len(sample)


def test_a_damaged_mnist_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RIB_DATA_DIR", str(tmp_path))
    _fake_mnist(tmp_path / "mnist", monkeypatch)
    labels = tmp_path / "mnist" / "t10k-labels-idx1-ubyte"
    labels.write_bytes(labels.read_bytes()[:-1] + b"\x09")
    with pytest.raises(DatasetError, match=r"t10k-labels-idx1-ubyte has content MD5 [0-9a-f]{32}, the published "
                                           r"one is [0-9a-f]{32}") as info:
        load_dataset("mnist", "test")
    assert "\n" not in str(info.value)


def test_offline_without_the_files_fails_in_one_line_naming_folder_and_variable(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import rib.data as data

    monkeypatch.setenv("RIB_DATA_DIR", str(tmp_path / "empty"))
    data._mnist_arrays.cache_clear()
    with pytest.raises(DatasetError) as info:
        load_dataset("mnist", "test")
    message = str(info.value)
    assert str(tmp_path / "empty" / "mnist") in message and "RIB_DATA_DIR" in message and "RIB_OFFLINE" in message
    assert "\n" not in message and not (tmp_path / "empty").exists()  # nothing was downloaded or written


def _refuse_download(*args: object, **kwargs: object) -> None:
    raise OSError("network unreachable (test)")


def test_missing_files_and_failed_download_give_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import rib.data as data
    import torchvision.datasets.cifar as tv_cifar
    import torchvision.datasets.mnist as tv_mnist
    import torchvision.datasets.utils as tv_utils

    monkeypatch.setenv("RIB_DATA_DIR", str(tmp_path / "empty"))
    monkeypatch.delenv("RIB_OFFLINE")  # online, but every download fails
    data._mnist_arrays.cache_clear()
    for module in (tv_mnist, tv_cifar, tv_utils):  # every name a download could go through
        for name in ("download_and_extract_archive", "download_url"):
            if hasattr(module, name):
                monkeypatch.setattr(module, name, _refuse_download)
    for name, split in (("mnist", "train"), ("cifar10", "test")):
        with pytest.raises(DatasetError) as info:
            load_dataset(name, split)
        message = str(info.value)
        assert "network unreachable (test)" in message
        assert str(tmp_path / "empty") in message and "mnist-5k" in message and "\n" not in message


def _write_cifar(folder: Path, rng: np.random.Generator) -> None:
    write_cifar_folder(folder, per_batch=3, n_test=4, labels=lambda n: list(range(n)), seed=0)


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
    assert DATASETS.names() == ["cifar10", "fashion-mnist", "mnist", "mnist-5k"]
    assert DATASETS.get("mnist-5k").offline


@pytest.mark.parametrize("name", ["mnist-5k", "mnist", "fashion-mnist", "cifar10"])
def test_registered_datasets_carry_their_facts(name: str) -> None:
    info = DATASETS.get(name)
    assert info.family in DATASETS  # the dataset whose defense settings it falls back on
    assert info.n > 0 and len(info.mean) == len(info.std) == info.shape[0]
    for norm in ("linf", "l2"):
        eps = dataset_eps(name, norm)
        assert eps and eps == sorted(eps) and all(e > 0 for e in eps)
        assert headline_eps(name, norm) in eps
    with pytest.raises(ConfigError, match="no linf2 eps"):
        dataset_eps(name, "linf2")


def test_dataset_facts_are_the_published_settings() -> None:
    mnist5k, mnist, cifar = DATASETS.get("mnist-5k"), DATASETS.get("mnist"), DATASETS.get("cifar10")
    assert (mnist5k.family, mnist.family, cifar.family) == ("mnist", "mnist", "cifar10")
    assert dataset_eps("mnist-5k", "linf") == [0.1, 0.2, 0.3, 0.4]
    assert dataset_eps("mnist", "l2") == [1.0, 1.5, 2.0, 2.5, 3.5]
    assert (mnist5k.headline, mnist5k.n, mnist.n) == ({"linf": 0.3, "l2": 2.0}, 1000, 1000)
    assert (mnist5k.val_per_class, mnist.val_per_class) == (50, 500)
    assert not mnist.offline and mnist5k.test_drawn_from == "mnist" and not mnist.test_drawn_from
    assert dataset_eps("cifar10", "linf") == [e / 255 for e in (2, 4, 6, 8, 9, 10, 16)]  # Boopathy's 6, 9, 10
    assert dataset_eps("cifar10", "l2") == [0.25, 80 / 255, 0.5, 1.0, 320 / 255]  # IR's 80/255 and 320/255
    assert (headline_eps("cifar10", "linf"), headline_eps("cifar10", "l2"), cifar.n) == (8 / 255, 0.5, 10000)


def test_headline_eps_must_be_one_of_the_eps_list() -> None:
    with pytest.raises(ValueError, match=r"headline linf eps 0\.25 is not in its eps list"):
        dataclasses.replace(DATASETS.get("mnist-5k"), headline={"linf": 0.25, "l2": 2.0})


def test_grid_takes_eps_headline_and_n_from_the_dataset_unless_it_overrides(tmp_path: Path) -> None:
    from rib.grid import grid_spec

    plain = tmp_path / "plain.toml"
    plain.write_text('[datasets.cifar10]\n[[datasets.cifar10.attacks]]\nnames = ["pgd-linf"]\n', encoding="utf-8")
    spec = grid_spec(str(plain), "cifar10")
    assert spec.n == 10000
    assert spec.eps == {norm: dataset_eps("cifar10", norm) for norm in ("linf", "l2")}
    assert spec.headline == {"linf": 8 / 255, "l2": 0.5}
    override = tmp_path / "override.toml"
    override.write_text('[datasets.mnist-5k]\nn = 30\nheadline = { linf = 0.1 }\neps = { l2 = [1.0] }\n',
                        encoding="utf-8")
    spec = grid_spec(str(override), "mnist-5k")
    assert (spec.n, spec.headline, spec.eps) == (30, {"linf": 0.1, "l2": 2.0},
                                                 {"linf": [0.1, 0.2, 0.3, 0.4], "l2": [1.0]})


def test_the_official_fashion_mnist_splits_from_the_data_folder() -> None:
    x, y = load_dataset("fashion-mnist", "test")
    assert x.shape == (10000, 1, 28, 28) and x.dtype == torch.float32
    assert y.bincount().tolist() == [1000] * 10 and y[:5].tolist() == [9, 2, 1, 1, 6]  # the published order
    x_tr, y_tr = load_dataset("fashion-mnist", "train")
    assert x_tr.shape == (60000, 1, 28, 28) and y_tr.bincount().tolist() == [6000] * 10
    _, y_val = load_dataset("fmnist", "val")  # an alias
    assert y_val.bincount().tolist() == [500] * 10
    from rib.data import DATASETS

    info = DATASETS.get("fashion-mnist")
    assert info.headline == {"linf": 0.1, "l2": 1.0} and info.test_drawn_from == ""
    assert abs(float(x_tr.mean()) - info.mean[0]) < 1e-3 and abs(float(x_tr.std()) - info.std[0]) < 1e-3


def test_fashion_mnist_accepts_the_upstream_gz_or_the_content_checksum(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import gzip

    import rib.data as data

    monkeypatch.setenv("RIB_DATA_DIR", str(tmp_path))
    folder = tmp_path / "FashionMNIST" / "raw"  # torchvision's layout
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    content, gz = {}, {}
    for prefix, n in (("train", 6), ("t10k", 4)):
        for kind, array in (("images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)),
                            ("labels-idx1-ubyte", (np.arange(n) % 10).astype(np.uint8))):
            name = f"{prefix}-{kind}"
            _write_idx(tmp_path / name, array)
            raw = (tmp_path / name).read_bytes()
            (folder / f"{name}.gz").write_bytes(gzip.compress(raw, mtime=0))
            content[name] = hashlib.md5(raw).hexdigest()
            gz[name] = hashlib.md5((folder / f"{name}.gz").read_bytes()).hexdigest()
    sizes = {"train": 6, "test": 4}
    for accepted in ({"content_md5": content, "gz_md5": {k: "0" * 32 for k in gz}},  # a repackaged copy
                     {"content_md5": {k: "0" * 32 for k in content}, "gz_md5": gz}):  # the upstream download
        source = data.IdxSource("fashion-mnist", "fashion-mnist", "FashionMNIST/raw", sizes=sizes,
                                downloader="FashionMNIST", **accepted)
        monkeypatch.setattr(data, "FASHION_SOURCE", source)
        data._fashion_arrays.cache_clear()
        x, y = load_dataset("fashion-mnist", "test")
        assert x.shape == (4, 1, 28, 28) and y.tolist() == [0, 1, 2, 3]
    source = data.IdxSource("fashion-mnist", "fashion-mnist", "FashionMNIST/raw", sizes=sizes,
                            downloader="FashionMNIST", content_md5={k: "0" * 32 for k in content},
                            gz_md5={k: "0" * 32 for k in gz})
    monkeypatch.setattr(data, "FASHION_SOURCE", source)
    data._fashion_arrays.cache_clear()
    with pytest.raises(DatasetError, match=r"^fashion-mnist: .* has content MD5") as info:
        load_dataset("fashion-mnist", "test")
    assert "\n" not in str(info.value)
    data._fashion_arrays.cache_clear()


def test_fashion_mnist_offline_without_files_names_the_folder(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import rib.data as data

    monkeypatch.setenv("RIB_DATA_DIR", str(tmp_path / "empty"))
    data._fashion_arrays.cache_clear()
    with pytest.raises(DatasetError) as info:
        load_dataset("fashion-mnist", "train")
    message = str(info.value)
    assert message.startswith("fashion-mnist:") and str(tmp_path / "empty" / "fashion-mnist") in message
    assert "RIB_OFFLINE" in message and "\n" not in message
