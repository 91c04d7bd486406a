"""Cell ids are content hashes: the committed results stay addressable by what the default grid plans today."""

from pathlib import Path

import pytest
from rib.runner import plan_grid
from rib.store import ResultStore

RESULTS = Path(__file__).resolve().parents[1] / "results"

# full cell ids read from the committed results/ (the ``cell_id`` column of each summary file)
KNOWN = {  # (model, attack or metric source, kind) -> cell id; the transfer cell has a surrogate dependency, the
    # AutoAttack cell is the last stage of the PGD cascade (its id includes its stage's)
    ("adv-l2", "fgsm-linf", "attack"): "8a44aad3d551e1351c6dc6a2d78f458ae84562bd5de9156632fbfaee85ec4183",
    ("adv-l2", "transfer-pgd-linf", "attack"): "7279b9943fe6e46b8c54219c6e43e4ad190cb3768ff3ef268e5db4455e7d94b7",
    ("adv-linf", "autoattack-linf", "attack"): "42ded2c00c3e755bd0c8dc813973189680dd646517a8af0a5c1df4c6a51e9f8b",
    ("adv-l2", "clean", "metrics"): "b3a8618fd316353b19bb7e918352f352a183d563b18deb754bcab2ecd919948f",
    ("standard", "topk-cam-linf", "metrics"): "5a34b710e3d93c35ec7266046d2c2a86cd3351931124fb8380acb3dc7406f1bc",
}


@pytest.mark.xfail(strict=True, reason="results/ lags the grid (ensembles at every eps, revised metrics) until the "
                   "default grid is rerun on the retrained zoo; strict: this fails once they agree, so the mark goes")
def test_the_default_grid_plans_exactly_the_committed_cells() -> None:
    cells = plan_grid("default", "mnist")
    stored = ResultStore(RESULTS).cell_files("mnist")
    missing = [c.describe() for c in cells if c.cell_id[:20] not in stored]
    assert not missing, f"planned cells with no committed result file (cell ids changed?): {missing[:5]}"
    assert {c.kind for c in cells} == {"attack", "metrics"}
    for key, cell_id in KNOWN.items():
        assert cell_id in {c.cell_id for c in cells if (c.model, c.attack, c.kind) == key}, key
