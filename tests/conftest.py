"""Shared fixtures: an isolated environment (no downloads, private caches) and a tiny zoo.

Helpers that tests call directly (``make_card``, ``trained_tiny_state``) live in ``tests/helpers.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import make_card


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test gets private data and cache folders, so nothing is read from or written to the home folder."""
    root = tmp_path_factory.mktemp("env")
    monkeypatch.setenv("RIB_DATA_DIR", str(root / "data"))
    monkeypatch.setenv("RIB_CACHE_DIR", str(root / "cache"))


@pytest.fixture
def tiny_zoo(tmp_path: Path) -> Path:
    """A models folder holding one untrained tiny model ``tiny-std`` on mnist (as the zoo: trained on mnist-5k)."""
    make_card(tmp_path / "models")
    return tmp_path / "models"
