"""Cell ids are content hashes: the committed results stay addressable by what the default grid plans today."""

from pathlib import Path

from rib.runner import plan_grid
from rib.store import ResultStore

RESULTS = Path(__file__).resolve().parents[1] / "results"

# full cell ids read from the committed results/ (the ``cell_id`` column of each summary file)
KNOWN = {  # (model, attack or metric source, kind) -> cell id; the transfer cell has a surrogate dependency, the
    # AutoAttack cell is the last stage of the PGD cascade (its id includes its stage's)
    ("adv-l2", "fgsm-linf", "attack"): "a2f058e440132eaaf3771aa51c6254abd0a18ded2c1a2c7d1d784f701f377f13",
    ("adv-l2", "transfer-pgd-linf", "attack"): "c295d7eb9930e7e5bd89df8649c58af52eda5fe07a6313e03a9dab17efddb72c",
    ("adv-linf", "autoattack-linf", "attack"): "ef12cf56918e37f5a1dcb7779aa32797a2144d5111ffbb084b342a3a1dbd3483",
    ("adv-l2", "clean", "metrics"): "67c88b670c03cea35e3945e4f53d163fc7096232f0bb1ca964579c9acd8836bc",
    ("standard", "topk-cam-linf", "metrics"): "f3c5a45d2beaf73aad3cba09735284b13a8be5edf505a547c730ddc093e1d7cc",
}


def test_the_default_grid_plans_exactly_the_committed_cells() -> None:
    cells = plan_grid("default", "mnist")
    stored = ResultStore(RESULTS).cell_files("mnist")
    missing = [c.describe() for c in cells if c.cell_id[:20] not in stored]
    assert not missing, f"planned cells with no committed result file (cell ids changed?): {missing[:5]}"
    assert {c.kind for c in cells} == {"attack", "metrics"}
    for key, cell_id in KNOWN.items():
        assert cell_id in {c.cell_id for c in cells if (c.model, c.attack, c.kind) == key}, key
