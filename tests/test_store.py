import math
import os
from pathlib import Path

import pandas as pd
import pytest
import rib.files
import torch
from rib.cli import main
from rib.errors import RibError, RibWarning
from rib.stats import stratified_indices, two_proportion_p, wilson_interval
from rib.store import ResultStore, load_results

from tests.helpers import make_card


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


def test_a_damaged_file_is_left_out_of_scan_with_a_warning(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    path = store.write([_row()], _examples())
    store.write([_row("d" * 64)], _examples("d" * 64))
    path.write_bytes(b"not parquet")
    with pytest.warns(RibWarning, match=f"{path.name} is not a readable result file"):
        table = store.scan()
    assert table.column("cell_id").to_pylist() == ["d" * 64]
    examples = path.with_name(path.stem + ".examples.parquet")
    examples.write_bytes(examples.read_bytes()[:100])
    with pytest.warns(RibWarning, match=f"{examples.name} is not a readable result file"):
        assert set(store.examples().column("cell_id").to_pylist()) == {"d" * 64}


def _fail_summary_renames(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every rename onto a summary fail (a crash between the per-example file and the summary)."""
    replace = os.replace

    def flaky(src: str, dst: str) -> None:
        if not str(dst).endswith((".examples.parquet", ".values.parquet")):
            raise OSError(28, "No space left on device")
        replace(src, dst)

    monkeypatch.setattr(rib.files.os, "replace", flaky)


def test_a_failed_summary_rename_leaves_nothing_visible(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = ResultStore(tmp_path)
    with monkeypatch.context() as patch:
        _fail_summary_renames(patch)
        with pytest.raises(OSError, match="No space left"):
            store.write([_row()], _examples())
    orphan = store.summary_path("mnist-5k", "m", "pgd-linf", "c" * 64)
    assert orphan.with_name(orphan.stem + ".examples.parquet").is_file()  # the per-example file landed
    assert not store.has("mnist-5k", "m", "pgd-linf", "c" * 64) and store.scan().num_rows == 0
    assert store.examples().num_rows == 0 and not list(tmp_path.rglob("*.tmp"))  # the orphan is invisible
    store.write([_row()], _examples())  # the rerun completes the cell
    assert store.has("mnist-5k", "m", "pgd-linf", "c" * 64) and store.examples().num_rows == 2


def _tiny_run(zoo: Path, results: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str, str]:
    code = main(["run", "--model", "tiny-std,tiny-two", "--attack", "fgsm-linf", "--n", "20", "--eps", "0.1",
                 "--models-dir", str(zoo), "--results", str(results), "--quiet", "--device", "cpu", *extra])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def tiny_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[Path, Path]:
    zoo = tmp_path / "zoo"
    make_card(zoo, "tiny-std")
    make_card(zoo, "tiny-two", seed=1)
    code, _, err = _tiny_run(zoo, tmp_path / "res", capsys)
    assert code == 0, err
    return zoo, tmp_path / "res"


def test_rib_run_completes_a_cell_whose_summary_rename_failed(tiny_store: tuple[Path, Path], tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    zoo, _ = tiny_store
    results = tmp_path / "fresh"
    with monkeypatch.context() as patch:
        _fail_summary_renames(patch)
        with pytest.raises(OSError, match="No space left"):
            _tiny_run(zoo, results, capsys)
    assert list(results.rglob("*.examples.parquet")) and not ResultStore(results).summary_files()
    code, out, err = _tiny_run(zoo, results, capsys)
    assert code == 0 and "done" in err and "stored earlier" not in err, err
    assert len(ResultStore(results).summary_files()) == 2 and "tiny-std" in out


def test_rib_run_sets_a_damaged_summary_aside_and_recomputes_it(tiny_store: tuple[Path, Path],
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    zoo, results = tiny_store
    store = ResultStore(results)
    before = load_results(results).sort_values(["model", "metric"])["value"].tolist()
    damaged = next(p for p in store.summary_files() if p.parent.name == "tiny-std")
    original = damaged.read_bytes()
    damaged.write_bytes(original[:100])  # cut short
    code, out, err = _tiny_run(zoo, results, capsys)
    assert code == 0, err
    warnings_ = [line for line in err.splitlines() if line.startswith("rib: warning:")]
    assert len(warnings_) == 1 and str(damaged) in warnings_[0] and "recomputed" in warnings_[0]
    aside = list(damaged.parent.glob(damaged.name + ".corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == original[:100]  # kept, renamed
    assert "tiny-std × fgsm-linf" in err and "stored earlier" in err  # tiny-two was read back, tiny-std rerun
    assert load_results(results).sort_values(["model", "metric"])["value"].tolist() == before
    assert "tiny-std" in out and "tiny-two" in out


def test_rib_report_names_a_damaged_file_and_renders_the_rest(tiny_store: tuple[Path, Path], tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    zoo, results = tiny_store
    damaged = next(p for p in ResultStore(results).summary_files() if p.parent.name == "tiny-std")
    damaged.write_bytes(damaged.read_bytes()[:100])
    code = main(["report", "--results", str(results), "--out", str(tmp_path / "site"), "--models-dir", str(zoo)])
    err = capsys.readouterr().err
    assert code == 0, err
    warnings_ = [line for line in err.splitlines() if line.startswith("rib: warning:")]
    assert len(warnings_) == 1 and str(damaged) in warnings_[0] and "left out" in warnings_[0]
    html = (tmp_path / "site" / "index.html").read_text()
    assert "tiny-two" in html and "tiny-std" not in html


def test_wilson_interval_by_hand() -> None:
    lo, hi = wilson_interval(5, 10)
    assert lo == pytest.approx(0.2366, abs=1e-4) and hi == pytest.approx(0.7634, abs=1e-4)
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == 1.0
    assert wilson_interval(0, 20)[1] == pytest.approx(0.1611, abs=1e-4)
    assert all(math.isnan(v) for v in wilson_interval(0, 0))


def test_two_proportion_p_by_hand() -> None:
    # 50% of 1,000 against 40% of 300: pooled 0.4769, se 0.03288, z 3.042
    assert two_proportion_p(0.5, 1000, 0.4, 300) == pytest.approx(0.00235, abs=1e-5)
    assert two_proportion_p(0.3, 100, 0.3, 500) == pytest.approx(1.0)
    assert two_proportion_p(0.0, 100, 0.0, 300) == 1.0 and two_proportion_p(1.0, 100, 1.0, 300) == 1.0
    assert two_proportion_p(1.0, 100, 0.0, 300) < 1e-12


def test_stratified_indices() -> None:
    import torch

    y = torch.tensor([0] * 5 + [1] * 5 + [2] * 5)
    idx = stratified_indices(y, 6)
    assert torch.bincount(y[idx]).tolist() == [2, 2, 2]
    assert idx.tolist() == sorted(idx.tolist())
    assert len(stratified_indices(y, 100)) == 15
    assert torch.equal(stratified_indices(y, 6), idx)  # seeded: the same sample every time


def test_samples_are_random_over_the_whole_split_and_nested() -> None:
    from rib import load_dataset

    _, y = load_dataset("mnist", "test")
    s100, s200, s1000 = (set(stratified_indices(y, n).tolist()) for n in (100, 200, 1000))
    assert s100 <= s200 <= s1000 and len(s1000) == 1000
    assert torch.bincount(y[sorted(s100)], minlength=10).tolist() == [10] * 10
    # spread over the whole split (MNIST's test split is ordered: its first half comes from other writers)
    assert min(s200) < 500 and max(s200) > 9500
    assert 0.4 < sum(i < 5000 for i in s1000) / 1000 < 0.6
    assert stratified_indices(y, 200, seed=1).tolist() != sorted(s200)
