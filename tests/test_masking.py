"""Masking checks that fire on deliberately masked models, and do not fire on their unmasked twin.

The masked models (``tests/masked.py``) share the briefly trained tiny network's weights; each runs through rib's
own pipeline (``run_cells``): PGD and Square at linf 0.3, then AutoAttack as the cascade's last stage, and the
headline is ``rib.ensemble.worst_case`` over the stored per-example tables.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from rib.attacks import ATTACKS
from rib.engine import RunOptions, Sampling, cascade_after, plan_cell, run_cells
from rib.ensemble import worst_case
from rib.store import ResultStore

from tests.helpers import make_card, trained_tiny_state
from tests.masked import MASKED_ARCHS

N, EPS = 30, 0.3
MASKING_FLAGS = {"vanishing_gradients", "ce_saturation", "non_monotone", "large_eps_not_zero",
                 "black_box_beats_white_box", "pgd_unreliable"}


def _evaluate(root: Path, arch: str) -> tuple[set[str], float]:
    """(raised flags, headline worst case) of ``arch`` with the trained tiny weights."""
    models = root / "models"
    card = make_card(models, arch, arch=arch, state=trained_tiny_state())
    pgd = plan_cell(card, "pgd-linf", (EPS,), Sampling(n=N), models_dir=models)
    square = plan_cell(card, "square-linf", (EPS,), Sampling(n=N), models_dir=models)
    aa = cascade_after(plan_cell(card, "autoattack-linf", (EPS,), Sampling(n=N), models_dir=models),
                       ["pgd-linf", "square-linf"], [pgd, square])
    store = ResultStore(root / "results")
    outcomes = run_cells([pgd, square, aa], store, options=RunOptions(device="cpu", models_dir=models))
    raised = {r["metric"].removeprefix("flag:") for o in outcomes for r in o.rows
              if r["metric"].startswith("flag:") and r["value"] == 1.0}
    cells = [pgd, square, aa]
    examples = pd.concat([store.examples_of(c.dataset, c.model, c.attack, c.cell_id).to_pandas() for c in cells])
    table = pd.DataFrame([{"cell_id": c.cell_id, "model": c.model, "attack": c.attack, "norm": "linf",
                           "kind": ATTACKS.get(c.attack).kind} for c in cells])
    (head,) = worst_case(examples, table).itertuples()
    assert head.ensemble and head.n == N
    return raised, float(head.value)


@pytest.fixture(scope="module")
def twin(tmp_path_factory: pytest.TempPathFactory) -> tuple[set[str], float]:
    return _evaluate(tmp_path_factory.mktemp("twin"), "tiny")


def test_the_unmasked_twin_raises_no_masking_flag(twin: tuple[set[str], float]) -> None:
    raised, _ = twin
    assert not raised & MASKING_FLAGS and not any(f.startswith("autoattack_warning") for f in raised), raised


@pytest.mark.parametrize(("arch", "expected"), [
    ("tiny-saturated", {"ce_saturation"}),
    ("tiny-quantized", {"vanishing_gradients", "ce_saturation", "black_box_beats_white_box"}),
    ("tiny-noisy", {"autoattack_warning:randomized"}),
])
def test_a_masked_model_raises_flags_and_keeps_its_twins_headline(
        arch: str, expected: set[str], twin: tuple[set[str], float], tmp_path: Path) -> None:
    assert arch in MASKED_ARCHS
    raised, headline = _evaluate(tmp_path, arch)
    print(f"{arch}: flags {sorted(raised)}, headline {headline:.3f} (twin {twin[1]:.3f})")
    assert expected <= raised, raised
    assert abs(headline - twin[1]) <= 0.05
