"""The CLI through a real subprocess: exit codes, one-line errors, and the training command."""

import os
import subprocess
import sys
from pathlib import Path

import pytest


def rib(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rib.cli", *args], capture_output=True, text=True, timeout=600,
                          env={**os.environ, **(env or {})}, cwd=cwd)


def test_ls_datasets_defenses_archs() -> None:
    out = rib("ls", "datasets")
    assert out.returncode == 0 and "mnist-5k" in out.stdout and "cifar10" in out.stdout
    out = rib("ls", "defenses")
    assert out.returncode == 0 and "proper-int2" in out.stdout and "double-backprop" in out.stdout
    out = rib("ls", "archs")
    assert out.returncode == 0 and "wrn-28-10" in out.stdout


def test_ls_models_shows_a_models_dir(tiny_zoo: Path) -> None:
    out = rib("ls", "models", "--dataset", "mnist-5k", "--models-dir", str(tiny_zoo))
    assert out.returncode == 0, out.stderr
    assert "tiny-std" in out.stdout


def test_unknown_names_exit_2_with_did_you_mean() -> None:
    out = rib("train", "--model", "standrd", "--out", "/nonexistent")
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0
    assert "did you mean 'standard'" in out.stderr
    out = rib("ls", "models", "--dataset", "mnist5")
    assert out.returncode == 2 and "did you mean 'mnist' or 'mnist-5k'" in out.stderr


def test_train_needs_exactly_one_target() -> None:
    out = rib("train")
    assert out.returncode == 1 and "exactly one of --model" in out.stderr


def test_train_one_epoch_writes_a_loadable_card(tmp_path: Path) -> None:
    out = rib("train", "--model", "standard", "--epochs", "1", "--out", str(tmp_path), "--quiet",
              "--device", "cpu")
    assert out.returncode == 0, out.stderr
    assert "standard" in out.stdout and "trained standard" in out.stderr
    card = tmp_path / "mnist-5k" / "standard.toml"
    assert card.is_file() and (tmp_path / "mnist-5k" / "standard.safetensors").is_file()
    before = card.read_bytes()
    again = rib("train", "--model", "standard", "--epochs", "1", "--out", str(tmp_path), "--quiet")
    assert again.returncode == 1 and "--force" in again.stderr
    assert card.read_bytes() == before  # nothing overwritten
    listed = rib("ls", "models", "--models-dir", str(tmp_path), "--dataset", "mnist-5k")
    assert "1 epoch" not in listed.stdout and "standard" in listed.stdout


def test_bad_device_is_a_clear_error(tmp_path: Path) -> None:
    out = rib("train", "--model", "standard", "--epochs", "1", "--out", str(tmp_path), "--device", "tpu")
    assert out.returncode == 2 and "unknown device 'tpu'" in out.stderr


@pytest.mark.parametrize("content", ["id = [", 'id = "x"\n'])
def test_broken_card_in_models_dir_is_one_line(tmp_path: Path, content: str) -> None:
    (tmp_path / "mnist-5k").mkdir()
    (tmp_path / "mnist-5k" / "x.toml").write_text(content)
    out = rib("ls", "models", "--models-dir", str(tmp_path))
    assert out.returncode == 2
    assert out.stderr.startswith("rib: error:") and out.stderr.strip().count("\n") == 0
