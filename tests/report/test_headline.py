"""The leaderboard's headline, on a store built by hand: the exact worst case, its n and attack count, over the
ensemble's examples only, with a cell of older weights ignored."""

from __future__ import annotations

from pathlib import Path

from rib.report.board import build_board
from rib.report.tables import StoreView, best_known, cross_norm
from rib.store import ResultStore

from tests.test_store import _row

CURRENT, OLD = "1" * 64, "0" * 64


def _cell(store: ResultStore, cell_id: str, attack: str, fooled: set[int], n: int, *, sha: str = CURRENT,
          cascaded: set[int] | None = None, created: str = "2026-01-02") -> None:
    cascaded = cascaded or set()
    robust = [i not in fooled | cascaded for i in range(n)]
    rows = [_row(cell_id=cell_id, attack=attack, norm="linf", eps=0.0, metric="clean_accuracy", value=1.0, n=n,
                 weights_sha256=sha, created_at=created),
            _row(cell_id=cell_id, attack=attack, norm="linf", eps=0.3, value=sum(robust) / n, n=n,
                 weights_sha256=sha, created_at=created)]
    store.write(rows, {"cell_id": [cell_id] * n, "index": list(range(n)), "eps": [0.3] * n,
                       "clean_correct": [True] * n, "robust": robust, "distance": [0.0] * n,
                       "cascaded": [i in cascaded for i in range(n)]})


def test_headline_is_the_ensemble_worst_case_over_current_weights(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    _cell(store, "a" * 64, "pgd-linf", {0, 1}, 20)  # PGD on 20 images fools {0, 1}
    _cell(store, "b" * 64, "square-linf", {2, 3}, 10)  # Square on the first 10 fools {2, 3}
    _cell(store, "c" * 64, "autoattack-linf", {4}, 10, cascaded={0, 1})  # after PGD, on the first 10: fools {4}
    _cell(store, "d" * 64, "apgd-ce-linf", set(range(10)), 10, sha=OLD, created="2025-01-01")  # older weights
    view = StoreView.load(tmp_path)
    best = best_known(view, "mnist-5k")
    row = best[(best["eps"] == 0.3)].iloc[0]
    assert (row["value"], row["n"], row["attacks"], bool(row["ensemble"])) == (0.5, 10, 3, True)
    board = build_board(view, "mnist-5k", "linf")
    headers, rows = board.plain()
    top = dict(zip(headers, rows[0], strict=True))
    assert board.model_ids == ["m"]
    assert (top["worst case % @ 0.3"], top["n"], top["AutoAttack % @ 0.3"]) == ("50.0", "10", "70.0")
    assert top["95% CI"].startswith("[") and top["95% CI"] != "[50.0, 50.0]"
    assert cross_norm(view, "mnist-5k")[1][0][2] == "50.0"


def test_no_headline_without_the_ensemble(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    _cell(store, "a" * 64, "pgd-linf", {0, 1}, 20)
    headers, rows = build_board(StoreView.load(tmp_path), "mnist-5k", "linf").plain()
    top = dict(zip(headers, rows[0], strict=True))
    assert (top["worst case % @ 0.3"], top["worst % @ 0.3"]) == ("", "≤90.0")  # an upper bound says so, CSV too
