"""Cell ids are content hashes: the committed results stay addressable by what the default grid plans today."""

from pathlib import Path

from rib.runner import plan_grid
from rib.store import ResultStore

RESULTS = Path(__file__).resolve().parents[1] / "results"

# full cell ids read from the committed results/ (the ``cell_id`` column of each summary file)
KNOWN = {  # (model, attack or metric source, kind) -> cell id; the transfer cell has a surrogate dependency
    ("adv-l2", "fgsm-linf", "attack"): "927137a461af2265e61088ff730d98f049e628bd27380d4f8765d43160a269e1",
    ("adv-l2", "transfer-pgd-linf", "attack"): "bcaab62cb60ae37286eb84bbaa25aa758b159d790a4330b145882b4b53670a1b",
    ("adv-l2", "clean", "metrics"): "aeec25f133a935f9c00a0e0ab35eb9fc705751f525c187f525cc04d105a97373",
    ("standard", "topk-cam-linf", "metrics"): "7f25eca718a6c4ed76759fe88e9fee1d386902c0c0cf39a1fb57e62252dcf686",
}


def test_the_default_grid_plans_exactly_the_committed_cells() -> None:
    cells = plan_grid("default", "mnist-5k")
    stored = ResultStore(RESULTS).cell_files("mnist-5k")
    missing = [c.describe() for c in cells if c.cell_id[:20] not in stored]
    assert not missing, f"planned cells with no committed result file (cell ids changed?): {missing[:5]}"
    assert {c.kind for c in cells} == {"attack", "metrics"}
    for key, cell_id in KNOWN.items():
        assert cell_id in {c.cell_id for c in cells if (c.model, c.attack, c.kind) == key}, key
