"""The engine re-derives committed cells of every kind: an attack cell, an ensemble cascade's last stage, a metrics
cell, the derived check cell and an admission record, recomputed from the committed zoo and compared with what the
committed store holds. Cell ids, check cells and admission records come out exactly. Numbers computed through
gradients come out exactly on the machine that stored them; on another CPU, float rounding in the convolutions can
flip the sign of a near-zero gradient entry, so a single-step attack may differ on a few images of 1,000 and a
metric mean in its sixth digit: those are the tolerances, far inside any interval rib reports."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import torch
from rib.admission import run_checks
from rib.admission.gate import admission_norm
from rib.admission.record import Admission, admission_rows
from rib.checks import store_checks
from rib.engine import RunContext, cascade_inputs, evaluate_cell, plan_grid
from rib.store import ResultStore
from rib.zoo import find_card
from rib.zoo.factory import cached_model

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "results"
MODEL = "standard"  # the cheapest to re-derive: most images fall to the first stage of each cascade


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """The committed grid ran one cell per Ray task on one thread each (its rows say ``cpu:1threads``): float sums
    are only bit-identical in the same order, so the cells are re-derived on one thread too."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def planned() -> list:
    return plan_grid("default", "mnist", models=MODEL)


IMAGES_TOLERANCE = 0.004  # robust accuracy: at most 4 images of 1,000 (float rounding on another CPU)
METRIC_RTOL = 1e-5


def _same(fresh: list[dict], stored: list[dict]) -> None:
    key = ["metric", "eps"]
    a = pd.DataFrame(fresh).sort_values(key).reset_index(drop=True)
    b = pd.DataFrame(stored).sort_values(key).reset_index(drop=True)
    assert a["metric"].tolist() == b["metric"].tolist()
    assert a["cell_id"].unique().tolist() == b["cell_id"].unique().tolist()
    assert a["n"].tolist() == b["n"].tolist()
    for (_, x), (_, y) in zip(a.iterrows(), b.iterrows(), strict=True):
        if str(x["metric"]).endswith("accuracy") or str(x["metric"]).startswith("flag:"):
            assert abs(float(x["value"]) - float(y["value"])) <= IMAGES_TOLERANCE, (x["metric"], x["eps"])
        else:
            assert float(x["value"]) == pytest.approx(float(y["value"]), rel=METRIC_RTOL, nan_ok=True), x["metric"]


@pytest.mark.parametrize("which", [("attack", "fgsm-linf", (0.1, 0.2, 0.3, 0.4)), ("attack", "apgd-linf", (0.4,)),
                                   ("metrics", "clean", (0.0,))])
def test_a_committed_cell_is_re_derived_exactly(planned: list, which: tuple) -> None:
    store = ResultStore(RESULTS)
    # the cheapest metrics cell on clean inputs: alignment, grad-norm, gini-saliency
    cell = next(c for c in planned if (c.kind, c.attack, c.eps) == which and c.sample == ""
                and (c.kind != "metrics" or "alignment" in c.metrics))
    stored = store.stored_rows(cell)
    assert stored is not None, f"{cell.describe()} is not committed"
    ctx = RunContext(torch.device("cpu"))
    rows, _ = evaluate_cell(cell, ctx, prior=cascade_inputs(cell, store))
    _same(rows, stored)


def test_the_check_cell_and_the_admission_record_are_re_derived_exactly(tmp_path: Path) -> None:
    card = find_card(MODEL)
    copy = tmp_path / "results" / "mnist" / MODEL
    shutil.copytree(RESULTS / "mnist" / MODEL, copy)
    stored_checks = [p for p in copy.glob("sanity-checks-*.parquet") if not p.name.endswith(".examples.parquet")]
    before = pd.read_parquet(stored_checks[0])
    rows = store_checks(ResultStore(tmp_path / "results"), "mnist", MODEL, card)
    after = pd.DataFrame(rows)
    assert sorted(after["cell_id"].unique()) == sorted(before["cell_id"].unique())
    pd.testing.assert_frame_equal(after.sort_values(["metric", "norm", "eps"])[["metric", "norm", "eps", "value", "n"]]
                                  .reset_index(drop=True),
                                  before.sort_values(["metric", "norm", "eps"])[["metric", "norm", "eps", "value", "n"]]
                                  .reset_index(drop=True), check_dtype=False)
    admission = next(p for p in (RESULTS / "mnist" / MODEL).glob("admission-*.parquet")
                     if not p.name.endswith(".examples.parquet"))
    stored = pd.read_parquet(admission)
    model = cached_model(card, "cpu", {})
    checks = run_checks(model, card.dataset, norm=admission_norm(card), device=torch.device("cpu"))
    fresh = pd.DataFrame(admission_rows(card, Admission(card.id, card.dataset, card.weights_sha256, checks),
                                        device=torch.device("cpu"), duration=0.0))
    assert fresh["cell_id"].unique().tolist() == stored["cell_id"].unique().tolist()
    assert fresh.sort_values("metric")[["metric", "value", "n"]].reset_index(drop=True).equals(
        stored.sort_values("metric")[["metric", "value", "n"]].reset_index(drop=True))
