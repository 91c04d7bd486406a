"""Checks across cells: a black-box attack that beats every white-box attack is a sign of gradient masking.

Computed from the per-example outcomes in the store, on the examples both kinds attacked at the same eps, and
stored as rows of a derived cell (a ``check`` cell, attack ``sanity-checks``), so they live with the results they
judge.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from typing import Any

import pyarrow.compute as pc

from rib.attacks import ATTACKS
from rib.grid import CHECK_ATTACK
from rib.runtime import provenance, resolve_device
from rib.store import ResultStore, summary_row

__all__ = ["CHECK_ATTACK", "THRESHOLD", "black_box_gaps", "store_black_box_checks"]

THRESHOLD = 0.02  # share of common examples that only the black-box attack fooled


def black_box_gaps(store: ResultStore, dataset: str, model: str) -> list[dict[str, Any]]:
    """Per (norm, eps): the share of examples a black-box attack fooled while every white-box attack failed."""
    summary = store.scan()
    mine = summary.filter(pc.and_(pc.equal(summary["dataset"], dataset), pc.equal(summary["model"], model)))
    cells = {r["cell_id"]: r for r in mine.select(["cell_id", "attack", "norm"]).to_pylist()
             if r["attack"] in ATTACKS}
    if not cells:
        return []
    examples = store.examples(dataset=dataset, model=model)
    examples = examples.filter(pc.is_in(examples["cell_id"], pc.cast(list(cells), "string")))
    # (norm, eps) -> kind -> index -> robust flags of each attack
    outcome: dict[tuple[str, float], dict[str, dict[int, list[bool]]]] = defaultdict(lambda: defaultdict(dict))
    for row in examples.to_pylist():
        cell = cells[row["cell_id"]]
        kind = ATTACKS.get(cell["attack"]).kind
        if kind in ("transfer", "interpretation") or not row["clean_correct"]:
            continue
        outcome[(cell["norm"], row["eps"])][kind].setdefault(row["index"], []).append(row["robust"])
    gaps = []
    for (norm, eps), kinds in sorted(outcome.items()):
        black, white = kinds.get("black-box", {}), kinds.get("white-box", {})
        common = sorted(set(black) & set(white))
        if not common:
            continue
        only_black = sum(1 for i in common if not all(black[i]) and all(white[i]))
        gaps.append({"norm": norm, "eps": eps, "share": only_black / len(common), "n": len(common)})
    return gaps


def store_black_box_checks(store: ResultStore, dataset: str, model: str, card: Any) -> list[dict[str, Any]]:
    """Compute the black-box checks of one model and store them as the rows of a derived cell."""
    gaps = black_box_gaps(store, dataset, model)
    if not gaps:
        return []
    cell_id = hashlib.sha256(json.dumps([dataset, model, card.weights_sha256, gaps], sort_keys=True).encode())
    prov = provenance(resolve_device("cpu"))
    base = {"run_id": "checks", "cell_id": cell_id.hexdigest(), "created_at": prov["created_at"], "model": model,
            "dataset": dataset, "defense": card.defense, "trained_norm": card.trained_norm,
            "trained_eps": float(card.trained_eps), "attack": CHECK_ATTACK, "seed": 0,
            "weights_sha256": card.weights_sha256, "rib_version": prov["rib_version"], "git_sha": prov["git_sha"],
            "torch_version": prov["torch_version"], "device": "cpu", "duration_s": 0.0}
    rows = [summary_row({**base, "norm": g["norm"],
                         "params": json.dumps({"threshold": THRESHOLD, "share": g["share"]})},
                        "flag:black_box_beats_white_box", g["eps"], float(g["share"] > THRESHOLD), g["n"])
            for g in gaps]
    empty: dict[str, list[Any]] = {k: [] for k in ("cell_id", "index", "eps", "clean_correct", "robust", "distance")}
    path = store.summary_path(dataset, model, CHECK_ATTACK, rows[0]["cell_id"])
    for old in path.parent.glob(f"{CHECK_ATTACK}-*.parquet"):  # a newer check replaces the older one
        if old.name != path.name and old.name != path.stem + ".examples.parquet":
            old.unlink()
    store.write(rows, empty, kind="check")
    return rows
