"""Planning and running cells; the kill-and-resume guarantee of the result store."""

import signal
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest
from rib.attacks import ATTACKS
from rib.engine import RunOptions, Sampling, plan_grid, plan_run, plan_table, run_cells, stale_cells, stale_tables
from rib.errors import ConfigError, RibError, UnknownNameError
from rib.grid import Cell, grid_spec, parse_eps, plan_grid_names
from rib.store import ResultStore, load_results

from tests.helpers import make_card, trained_tiny_state

GRID = """
[datasets.mnist]
models = "m-*"
n = 40
seed = 0
batch_size = 20
headline = {{ linf = 0.3, l2 = 2.0 }}
eps = {{ linf = [0.05, 0.1, 0.2], l2 = [0.5, 1.0] }}

[[datasets.mnist.attacks]]
names = ["pgd-linf", "pgd-l2", "fgsm-linf"]
params = {{ }}

[[datasets.mnist.attacks]]
names = ["pgd-linf"]
eps = "headline"
n = 20
{extra}
"""


@pytest.fixture(scope="module")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("zoo")
    for i, name in enumerate(("m-a", "m-b", "m-c")):
        make_card(folder, name, state=trained_tiny_state(seed=i))
    return folder


def test_plan_run_resolves_names_wildcards_and_default_eps(zoo: Path) -> None:
    cells = plan_run("m-*", "pgd-*", models_dir=zoo, sampling=Sampling(n=10))
    assert {(c.model, c.attack) for c in cells} >= {("m-a", "pgd-linf"), ("m-c", "pgd-l2")}
    linf = next(c for c in cells if c.attack == "pgd-linf")
    assert linf.eps == (0.1, 0.2, 0.3, 0.4)
    assert next(c for c in cells if c.attack == "pgd-l2").eps == (1.0, 1.5, 2.0, 2.5, 3.5)
    with pytest.raises(UnknownNameError, match="did you mean 'pgd-linf'"):
        plan_run("m-a", "pgd-lnf", models_dir=zoo)
    with pytest.raises(UnknownNameError, match="did you mean 'm-a'"):
        plan_run("m-aa", "pgd-linf", models_dir=zoo)


def test_cell_ids_are_stable_and_content_addressed() -> None:
    fields: dict[str, Any] = {"model": "m", "dataset": "mnist-5k", "attack": "pgd-linf", "eps": (0.1, 0.2), "n": 100,
              "weights_sha256": "0" * 64}
    a = Cell(**fields)
    assert a.kind == "attack" and a.cell_id == Cell(**fields).cell_id
    assert a.cell_id != Cell(**{**fields, "seed": 1}).cell_id
    assert a.cell_id != Cell(**{**fields, "weights_sha256": "1" * 64}).cell_id


def test_a_metrics_cell_hashes_its_metrics_as_params_and_kinds_are_checked() -> None:
    common: dict[str, Any] = {"model": "m", "dataset": "mnist-5k", "attack": "clean", "eps": (0.0,), "n": 100}
    metrics = Cell(kind="metrics", metrics=("alignment",), **common)
    assert metrics.stored_params == {"metrics": ["alignment"]}
    assert metrics.cell_id != Cell(**common).cell_id
    with pytest.raises(ConfigError, match="names at least one metric"):
        Cell(kind="metrics", **common)
    with pytest.raises(ConfigError, match="only a metrics cell has metrics"):
        Cell(metrics=("alignment",), **common)
    with pytest.raises(ConfigError, match="unknown cell kind"):
        Cell(kind="nope", **common)


def test_parse_eps() -> None:
    assert parse_eps("0.3, 0.1,8/255") == [8 / 255, 0.1, 0.3]
    for bad in ("a", "-1", "1/0", ""):
        with pytest.raises(ConfigError):
            parse_eps(bad)


LEFT_OUT = {  # attacks the default grid leaves out of a dataset: docs/methodology.md says why
    "mnist-5k": {"cw-l2", "apgd-linf", "apgd-l2", "boopathy-pgd-linf"},  # no authors' networks evaluated there
    "mnist": {"cw-l2", "deepfool-l2", "deepfool-linf", "square-l2", "square-linf", "apgd-ce-l2", "apgd-ce-linf"},
}


def test_default_grid_covers_every_attack_and_both_norms() -> None:
    robustness = {n for n in ATTACKS.names() if ATTACKS.get(n).kind != "interpretation"}
    for dataset, left_out in LEFT_OUT.items():
        assert set(plan_grid_names("default", dataset)) == robustness - left_out, dataset
    sources = {s for group in grid_spec("default", "mnist-5k").metrics for s in group["sources"]}
    assert set(ATTACKS.names()) - robustness <= sources  # the interpretation attack feeds the metrics


def test_grid_cells_and_resume(zoo: Path, tmp_path: Path) -> None:
    grid = tmp_path / "g.toml"
    grid.write_text(GRID.format(extra=""))
    cells = plan_grid(str(grid), models_dir=zoo)
    assert len(cells) == 3 * 4
    headline = [c for c in cells if c.n == 20]
    assert headline and all(c.eps == (0.3,) for c in headline)
    store = ResultStore(tmp_path / "results")
    first = run_cells(cells[:2], store, options=RunOptions(device="cpu", models_dir=zoo))
    assert not any(o.skipped for o in first)
    again = run_cells(cells[:3], store, options=RunOptions(device="cpu", models_dir=zoo))
    assert [o.skipped for o in again] == [True, True, False]
    pd.testing.assert_frame_equal(pd.DataFrame(again[0].rows), pd.DataFrame(first[0].rows))
    df = load_results(tmp_path / "results")
    assert set(df["metric"]) >= {"clean_accuracy", "robust_accuracy"}
    assert df["cell_id"].nunique() == 3
    robust = df[df.metric == "robust_accuracy"]
    assert ((robust.ci_low <= robust.value) & (robust.value <= robust.ci_high)).all()


def test_plan_table_says_which_cells_are_stored(zoo: Path, tmp_path: Path) -> None:
    cells = plan_run("m-a", "fgsm-linf,fgsm-l2", models_dir=zoo, sampling=Sampling(n=10))
    store = ResultStore(tmp_path / "results")
    run_cells(cells[:1], store, options=RunOptions(device="cpu", models_dir=zoo))
    table, stored, todo = plan_table(cells, store)
    assert (stored, todo) == (1, 1)
    assert table.splitlines()[0].split() == ["model", "attack", "eps", "n", "cell", "state", "estimate"]
    assert "estimated cost of the cells to run:" in table.splitlines()[-1]
    assert cells[0].cell_id[:12] in table and "stored" in table and "to run" in table
    assert plan_table(cells, store, force=True)[1:] == (0, 2)


# `rib run` in a subprocess that SIGKILLs itself right after its first cell has landed in the store: the kill
# comes mid-run at a known point, on a fast or a loaded machine alike
_KILL_AFTER_FIRST_CELL = """
import os, signal, sys
from rib import store
from rib.cli import main
write = store.ResultStore.write
def write_then_die(self, *args, **kwargs):
    out = write(self, *args, **kwargs)
    os.kill(os.getpid(), signal.SIGKILL)
    return out
store.ResultStore.write = write_then_die
sys.exit(main(sys.argv[1:]))
"""


def _comparable(path: Path) -> pd.DataFrame:
    df = load_results(path).drop(columns=["run_id", "created_at", "duration_s"])
    return df.sort_values(["cell_id", "metric", "eps"]).reset_index(drop=True)


def test_killed_run_resumes_to_the_same_results(zoo: Path, tmp_path: Path) -> None:
    grid = tmp_path / "g.toml"
    grid.write_text(GRID.format(extra=""))
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    common = ["run", "--grid", str(grid), "--models-dir", str(zoo), "--quiet", "--device", "cpu"]
    cut = subprocess.run([sys.executable, "-c", _KILL_AFTER_FIRST_CELL, *common, "--results", str(killed)],
                         capture_output=True, text=True, timeout=600)
    assert cut.returncode == -signal.SIGKILL, cut.stderr
    done_before = len(ResultStore(killed).summary_files())
    assert done_before == 1, "the run was killed after its first cell landed"
    for path in ResultStore(killed).summary_files():  # everything on disk is complete and readable
        assert ResultStore(killed).rows_of(_stored_cell(path))
    resumed = subprocess.run([sys.executable, "-m", "rib.cli", *common, "--results", str(killed)],
                             capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stderr.count("stored earlier") == done_before
    full = subprocess.run([sys.executable, "-m", "rib.cli", *common, "--results", str(clean)],
                          capture_output=True, text=True, timeout=600)
    assert full.returncode == 0, full.stderr
    pd.testing.assert_frame_equal(_comparable(killed), _comparable(clean))
    assert not list(killed.rglob("*.tmp"))


def _stored_cell(path: Path) -> SimpleNamespace:
    """The identifying fields of the cell a summary file belongs to."""
    import pyarrow.parquet as pq

    row = pq.read_table(path).to_pylist()[0]
    return SimpleNamespace(model=row["model"], dataset=row["dataset"], attack=row["attack"], cell_id=row["cell_id"])


def test_transfer_cells_depend_on_the_surrogate_weights(tmp_path: Path) -> None:
    zoo = tmp_path / "models"
    make_card(zoo, "m-a", seed=0)
    make_card(zoo, "standard", seed=1)
    plain = plan_run("m-a", "pgd-linf", models_dir=zoo)[0]
    assert plain.depends_on == ()
    before = plan_run("m-a", "transfer-pgd-linf", models_dir=zoo)[0]
    assert [role for role, _ in before.depends_on] == ["surrogate"]
    make_card(zoo, "standard", seed=2)  # the surrogate is retrained: its transfer cells must be recomputed
    after = plan_run("m-a", "transfer-pgd-linf", models_dir=zoo)[0]
    assert after.cell_id != before.cell_id
    assert plan_run("m-a", "pgd-linf", models_dir=zoo)[0].cell_id == plain.cell_id
    store = ResultStore(tmp_path / "results")
    with pytest.raises(ConfigError, match="depends on changed"):
        run_cells([before], store, options=RunOptions(models_dir=zoo))
    assert not list((tmp_path / "results").rglob("*.parquet"))


def test_prune_removes_only_cells_the_grid_does_not_plan(tmp_path: Path) -> None:
    zoo = tmp_path / "models"
    make_card(zoo, "m-a", state=trained_tiny_state())
    grid = tmp_path / "g.toml"
    grid.write_text(GRID.format(extra=""))
    store = ResultStore(tmp_path / "results")
    planned = [c for c in plan_grid(str(grid), models_dir=zoo) if c.attack == "fgsm-linf"]
    run_cells(planned, store, options=RunOptions(models_dir=zoo))
    run_cells(plan_run("m-a", "fgsm-linf", models_dir=zoo, sampling=Sampling(n=10)), store,
              options=RunOptions(models_dir=zoo))  # ad hoc: not in the grid
    assert len(store.summary_files()) == 2
    stale = stale_cells(str(grid), "mnist", store, models_dir=zoo)
    assert len(stale) == 1 and "fgsm-linf" in stale[0].name
    store.remove(stale[0])
    assert [r["n"] for r in store.scan().to_pylist() if r["metric"] == "clean_accuracy"] == [40]
    assert len(list((tmp_path / "results").rglob("*.examples.parquet"))) == 1
    with pytest.raises(RibError):
        store.remove(tmp_path / "elsewhere.parquet")


def test_prune_clears_a_dataset_no_card_is_evaluated_on_any_more(tmp_path: Path) -> None:
    zoo = tmp_path / "models"
    card = make_card(zoo, "m-a", dataset="mnist-5k", state=trained_tiny_state())
    store = ResultStore(tmp_path / "results")
    run_cells(plan_run("m-a", "fgsm-linf", dataset="mnist-5k", eps=[0.05, 0.1, 0.2], models_dir=zoo,
                       sampling=Sampling(n=40, seed=0, batch_size=20)), store, options=RunOptions(models_dir=zoo))
    table = tmp_path / "results" / "mnist-5k" / "claims.parquet"
    pd.DataFrame({"claim": ["x"]}).to_parquet(table)
    grid = tmp_path / "g.toml"
    grid.write_text(GRID.format(extra="").replace("datasets.mnist", "datasets.mnist-5k"))
    assert stale_cells(str(grid), "mnist-5k", store, models_dir=zoo) == []  # it is planned (the grid's first group)
    assert stale_tables("mnist-5k", store, models_dir=zoo) == []  # the card is there: its derived tables stay
    assert card.path is not None
    Path(card.path).unlink()  # the model moved away (rib rehome): nothing is planned on mnist-5k any more
    stale = stale_cells(str(grid), "mnist-5k", store, models_dir=zoo)
    assert [p.name.split("-")[0] for p in stale] == ["fgsm"]
    assert stale_tables("mnist-5k", store, models_dir=zoo) == [table]
    store.remove(stale[0])
    store.remove_table(table)
    assert not list((tmp_path / "results").rglob("*.parquet"))
    with pytest.raises(RibError, match="not a derived table"):
        store.remove_table(tmp_path / "elsewhere.parquet")


def test_only_headline_keeps_the_cells_the_headline_rests_on(tmp_path: Path) -> None:
    from rib.engine import headline_cells

    zoo = tmp_path / "zoo"
    make_card(zoo, "tiny-h")
    cells = plan_grid("default", "mnist", models="tiny-h", models_dir=zoo)
    kept = headline_cells(cells)
    got = sorted((c.attack, c.eps if c.after else ()) for c in kept)
    assert got == [("apgd-l2", (1.0,)), ("apgd-l2", (1.5,)), ("apgd-linf", (0.1,)), ("apgd-linf", (0.2,)),
                   ("autoattack-l2", (2.0,)), ("autoattack-linf", (0.3,)), ("pgd-l2", ()), ("pgd-linf", ())]
    ids = {c.cell_id for c in kept}
    assert all(dep in ids for c in kept for _, dep in c.after)  # closed under its cascades
    assert [c for c in cells if c.cell_id in ids] == kept  # in plan order, the grid's own cells
    out = subprocess.run([sys.executable, "-m", "rib.cli", "run", "--grid", "default", "--model", "tiny-h",
                          "--models-dir", str(zoo), "--results", str(tmp_path / "res"), "--only", "headline",
                          "--dry-run"], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert "8 cells, 0 stored, 8 to run" in out.stdout


def test_grid_attack_filter_keeps_each_cascade_whole(tmp_path: Path) -> None:
    from rib.engine import headline_cells, select_attacks

    zoo = tmp_path / "zoo"
    make_card(zoo, "tiny-a")
    cells = plan_grid("default", "mnist", models="tiny-a", models_dir=zoo)
    aa = select_attacks(cells, "autoattack-l2")  # the ensemble and the earlier stages it attacks the survivors of
    assert sorted({c.attack for c in aa}) == ["apgd-l2", "autoattack-l2", "pgd-l2"]
    assert {c.attack for c in aa if c.kind == "metrics"} <= {"autoattack-l2"}
    ids = {c.cell_id for c in aa}
    assert all(dep in ids for c in aa for _, dep in c.after)
    linf = headline_cells(select_attacks(cells, "*-linf"))
    assert sorted(c.attack for c in linf) == ["apgd-linf", "apgd-linf", "autoattack-linf", "pgd-linf"]
    assert {c.cell_id for c in linf} < {c.cell_id for c in headline_cells(cells)}  # the same cells, fewer
    with pytest.raises(ConfigError, match="did you mean"):
        select_attacks(cells, "autoatack-l2")
