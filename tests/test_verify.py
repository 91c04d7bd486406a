"""`rib verify`: submissions are validated, never executed, re-measured claim by claim, and recorded."""

import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from rib.errors import ConfigError, UnknownNameError, WeightsError
from rib.verify import (
    checks_table,
    load_submission,
    submit,
    verification_status,
    verify_card,
    write_record,
)
from rib.zoo import read_card, write_card
from rib.zoo.weights import save_weights, sha256_file

from tests.helpers import make_card, trained_tiny_state

N = 60


def rib(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rib.cli", *args], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})


def measured_claims(folder: Path, model_id: str) -> Path:
    """A submission folder whose card claims what rib measures for the trained tiny model."""
    card = make_card(folder / "sub", model_id, state=trained_tiny_state())
    card_path = folder / "sub" / "mnist-5k" / f"{model_id}.toml"
    card.claims = [{"attack": "clean", "metric": "clean_accuracy", "value": 0.5, "n": N},
                   {"attack": "fgsm-linf", "metric": "robust_accuracy", "eps": 0.1, "value": 0.5, "n": N}]
    write_card(card, card_path)
    checks = verify_card(read_card(card_path))
    card.claims = [{**c, "value": round(k.measured, 4)} for c, k in zip(card.claims, checks, strict=True)]
    write_card(card, card_path)
    return card_path.parent


def test_a_model_reproduces_its_measured_claims_and_altered_weights_do_not(tmp_path: Path) -> None:
    sub = measured_claims(tmp_path, "tiny-sub")
    card = load_submission(sub)
    checks = verify_card(card)
    assert [c.reproduced for c in checks] == [True, True]
    assert "verified (2 of 2 claims reproduced)" in checks_table(card, checks)
    write_record(card, checks, tmp_path / "results")
    assert verification_status(tmp_path / "results", "mnist-5k") == {"tiny-sub": "verified"}
    # the same card over other weights (a different training seed): new sha256 in the card, same claims
    other = trained_tiny_state(seed=1)
    sha = save_weights(other, sub / "tiny-sub.safetensors")
    card.weights_sha256 = sha
    write_card(card, sub / "tiny-sub.toml")
    altered = load_submission(sub)
    bad = verify_card(altered)
    assert not all(c.reproduced for c in bad)
    table = checks_table(altered, bad)
    assert "NOT reproduced" in table and "failed" in table and " pts" in table
    write_record(altered, bad, tmp_path / "results")
    status = verification_status(tmp_path / "results", "mnist-5k", {"tiny-sub": sha})
    assert status == {"tiny-sub": "failed"}


def test_cli_exit_codes_and_untouched_store(tmp_path: Path) -> None:
    sub = measured_claims(tmp_path, "tiny-cli")
    ok = rib("verify", str(sub), "--results", str(tmp_path / "results"), "--quiet")
    assert ok.returncode == 0, ok.stderr
    assert "reproduced" in ok.stdout and "1 of 1 models verified" in ok.stderr
    card = read_card(sub / "tiny-cli.toml")
    card.claims[1]["value"] = min(1.0, card.claims[1]["value"] + 0.2)
    write_card(card, sub / "tiny-cli.toml")
    bad = rib("verify", str(sub), "--results", str(tmp_path / "results"), "--quiet")
    assert bad.returncode == 1 and "NOT reproduced" in bad.stdout and "+20.0 pts" in bad.stdout


def _submission(tmp_path: Path, **edits: object) -> Path:
    sub = tmp_path / "s"
    card = make_card(sub, "tiny-x")
    card.claims = [{"attack": "fgsm-linf", "metric": "robust_accuracy", "eps": 0.1, "value": 0.1}]
    for k, v in edits.items():
        setattr(card, k, v)
    write_card(card, sub / "mnist-5k" / "tiny-x.toml")
    return sub / "mnist-5k"


@pytest.mark.parametrize("edit, error, match", [
    ({"arch": "tinny"}, UnknownNameError, "did you mean"),
    ({"claims": [{"attack": "pgd-lnf", "metric": "robust_accuracy", "eps": 0.1, "value": 0.2}]}, ConfigError,
     "unknown attack 'pgd-lnf'"),
    ({"claims": [{"attack": "pgd-linf", "metric": "robust_accuracy", "eps": 0.7, "value": 0.2}]}, ConfigError,
     "eps 0.7 is not in the mnist-5k linf grid"),
    ({"claims": [{"attack": "pgd-linf", "metric": "accuracy", "value": 0.2}]}, ConfigError, "unknown metric"),
    ({"claims": []}, ConfigError, "makes no claims"),
    ({"id": "<b>x</b>"}, ConfigError, "may hold only letters"),
    ({"weights_sha256": "0" * 64}, WeightsError, "refusing to load"),
])
def test_bad_submissions_are_one_clear_error(tmp_path: Path, edit: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        load_submission(_submission(tmp_path, **edit))


def test_schema_errors_are_listed_at_once_and_weights_are_checked(tmp_path: Path) -> None:
    folder = _submission(tmp_path)
    card = folder / "tiny-x.toml"
    text = card.read_text()
    card.write_text(text.replace('id = "tiny-x"\n', "").replace('name = "tiny"', "name = 3"))
    with pytest.raises(ConfigError, match=r"missing field id; field arch\.name must be str"):
        load_submission(folder)
    card.write_text(text)
    weights = folder / "tiny-x.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])  # truncated (and so a different sha256)
    with pytest.raises(WeightsError):
        load_submission(folder)


def test_nan_and_wrong_shapes_are_refused(tmp_path: Path) -> None:
    state = trained_tiny_state()
    folder = _submission(tmp_path)
    card = read_card(folder / "tiny-x.toml")
    bad = {k: v.clone() for k, v in state.items()}
    first = next(iter(bad))
    bad[first][...] = float("nan")
    card.weights_sha256 = save_weights(bad, folder / "tiny-x.safetensors")
    write_card(card, folder / "tiny-x.toml")
    with pytest.raises(WeightsError, match="NaN"):
        load_submission(folder)
    bad[first] = torch.zeros(3, 3)
    card.weights_sha256 = save_weights(bad, folder / "tiny-x.safetensors")
    write_card(card, folder / "tiny-x.toml")
    with pytest.raises(WeightsError, match="shape"):
        load_submission(folder)


class _Hostile:
    def __reduce__(self) -> tuple:
        return (os.system, (f"touch {self.marker}",))

    marker = ""


def test_a_pytorch_file_is_read_only_as_tensors_and_a_hostile_pickle_runs_nothing(tmp_path: Path) -> None:
    folder = _submission(tmp_path)
    card = read_card(folder / "tiny-x.toml")
    torch.save({"state_dict": trained_tiny_state()}, folder / "tiny-x.pt")
    card.weights_file, card.weights_sha256 = "tiny-x.pt", sha256_file(folder / "tiny-x.pt")
    write_card(card, folder / "tiny-x.toml")
    (folder / "tiny-x.safetensors").unlink()
    assert load_submission(folder).weights_file == "tiny-x.pt"  # a plain state dict loads
    marker = tmp_path / "pwned"
    _Hostile.marker = str(marker)
    with (folder / "tiny-x.pt").open("wb") as fh:
        pickle.dump({"conv1.weight": _Hostile()}, fh)
    card.weights_sha256 = sha256_file(folder / "tiny-x.pt")
    write_card(card, folder / "tiny-x.toml")
    results = tmp_path / "results"
    out = rib("verify", str(folder), "--results", str(results))
    assert out.returncode == 1 and out.stderr.count("\n") == 1 and "not a safe PyTorch state dict" in out.stderr
    assert not marker.exists()
    assert not results.exists()


def test_submit_adds_a_verified_model_runs_its_grid_and_renders(tmp_path: Path) -> None:
    sub = measured_claims(tmp_path, "tiny-new")
    grid = tmp_path / "grid.toml"
    grid.write_text('[datasets.mnist-5k]\nmodels = "*"\nn = 30\nheadline = { linf = 0.1, l2 = 1.0 }\n'
                    'eps = { linf = [0.1], l2 = [1.0] }\n'
                    '[[datasets.mnist-5k.attacks]]\nnames = ["fgsm-linf", "fgsm-l2"]\n')
    models, results, reports = tmp_path / "models", tmp_path / "results", tmp_path / "reports"
    args = ["submit", str(sub), "--models", str(models), "--results", str(results), "--reports", str(reports),
            "--grid", str(grid), "--quiet"]
    out = rib(*args)
    assert out.returncode == 0, out.stderr
    installed = models / "mnist-5k"
    assert (installed / "tiny-new.toml").is_file() and (installed / "tiny-new.safetensors").is_file()
    assert len(list((results / "mnist-5k" / "tiny-new").glob("fgsm-l*.parquet"))) == 4  # 2 cells: summary + examples
    html = (reports / "index.html").read_text()
    assert "tiny-new" in html and "verified" in html
    again = rib(*args)
    assert again.returncode == 1 and "already in the zoo" in again.stderr


def test_submit_refuses_a_bad_executor_before_doing_anything(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown executor 'dask'"):
        submit(tmp_path / "nothing", models_root=tmp_path / "models", executor="dask")
    with pytest.raises(ConfigError, match="--address goes with --executor ray"):
        submit(tmp_path / "nothing", models_root=tmp_path / "models", address="auto")
    assert not list(tmp_path.iterdir())
