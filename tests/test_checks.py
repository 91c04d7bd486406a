from pathlib import Path

from rib.checks import black_box_gaps, store_black_box_checks
from rib.store import ResultStore
from rib.zoo import ModelCard

from tests.test_store import _row


def _cell(store: ResultStore, cell_id: str, attack: str, robust: list[bool]) -> None:
    n = len(robust)
    store.write([_row(cell_id=cell_id, attack=attack, norm="linf", eps=0.3)],
                {"cell_id": [cell_id] * n, "index": list(range(n)), "eps": [0.3] * n, "clean_correct": [True] * n,
                 "robust": robust, "distance": [0.0] * n})


def test_black_box_beating_white_box_is_flagged(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    _cell(store, "a" * 64, "pgd-linf", [True] * 8 + [False] * 2)
    _cell(store, "b" * 64, "fgsm-linf", [True] * 9 + [False])
    _cell(store, "c" * 64, "square-linf", [True] * 5 + [False] * 5)
    gaps = black_box_gaps(store, "mnist-5k", "m")
    assert gaps == [{"norm": "linf", "eps": 0.3, "share": 0.3, "n": 10}]  # examples 5, 6, 7: only square
    card = ModelCard(id="m", dataset="mnist-5k", arch="tiny", defense="standard", mean=[0.0], std=[1.0],
                     weights_file="m.safetensors", weights_sha256="0" * 64)
    rows = store_black_box_checks(store, "mnist-5k", "m", card)
    assert [(r["metric"], r["value"]) for r in rows] == [("flag:black_box_beats_white_box", 1.0)]
    assert "flag:black_box_beats_white_box" in set(store.scan().column("metric").to_pylist())


def test_no_flag_when_white_box_is_stronger(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    _cell(store, "a" * 64, "pgd-linf", [True] * 5 + [False] * 5)
    _cell(store, "c" * 64, "square-linf", [True] * 8 + [False] * 2)
    assert black_box_gaps(store, "mnist-5k", "m")[0]["share"] == 0.0
