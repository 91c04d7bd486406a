"""Cost estimates of planned cells, from the stored cells like them."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from rib.engine.cost import COST_COLUMNS, estimate_seconds, plan_table
from rib.grid import Cell
from rib.store import ResultStore


def _reference(*rows: tuple[str, str, int, int, float, str]) -> pd.DataFrame:
    return pd.DataFrame([{"cell_id": f"{model}-{attack}", "model": model, "dataset": "mnist", "attack": attack,
                          "kind": "attack", "metric": "clean_accuracy,robust_accuracy", "n": n, "attacked": attacked,
                          "duration_s": seconds, "device": device} for model, attack, n, attacked, seconds, device in
                         rows], columns=COST_COLUMNS)


def test_a_cascade_stage_is_priced_per_image_it_attacks_without_its_own_model() -> None:
    # two models whose earlier stages left nothing robust (a second each), two robust ones (about 5 s per image)
    reference = _reference(("weak-a", "autoattack-linf", 200, 0, 1.0, "cpu"),
                           ("weak-b", "autoattack-linf", 200, 0, 1.0, "cpu"),
                           ("robust-a", "autoattack-linf", 200, 180, 900.0, "cpu"),
                           ("robust-b", "autoattack-linf", 200, 150, 600.0, "cpu"))
    stage = Cell(model="new", dataset="mnist", attack="autoattack-linf", eps=(0.3,), n=200, after=(("pgd-linf", "x"),))
    assert estimate_seconds(stage, reference) == pytest.approx(200 * (5.0 + 4.0) / 2)  # every image reaching it
    plain = Cell(model="new", dataset="mnist", attack="autoattack-linf", eps=(0.3,), n=200)  # not a cascade stage:
    assert estimate_seconds(plain, reference) == pytest.approx(200 * (0.005 + 3.0) / 2)  # the median per image
    own = Cell(model="robust-a", dataset="mnist", attack="autoattack-linf", eps=(0.3,), n=100,
               after=(("pgd-linf", "x"),))
    assert estimate_seconds(own, reference) == pytest.approx(450.0)  # the model's own stored stage
    unlike = Cell(model="new", dataset="mnist", attack="fmn-linf", eps=(0.3,), n=100)
    assert estimate_seconds(unlike, reference) is None


def test_a_gpu_plan_is_priced_from_gpu_timings_or_says_it_is_not(tmp_path: Path) -> None:
    cell = Cell(model="new", dataset="mnist", attack="pgd-linf", eps=(0.3,), n=100)
    store = ResultStore(tmp_path / "results")
    cpu_only = _reference(("a", "pgd-linf", 100, 100, 50.0, "cpu"))
    total = plan_table([cell], store, reference=cpu_only, device="cuda")[0].splitlines()[-1]
    assert total == "estimated cost of the cells to run: 50 s (priced from cells timed on cpu: none stored ran on cuda)"
    both = _reference(("a", "pgd-linf", 100, 100, 50.0, "cpu"), ("b", "pgd-linf", 100, 100, 2.0, "cuda"))
    assert plan_table([cell], store, reference=both, device="cuda")[0].splitlines()[-1].endswith(": 2 s")
    assert plan_table([cell], store, reference=both, device="cpu")[0].splitlines()[-1].endswith(": 50 s")
