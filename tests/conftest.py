"""Shared fixtures: an isolated environment (no downloads, private caches) and a tiny zoo.

The official MNIST files are read from the data folder that the run was started with (``$RIB_DATA_DIR``, else
``../shared/data`` beside the repository, as CI lays it out): every test sees them through a private data folder
whose ``mnist`` links there, with ``RIB_OFFLINE`` set so nothing is ever downloaded. A test that needs them while
they are missing is skipped on a developer's machine and fails when ``CI`` is set.

Helpers that tests call directly (``make_card``, ``trained_tiny_state``) live in ``tests/helpers.py``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from rib.data import mnist_folders
from rib.errors import DatasetError, WeightsError

from tests.helpers import make_card

_REPO = Path(__file__).resolve().parents[1]


def official_mnist_folder() -> Path | None:
    """The folder holding the official MNIST IDX files for this test run, or None when there is none."""
    roots = [Path(os.environ["RIB_DATA_DIR"])] if os.environ.get("RIB_DATA_DIR") else []
    roots.append(_REPO.parent / "shared" / "data")
    for root in roots:
        for folder in mnist_folders(root.expanduser()):
            if any(folder.glob("t10k-images-idx3-ubyte*")):
                return folder.resolve()
    return None


OFFICIAL_MNIST = official_mnist_folder()


def official_data_folder(name: str) -> Path | None:
    """Another folder of the data root the official MNIST files came from (``paper-models``, ``fashion-mnist``), or
    None when that root has none."""
    roots = [Path(os.environ["RIB_DATA_DIR"])] if os.environ.get("RIB_DATA_DIR") else []
    roots.append(_REPO.parent / "shared" / "data")
    for root in roots:
        if (root.expanduser() / name).is_dir():
            return (root.expanduser() / name).resolve()
    return None


OFFICIAL_PAPER_MODELS = official_data_folder("paper-models")
OFFICIAL_FASHION = official_data_folder("fashion-mnist")


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test gets private data and cache folders, so nothing is read from or written to the home folder;
    the official MNIST files are linked in read-only, and downloads are off."""
    root = tmp_path_factory.mktemp("env")
    (root / "data").mkdir()
    if OFFICIAL_MNIST is not None:
        (root / "data" / "mnist").symlink_to(OFFICIAL_MNIST, target_is_directory=True)
    if OFFICIAL_PAPER_MODELS is not None:
        (root / "data" / "paper-models").symlink_to(OFFICIAL_PAPER_MODELS, target_is_directory=True)
    if OFFICIAL_FASHION is not None:
        (root / "data" / "fashion-mnist").symlink_to(OFFICIAL_FASHION, target_is_directory=True)
    monkeypatch.setenv("RIB_DATA_DIR", str(root / "data"))
    monkeypatch.setenv("RIB_CACHE_DIR", str(root / "cache"))
    monkeypatch.setenv("RIB_OFFLINE", "1")


def _missing_official_data(exc: BaseException) -> bool:
    if OFFICIAL_PAPER_MODELS is None and isinstance(exc, WeightsError) and "RIB_OFFLINE is set" in str(exc):
        return True  # an authors' network whose release files are not here
    if OFFICIAL_FASHION is None and isinstance(exc, DatasetError) and str(exc).startswith("fashion-mnist:"):
        return True
    return OFFICIAL_MNIST is None and isinstance(exc, DatasetError) and str(exc).startswith("mnist:")


def _skip_without_official_data() -> Iterator[None]:
    """A test phase that needs the official MNIST files while they are missing: skipped off CI, failed on CI."""
    try:
        return (yield)
    except (DatasetError, WeightsError) as exc:
        if _missing_official_data(exc) and not os.environ.get("CI"):
            pytest.skip(f"the official data files are not here ({exc})")
        raise


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    return (yield from _skip_without_official_data())


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    return (yield from _skip_without_official_data())


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[pytest.TestReport]:
    """With ``CI`` set, a skipped test fails: CI must run every test (a missing browser, ray, robustbench or data
    set is a broken CI machine, not a reason to pass)."""
    report = yield
    if os.environ.get("CI") and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped under CI, which must run every test: {reason}"
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Iterator[pytest.CollectReport]:
    """A module skipped at collection (``allow_module_level``) fails under ``CI`` too."""
    report = yield
    if os.environ.get("CI") and report.skipped:
        report.outcome = "failed"
        report.longrepr = f"skipped under CI, which must run every test: {report.longrepr}"
    return report


@pytest.fixture
def tiny_zoo(tmp_path: Path) -> Path:
    """A models folder holding one untrained tiny model ``tiny-std`` on mnist (as the zoo: trained on mnist-5k)."""
    make_card(tmp_path / "models")
    return tmp_path / "models"
