"""The Ray executor gives the local executor's numbers, resumes, and reports a failing cell while the rest land."""

import importlib.util
from pathlib import Path

import pytest
from rib.engine import RunOptions, Sampling, plan_run
from rib.errors import ConfigError, RibError
from rib.executors import execute
from rib.store import ResultStore, load_results

from tests.helpers import make_card, trained_tiny_state

needs_ray = pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="the ray extra is not installed")
COLUMNS = ["model", "attack", "eps", "metric", "value", "n", "ci_low", "ci_high"]


def _numbers(path: Path):  # type: ignore[no-untyped-def]
    df = load_results(path)
    return df[COLUMNS].sort_values(["model", "attack", "metric", "eps"]).reset_index(drop=True)


@pytest.fixture(scope="module")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("zoo")
    for i, name in enumerate(("tiny-a", "tiny-b")):
        make_card(folder, name, state=trained_tiny_state(seed=i))
    return folder


def test_unknown_executor_and_stray_address(tmp_path: Path, zoo: Path) -> None:
    cells = plan_run("tiny-a", "fgsm-linf", models_dir=zoo, sampling=Sampling(n=10))
    with pytest.raises(ConfigError, match="unknown executor"):
        execute(cells, ResultStore(tmp_path), executor="dask", options=RunOptions(models_dir=zoo))
    with pytest.raises(ConfigError, match="--address goes with --executor ray"):
        execute(cells, ResultStore(tmp_path), address="auto", options=RunOptions(models_dir=zoo))


@needs_ray
def test_ray_gives_the_local_numbers_and_resumes(tmp_path: Path, zoo: Path) -> None:
    import ray

    cells = plan_run("tiny-*", "pgd-linf,fgsm-l2", eps=[0.05, 0.1], models_dir=zoo, sampling=Sampling(n=40))
    execute(cells, ResultStore(tmp_path / "local"), options=RunOptions(device="cpu", models_dir=zoo))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        first = execute(cells, ResultStore(tmp_path / "ray"), executor="ray",
                        options=RunOptions(device="cpu", models_dir=zoo))
        assert [o.skipped for o in first] == [False] * 4
        again = execute(cells, ResultStore(tmp_path / "ray"), executor="ray",
                        options=RunOptions(device="cpu", models_dir=zoo))
        assert [o.skipped for o in again] == [True] * 4
    finally:
        ray.shutdown()
    assert _numbers(tmp_path / "ray").equals(_numbers(tmp_path / "local"))


@needs_ray
def test_a_failing_cell_is_reported_and_the_others_land(tmp_path: Path) -> None:
    import ray

    own = tmp_path / "zoo2"
    make_card(own, "tiny-a", state=trained_tiny_state())
    make_card(own, "tiny-broken", state=trained_tiny_state(seed=1))
    cells = plan_run("tiny-a,tiny-broken", "fgsm-linf", models_dir=own, sampling=Sampling(n=10))
    (own / "mnist" / "tiny-broken.safetensors").write_bytes(b"corrupted")  # fails on the worker
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        with pytest.raises(RibError, match="1 of 2 cells failed"):
            execute(cells, ResultStore(tmp_path / "res"), executor="ray",
                    options=RunOptions(device="cpu", models_dir=own))
    finally:
        ray.shutdown()
    assert set(load_results(tmp_path / "res")["model"]) == {"tiny-a"}
