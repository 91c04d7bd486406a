"""Rows: the only builder of a cell's stored summary rows and per-example columns, with their provenance."""

from __future__ import annotations

import json
import math
from typing import Any

import torch

from rib.attacks import ATTACKS, AttackResult
from rib.grid import Cell
from rib.runtime import provenance
from rib.stats import wilson_interval
from rib.store import summary_row
from rib.zoo import ModelCard


def base_row(cell: Cell, card: ModelCard, norm: str, duration: float, device: torch.device,
             run_id: str) -> dict[str, Any]:
    """The columns every summary row of a cell shares: identity, settings and provenance."""
    base = {"run_id": run_id, "cell_id": cell.cell_id, "model": card.id, "dataset": cell.dataset,
            "defense": card.defense, "trained_norm": card.trained_norm, "trained_eps": float(card.trained_eps),
            "attack": cell.attack, "norm": norm, "seed": cell.seed,
            "params": json.dumps({"attack_params": cell.stored_params, "batch_size": cell.batch_size,
                                  **({"sample": cell.sample} if cell.sample else {})}, sort_keys=True),
            "weights_sha256": card.weights_sha256, "duration_s": round(duration, 3)}
    prov = provenance(device)
    base.update({k: prov[k] for k in ("rib_version", "git_sha", "torch_version", "device", "created_at")})
    return base


def not_applicable_row(base: dict[str, Any], metric: str, eps: float, reason: str) -> dict[str, Any]:
    """A summary row saying ``metric`` cannot be measured on this model: value NaN, n 0, and the reason stored in
    the row's params JSON under ``not_applicable`` (the cell's id does not change)."""
    params = {**json.loads(base["params"]), "not_applicable": reason}
    return summary_row({**base, "params": json.dumps(params, sort_keys=True)}, metric, eps, math.nan, 0)


def not_applicable_reason(row: Any) -> str:
    """The reason a stored row is not applicable ("" for a measured number)."""
    try:
        return str(json.loads(row["params"]).get("not_applicable", ""))
    except (TypeError, ValueError, KeyError):
        return ""


def attack_rows(cell: Cell, card: ModelCard, result: AttackResult, flags: dict[str, bool], duration: float,
          device: torch.device, run_id: str) -> list[dict[str, Any]]:
    attack = ATTACKS.get(cell.attack)
    base = base_row(cell, card, attack.norm_name, duration, device, run_id)
    n = len(result.clean_correct)

    def row(metric: str, eps: float, value: float, count: int, ci: tuple[float, float] | None = None) -> dict:
        return summary_row(base, metric, eps, value, count, ci)

    correct = int(result.clean_correct.sum())
    rows = [row("clean_accuracy", 0.0, correct / n, n, wilson_interval(correct, n))]
    for e, eps in enumerate(result.eps):
        k = int(result.robust[:, e].sum())
        rows.append(row("robust_accuracy", eps, k / n, n, wilson_interval(k, n)))
    if attack.minimum_norm:
        d = result.distance[result.clean_correct]
        finite = d[torch.isfinite(d)]
        median = float(d.median()) if len(d) else math.nan
        rows.append(row("median_distance", 0.0, median, len(d)))
        rows.append(row("attack_found_rate", 0.0, len(finite) / max(len(d), 1), len(d)))
    if "attacked" in result.extras:  # a cascade's last stage: how many examples it attacked itself
        rows.append(row("cascade_attacked", result.eps[0], int(result.extras["attacked"]) / n, n))
    for name, raised in flags.items():
        rows.append(row(f"flag:{name}", 0.0, float(raised), n))
    for kind in result.extras.get("autoattack_warnings", ()):  # pyautoattack's own checks, one row per kind
        rows.append(row(f"flag:autoattack_warning:{kind}", 0.0, 1.0, n))
    return rows


def example_columns(cell: Cell, indices: torch.Tensor, result: AttackResult) -> dict[str, list[Any]]:
    cols: dict[str, list[Any]] = {k: [] for k in ("cell_id", "index", "eps", "clean_correct", "robust", "distance")}
    cascaded = result.extras.get("cascaded")
    if cascaded is not None:
        cols["cascaded"] = []
    for e, eps in enumerate(result.eps):
        if cascaded is not None:
            cols["cascaded"] += cascaded.tolist()
        cols["cell_id"] += [cell.cell_id] * len(indices)
        cols["index"] += indices.tolist()
        cols["eps"] += [float(eps)] * len(indices)
        cols["clean_correct"] += result.clean_correct.tolist()
        cols["robust"] += result.robust[:, e].tolist()
        cols["distance"] += [float(d) for d in result.distance.tolist()]
    return cols
