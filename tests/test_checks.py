from pathlib import Path

from rib.checks import black_box_gaps, pgd_gaps, store_checks
from rib.store import ResultStore
from rib.zoo import ModelCard

from tests.test_store import _row


def _cell(store: ResultStore, cell_id: str, attack: str, robust: list[bool],
          cascaded: list[bool] | None = None) -> None:
    n = len(robust)
    cols = {"cell_id": [cell_id] * n, "index": list(range(n)), "eps": [0.3] * n, "clean_correct": [True] * n,
            "robust": robust, "distance": [0.0] * n}
    if cascaded is not None:
        cols["cascaded"] = cascaded
    store.write([_row(cell_id=cell_id, attack=attack, norm="linf", eps=0.3)], cols)


CARD = ModelCard(id="m", dataset="mnist-5k", arch="tiny", defense="standard", mean=[0.0], std=[1.0],
                 weights_file="m.safetensors", weights_sha256="0" * 64)


def test_black_box_beating_white_box_is_flagged(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    _cell(store, "a" * 64, "pgd-linf", [True] * 8 + [False] * 2)
    _cell(store, "b" * 64, "fgsm-linf", [True] * 9 + [False])
    _cell(store, "c" * 64, "square-linf", [True] * 5 + [False] * 5)
    gaps = black_box_gaps(store, "mnist-5k", "m")
    assert gaps == [{"norm": "linf", "eps": 0.3, "share": 0.3, "n": 10}]  # examples 5, 6, 7: only square
    rows = store_checks(store, "mnist-5k", "m", CARD)
    assert [(r["metric"], r["value"]) for r in rows] == [("flag:black_box_beats_white_box", 1.0)]
    assert "flag:black_box_beats_white_box" in set(store.scan().column("metric").to_pylist())
    stored = sorted(tmp_path.joinpath("mnist-5k", "m").glob("sanity-checks-*"))
    before = [(p.read_bytes(), p.stat().st_mtime_ns, p.stat().st_ino) for p in stored]
    again = store_checks(store, "mnist-5k", "m", CARD)  # the same checks again: the stored files stay untouched
    assert stored and [(r["cell_id"], r["value"]) for r in again] == [(r["cell_id"], r["value"]) for r in rows]
    assert sorted(tmp_path.joinpath("mnist-5k", "m").glob("sanity-checks-*")) == stored
    assert [(p.read_bytes(), p.stat().st_mtime_ns, p.stat().st_ino) for p in stored] == before
    _cell(store, "e" * 64, "square-linf", [True] * 4 + [False] * 6)  # a new gap: a new check cell replaces the old
    store_checks(store, "mnist-5k", "m", CARD)
    assert not any(p.exists() for p in stored) and any(tmp_path.joinpath("mnist-5k", "m").glob("sanity-checks-*"))


def test_no_flag_when_white_box_is_stronger(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    _cell(store, "a" * 64, "pgd-linf", [True] * 5 + [False] * 5)
    _cell(store, "c" * 64, "square-linf", [True] * 8 + [False] * 2)
    assert black_box_gaps(store, "mnist-5k", "m")[0]["share"] == 0.0


def test_autoattack_is_neither_side_of_the_black_box_check(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    _cell(store, "a" * 64, "pgd-linf", [True] * 10)
    _cell(store, "c" * 64, "square-linf", [True] * 10)
    _cell(store, "d" * 64, "autoattack-linf", [False] * 10)  # it contains Square: not a black-box win
    assert black_box_gaps(store, "mnist-5k", "m")[0]["share"] == 0.0


def test_a_strong_attack_beating_pgd_flags_pgd_unreliable(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    _cell(store, "a" * 64, "pgd-linf", [True] * 10 + [False] * 10)
    # AutoAttack as a cascade stage after PGD: it attacked only PGD's 10 survivors and fooled 2 of them
    _cell(store, "d" * 64, "autoattack-linf", [True] * 8 + [False] * 12, cascaded=[False] * 10 + [True] * 10)
    assert pgd_gaps(store, "mnist-5k", "m") == [{"norm": "linf", "eps": 0.3, "share": 0.2, "n": 10}]
    rows = store_checks(store, "mnist-5k", "m", CARD)
    assert [(r["metric"], r["value"]) for r in rows] == [("flag:pgd_unreliable", 1.0)]


def test_pgd_is_reliable_when_strong_attacks_find_nothing_more(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    _cell(store, "a" * 64, "pgd-linf", [True] * 10 + [False] * 10)
    _cell(store, "b" * 64, "apgd-ce-linf", [True] * 10 + [False] * 10)
    _cell(store, "d" * 64, "autoattack-linf", [True] * 10 + [False] * 10, cascaded=[False] * 10 + [True] * 10)
    assert pgd_gaps(store, "mnist-5k", "m") == [{"norm": "linf", "eps": 0.3, "share": 0.0, "n": 10}]
    rows = store_checks(store, "mnist-5k", "m", CARD)
    assert [(r["metric"], r["value"]) for r in rows] == [("flag:pgd_unreliable", 0.0)]


def test_cascaded_rows_count_as_not_attacked(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    _cell(store, "a" * 64, "pgd-linf", [True] * 10)
    _cell(store, "d" * 64, "autoattack-linf", [False] * 10, cascaded=[True] * 10)  # attacked none of them
    assert pgd_gaps(store, "mnist-5k", "m") == []
