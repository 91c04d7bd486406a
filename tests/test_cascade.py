"""The cascade end to end: AutoAttack attacks only what PGD left robust, the per-example table says so, the worst
case is exact, the cell id follows its stages, and the Ray executor gives the local numbers."""

from __future__ import annotations

import importlib.util
from dataclasses import replace
from pathlib import Path

import pytest
from rib.engine import RunOptions, Sampling, cascade_after, plan_run
from rib.ensemble import robustness_cells, worst_case
from rib.errors import ConfigError
from rib.executors import execute
from rib.store import ResultStore, load_results

from tests.helpers import make_card, trained_tiny_state

EPS = 0.08  # the tiny model keeps a few examples robust here, so AutoAttack has something to attack


@pytest.fixture(scope="module")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("zoo")
    make_card(folder, "tiny-a", state=trained_tiny_state(seed=0))
    return folder


N = 16


def _cells(zoo: Path, n: int = N) -> list:
    pgd, aa = plan_run("tiny-a", "pgd-linf,autoattack-linf", eps=[EPS], models_dir=zoo, sampling=Sampling(n=n))
    return [pgd, cascade_after(aa, ["pgd-linf"], [pgd])]


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory, zoo: Path) -> Path:
    """The cascade run once with the local executor."""
    root = tmp_path_factory.mktemp("local")
    execute(_cells(zoo), ResultStore(root), options=RunOptions(device="cpu", models_dir=zoo))
    return root


def test_cascade_attacks_only_the_survivors_and_the_worst_case_is_exact(local: Path, zoo: Path) -> None:
    tmp_path, store = local, ResultStore(local)
    pgd, aa = _cells(zoo)
    ex_pgd = store.examples_of("mnist", "tiny-a", "pgd-linf", pgd.cell_id).to_pandas()
    ex_aa = store.examples_of("mnist", "tiny-a", "autoattack-linf", aa.cell_id).to_pandas()
    fooled_by_pgd = set(ex_pgd[ex_pgd["clean_correct"] & ~ex_pgd["robust"]]["index"])
    assert fooled_by_pgd, "PGD must fool some examples for the test to mean anything"
    assert set(ex_aa[ex_aa["cascaded"]]["index"]) == fooled_by_pgd  # skipped: exactly what PGD had fooled
    assert not (ex_aa["cascaded"] & ex_aa["robust"]).any()
    attacked = ex_aa[ex_aa["clean_correct"] & ~ex_aa["cascaded"]]
    summary = load_results(tmp_path)
    share = summary[(summary["attack"] == "autoattack-linf") & (summary["metric"] == "cascade_attacked")]["value"]
    assert float(share.iloc[0]) == pytest.approx(len(attacked) / N)
    best = worst_case(store.examples().to_pandas(), robustness_cells(summary)).iloc[0]
    expected = int((ex_pgd.set_index("index")["robust"] & ex_aa.set_index("index")["robust"]).sum())
    assert (best["value"], best["n"], bool(best["ensemble"])) == (expected / N, N, True)
    assert best["value"] <= float(summary[(summary["attack"] == "pgd-linf")
                                          & (summary["metric"] == "robust_accuracy")]["value"].iloc[0])


def test_a_cascade_cell_id_follows_its_stages(zoo: Path) -> None:
    pgd, aa = _cells(zoo)
    other = cascade_after(plan_run("tiny-a", "autoattack-linf", eps=[EPS], models_dir=zoo, sampling=Sampling(n=N))[0],
                          ["pgd-linf"], [replace(pgd, seed=1)])
    assert aa.cell_id != other.cell_id != replace(aa, after=()).cell_id


def test_a_stage_on_fewer_examples_is_refused(zoo: Path) -> None:
    pgd = plan_run("tiny-a", "pgd-linf", eps=[EPS], models_dir=zoo, sampling=Sampling(n=10))[0]
    aa = plan_run("tiny-a", "autoattack-linf", eps=[EPS], models_dir=zoo, sampling=Sampling(n=24))[0]
    with pytest.raises(ConfigError, match=r"not planned at eps 0\.08 on at least 24"):
        cascade_after(aa, ["pgd-linf"], [pgd])


@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="the ray extra is not installed")
def test_ray_runs_the_cascade_in_a_second_wave(tmp_path: Path, local: Path, zoo: Path) -> None:
    import ray

    cells = _cells(zoo)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        execute(cells, ResultStore(tmp_path / "ray"), executor="ray", options=RunOptions(device="cpu", models_dir=zoo))
    finally:
        ray.shutdown()
    cols = ["attack", "metric", "eps", "value", "n"]
    here, remote = (load_results(p)[cols].sort_values(cols).reset_index(drop=True) for p in (local, tmp_path / "ray"))
    assert here.equals(remote)


def test_an_eps_sweep_of_ensembles_attacks_only_the_survivors_of_the_smaller_eps(tmp_path: Path, zoo: Path) -> None:
    from rib.engine import Sampling, cascade_waves, nest_ensembles

    small, large = EPS / 2, EPS
    pgd, apgd = plan_run("tiny-a", "pgd-linf,apgd-linf", eps=[small, large], models_dir=zoo, sampling=Sampling(n=N))
    stages = [cascade_after(replace(apgd, eps=(e,)), ["pgd-linf"], [pgd]) for e in (large, small)]
    cells = nest_ensembles([pgd, *stages])  # listed large first: the chain puts the small eps first
    assert [c.eps[0] for c in cells[1:]] == [small, large]
    assert [a for a, _ in cells[2].after] == ["pgd-linf", "<apgd-linf"]
    assert [len(w) for w in cascade_waves(cells)] == [1, 1, 1]
    store = ResultStore(tmp_path)
    execute(cells, store, options=RunOptions(device="cpu", models_dir=zoo))
    ex_small = store.examples_of("mnist", "tiny-a", "apgd-linf", cells[1].cell_id).to_pandas().set_index("index")
    ex_large = store.examples_of("mnist", "tiny-a", "apgd-linf", cells[2].cell_id).to_pandas().set_index("index")
    fooled_small = set(ex_small.index[ex_small["clean_correct"] & ~ex_small["robust"]])
    assert fooled_small, "the small eps must fool some examples for the test to mean anything"
    # everything fooled at the small eps was skipped at the large one, and robustness only shrinks with eps
    assert fooled_small <= set(ex_large.index[ex_large["cascaded"]])
    assert not (ex_large["robust"] & ~ex_small.loc[ex_large.index, "robust"]).any()
    summary = load_results(tmp_path)
    best = worst_case(store.examples().to_pandas(), robustness_cells(summary)).set_index("eps")
    assert bool(best.loc[large, "ensemble"]) and best.loc[large, "value"] <= best.loc[small, "value"]
