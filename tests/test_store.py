import math
from pathlib import Path

import pandas as pd
import pytest
from rib.errors import RibError
from rib.stats import stratified_indices, wilson_interval
from rib.store import ResultStore, load_results


def _row(cell_id: str = "c" * 64, **kw: object) -> dict:
    row = {"run_id": "r", "cell_id": cell_id, "created_at": "now", "model": "m", "dataset": "mnist-5k",
           "defense": "standard", "trained_norm": "none", "trained_eps": 0.0, "attack": "pgd-linf", "norm": "linf",
           "eps": 0.1, "metric": "robust_accuracy", "value": 0.5, "n": 10, "ci_low": 0.2, "ci_high": 0.8, "seed": 0,
           "params": "{}", "weights_sha256": "0" * 64, "rib_version": "0", "git_sha": "x", "torch_version": "t",
           "device": "cpu", "duration_s": 1.0}
    row.update(kw)
    return row


def _examples(cell_id: str = "c" * 64) -> dict:
    return {"cell_id": [cell_id] * 2, "index": [0, 1], "eps": [0.1, 0.1], "clean_correct": [True, False],
            "robust": [True, False], "distance": [math.inf, 0.0]}


def test_write_has_scan_and_rows(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    assert not store.has("mnist-5k", "m", "pgd-linf", "c" * 64)
    assert store.scan().num_rows == 0
    path = store.write([_row(), _row(metric="clean_accuracy", eps=0.0, value=0.9)], _examples())
    assert path.is_file() and store.has("mnist-5k", "m", "pgd-linf", "c" * 64)
    df = load_results(tmp_path)
    assert isinstance(df, pd.DataFrame) and len(df) == 2
    assert df["value"].dtype == "float64" and df["n"].dtype == "int64"
    assert store.examples("c" * 64).num_rows == 2
    assert not list(tmp_path.rglob("*.tmp"))


def test_schema_violation_writes_nothing(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    with pytest.raises(RibError, match="schema"):
        store.write([_row(value="0.5")], _examples())  # numbers are never stored as strings
    assert not list(tmp_path.rglob("*"))


def test_stale_temp_files_are_removed_on_rewrite(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    path = store.summary_path("mnist-5k", "m", "pgd-linf", "c" * 64)
    path.parent.mkdir(parents=True)
    stale = path.parent / f".{path.name}.abc.tmp"
    stale.write_bytes(b"partial")
    store.write([_row()], _examples())
    assert not stale.exists()


def test_corrupt_result_file_is_a_clear_error(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    path = store.write([_row()], _examples())
    path.write_bytes(b"not parquet")
    with pytest.raises(RibError, match="not a readable result file"):
        store.scan()


def test_wilson_interval_by_hand() -> None:
    lo, hi = wilson_interval(5, 10)
    assert lo == pytest.approx(0.2366, abs=1e-4) and hi == pytest.approx(0.7634, abs=1e-4)
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == 1.0
    assert wilson_interval(0, 20)[1] == pytest.approx(0.1611, abs=1e-4)
    assert all(math.isnan(v) for v in wilson_interval(0, 0))


def test_stratified_indices() -> None:
    import torch

    y = torch.tensor([0] * 5 + [1] * 5 + [2] * 5)
    idx = stratified_indices(y, 6)
    assert torch.bincount(y[idx]).tolist() == [2, 2, 2]
    assert idx.tolist() == sorted(idx.tolist())
    assert len(stratified_indices(y, 100)) == 15
