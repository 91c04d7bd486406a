"""Checks across cells, from the per-example outcomes in the store, on the examples both sides attacked at the same
eps (a cascade's ``cascaded`` examples were not attacked by that cell and count for neither side):

- ``black_box_beats_white_box``: a black-box attack fooled more than 2% of the examples every white-box (gradient)
  attack failed on, a sign of gradient masking. AutoAttack (kind ``ensemble``) is on neither side.
- ``pgd_unreliable``: a strong attack (APGD-CE, AutoAttack: ``strong = True``) fooled more than 5% of the examples
  PGD survived; that model's PGD numbers are not to be trusted.

Both are stored as the rows of one derived cell (a ``check`` cell, attack ``sanity-checks``) per model, so they
live with the results they judge.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import pyarrow.compute as pc

from rib.attacks import ATTACKS, attacks_with_role
from rib.flags import describe_flags
from rib.grid import CHECK_ATTACK
from rib.runtime import provenance, resolve_device
from rib.stats import sample_of
from rib.store import ResultStore, summary_row

__all__ = ["CHECK_ATTACK", "CHECK_FLAGS", "PGD_ATTACKS", "PGD_THRESHOLD", "THRESHOLD", "black_box_gaps",
           "pgd_gaps", "store_checks"]

THRESHOLD = 0.02  # share of common examples that only the black-box attack fooled
PGD_THRESHOLD = 0.05  # share of the examples PGD survived that a strong attack fooled
PGD_ATTACKS = tuple(attacks_with_role("reference"))  # the reference PGD of each norm
# what each flag of ``store_checks`` means (the site's glossary and hover texts read these)
CHECK_FLAGS = describe_flags({
    "black_box_beats_white_box": f"a black-box attack fooled more than {THRESHOLD:.0%} of the examples that every "
                                 "white-box (gradient) attack at the same eps failed on: a sign of gradient masking",
    "pgd_unreliable": f"a strong attack (APGD-CE, AutoAttack) fooled more than {PGD_THRESHOLD:.0%} of the examples "
                      "PGD survived at the same eps: this model's PGD numbers are not to be trusted",
})

# (norm, eps) -> side -> index -> robust flags of each attack of that side
Outcomes = dict[tuple[str, float], dict[str, dict[int, list[bool]]]]


def _outcomes(store: ResultStore, dataset: str, model: str, side: Callable[[str], str | None]) -> Outcomes:
    """The stored outcomes of ``model``'s attack cells on rib's own sample, grouped by ``side(attack)`` (None: left
    out); only clean-correct examples the cell attacked itself. Cells on an authors' image set are left out: checks,
    like worst cases, never mix image sets."""
    summary = store.scan()
    mine = summary.filter(pc.and_(pc.equal(summary["dataset"], dataset), pc.equal(summary["model"], model)))
    cells = {r["cell_id"]: r for r in mine.select(["cell_id", "attack", "norm", "params"]).to_pylist()
             if r["attack"] in ATTACKS and side(r["attack"]) is not None and not sample_of(r["params"])}
    outcome: Outcomes = defaultdict(lambda: defaultdict(dict))
    if not cells:
        return outcome
    examples = store.examples(dataset=dataset, model=model)
    examples = examples.filter(pc.is_in(examples["cell_id"], pc.cast(list(cells), "string")))
    for row in examples.to_pylist():
        if not row["clean_correct"] or row.get("cascaded"):
            continue
        cell = cells[row["cell_id"]]
        key = side(cell["attack"])
        assert key is not None
        outcome[(cell["norm"], row["eps"])][key].setdefault(row["index"], []).append(row["robust"])
    return outcome


def _gaps(outcome: Outcomes, reference: str, challenger: str, *, of_survivors: bool) -> list[dict[str, Any]]:
    """Per (norm, eps): the share of examples that every ``reference`` attack survived and some ``challenger``
    attack fooled, among the examples both sides attacked (``of_survivors``: among those the reference
    survived); ``n`` is that denominator."""
    gaps = []
    for (norm, eps), sides in sorted(outcome.items()):
        ref, other = sides.get(reference, {}), sides.get(challenger, {})
        common = sorted(set(ref) & set(other))
        survived = [i for i in common if all(ref[i])]
        base = survived if of_survivors else common
        if not base:
            continue
        beaten = sum(1 for i in survived if not all(other[i]))
        gaps.append({"norm": norm, "eps": eps, "share": beaten / len(base), "n": len(base)})
    return gaps


def _black_box_side(attack: str) -> str | None:
    kind = ATTACKS.get(attack).kind
    return kind if kind in ("white-box", "black-box") else None


def _pgd_side(attack: str) -> str | None:
    if attack in PGD_ATTACKS:
        return "reference"
    return "strong" if ATTACKS.get(attack).strong else None


def black_box_gaps(store: ResultStore, dataset: str, model: str) -> list[dict[str, Any]]:
    """Per (norm, eps): the share of examples a black-box attack fooled while every white-box attack failed."""
    return _gaps(_outcomes(store, dataset, model, _black_box_side), "white-box", "black-box", of_survivors=False)


def pgd_gaps(store: ResultStore, dataset: str, model: str) -> list[dict[str, Any]]:
    """Per (norm, eps): the share of the examples PGD survived that a strong attack (APGD-CE, AutoAttack) fooled."""
    return _gaps(_outcomes(store, dataset, model, _pgd_side), "reference", "strong", of_survivors=True)


def store_checks(store: ResultStore, dataset: str, model: str, card: Any) -> list[dict[str, Any]]:
    """Compute the cross-cell checks of one model and store them as the rows of one derived cell."""
    checks = [("black_box_beats_white_box", THRESHOLD, g) for g in black_box_gaps(store, dataset, model)]
    checks += [("pgd_unreliable", PGD_THRESHOLD, g) for g in pgd_gaps(store, dataset, model)]
    if not checks:  # nothing to check any more: an older check cell is stale
        for old in store.root.joinpath(dataset, model).glob(f"{CHECK_ATTACK}-*.parquet"):
            old.unlink()
        return []
    payload = [dataset, model, card.weights_sha256, [g for _, _, g in checks]]
    if any(name != "black_box_beats_white_box" for name, _, _ in checks):  # older check cells keep their ids
        payload.append([name for name, _, _ in checks])
    cell_id = hashlib.sha256(json.dumps(payload, sort_keys=True).encode())
    prov = provenance(resolve_device("cpu"))
    base = {"run_id": "checks", "cell_id": cell_id.hexdigest(), "created_at": prov["created_at"], "model": model,
            "dataset": dataset, "defense": card.defense, "trained_norm": card.trained_norm,
            "trained_eps": float(card.trained_eps), "attack": CHECK_ATTACK, "seed": 0,
            "weights_sha256": card.weights_sha256, "rib_version": prov["rib_version"], "git_sha": prov["git_sha"],
            "torch_version": prov["torch_version"], "device": "cpu", "duration_s": 0.0}
    rows = [summary_row({**base, "norm": g["norm"],
                         "params": json.dumps({"threshold": threshold, "share": g["share"]})},
                        f"flag:{name}", g["eps"], float(g["share"] > threshold), g["n"])
            for name, threshold, g in checks]
    empty: dict[str, list[Any]] = {k: [] for k in ("cell_id", "index", "eps", "clean_correct", "robust", "distance")}
    path = store.summary_path(dataset, model, CHECK_ATTACK, rows[0]["cell_id"])
    for old in path.parent.glob(f"{CHECK_ATTACK}-*.parquet"):  # a newer check replaces the older one
        if old.name != path.name and old.name != path.stem + ".examples.parquet":
            old.unlink()
    if not path.is_file():  # the id is the checks' content: a stored cell of this id holds these very checks
        store.write(rows, empty, kind="check")
    return rows


