"""Cost estimates of planned cells, from the stored cells like them."""

from __future__ import annotations

import pandas as pd
import pytest
from rib.engine.cost import COST_COLUMNS, estimate_seconds
from rib.grid import Cell


def _reference(*rows: tuple[str, str, int, int, float]) -> pd.DataFrame:
    return pd.DataFrame([{"cell_id": f"{model}-{attack}", "model": model, "dataset": "mnist", "attack": attack,
                          "kind": "attack", "metric": "clean_accuracy,robust_accuracy", "n": n, "attacked": attacked,
                          "duration_s": seconds} for model, attack, n, attacked, seconds in rows], columns=COST_COLUMNS)


def test_a_cascade_stage_is_priced_per_image_it_attacks_without_its_own_model() -> None:
    # two models whose earlier stages left nothing robust (a second each), two robust ones (about 5 s per image)
    reference = _reference(("weak-a", "autoattack-linf", 200, 0, 1.0), ("weak-b", "autoattack-linf", 200, 0, 1.0),
                           ("robust-a", "autoattack-linf", 200, 180, 900.0),
                           ("robust-b", "autoattack-linf", 200, 150, 600.0))
    stage = Cell(model="new", dataset="mnist", attack="autoattack-linf", eps=(0.3,), n=200, after=(("pgd-linf", "x"),))
    assert estimate_seconds(stage, reference) == pytest.approx(200 * (5.0 + 4.0) / 2)  # every image reaching it
    plain = Cell(model="new", dataset="mnist", attack="autoattack-linf", eps=(0.3,), n=200)  # not a cascade stage:
    assert estimate_seconds(plain, reference) == pytest.approx(200 * (0.005 + 3.0) / 2)  # the median per image
    own = Cell(model="robust-a", dataset="mnist", attack="autoattack-linf", eps=(0.3,), n=100,
               after=(("pgd-linf", "x"),))
    assert estimate_seconds(own, reference) == pytest.approx(450.0)  # the model's own stored stage
    unlike = Cell(model="new", dataset="mnist", attack="fmn-linf", eps=(0.3,), n=100)
    assert estimate_seconds(unlike, reference) is None
