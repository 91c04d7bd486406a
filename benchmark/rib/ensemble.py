"""The headline robust accuracy: the per-example worst case over every attack run at an eps, counted over the
examples that faced the full ensemble (Croce & Hein 2020; RobustBench).

An *ensemble* cell (AutoAttack, standard version) runs as the last stage of a cascade: cheaper attacks first on
all ``n`` examples of the headline's subset, AutoAttack then only on the examples still robust after them. Its
per-example table lists every example of the subset: those it attacked, and those it did not because an earlier
stage had already fooled them (``cascaded`` true, robust false). An example fooled earlier is non-robust whatever
AutoAttack would have said, so the worst case is exact, and each example of the subset faced the full ensemble.

Where no ensemble cell ran at an eps, the worst case is taken over every example some attack tried; such numbers
are marked ``ensemble = False`` and are never a headline.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
import torch
from torch import nn

from rib.attacks.base import ATTACKS, Attack, AttackResult
from rib.errors import ConfigError
from rib.evaluation import predict
from rib.stats import wilson_interval

WORST_CASE_COLUMNS = ["model", "norm", "eps", "value", "n", "ci_low", "ci_high", "attacks", "ensemble"]
ROBUSTNESS_KINDS = ("white-box", "black-box", "transfer", "ensemble")  # attack kinds that can lower robust accuracy
ATTACK_CELL_METRICS = ("clean_accuracy", "robust_accuracy")


def robustness_cells(summary: pd.DataFrame) -> pd.DataFrame:
    """One row per stored robustness cell (cell_id, model, attack, norm, kind) of the summary rows ``summary``."""
    rows = summary[summary["metric"].isin(ATTACK_CELL_METRICS)]
    kinds = {a: ATTACKS.get(a).kind if a in ATTACKS else "" for a in rows["attack"].unique()}
    rows = rows.assign(kind=rows["attack"].map(kinds))
    return rows[rows["kind"].isin(ROBUSTNESS_KINDS)].drop_duplicates("cell_id")[
        ["cell_id", "model", "attack", "norm", "kind"]]


def cascade_survivors(prior: pd.DataFrame, universe: Sequence[int], eps: float, *,
                      stages: Sequence[str] = ()) -> torch.Tensor:
    """Indices of ``universe`` that every earlier stage left robust at ``eps`` (clean-correct and not fooled).

    ``prior`` holds the per-example rows (cell_id, index, eps, clean_correct, robust) of the earlier stages'
    cells; each stage must have tried every example of ``universe`` at ``eps``, else the cascade would skip an
    example that no stage tried.
    """
    at = prior[(prior["eps"] - eps).abs() < 1e-9]
    wanted = set(int(i) for i in universe)
    for cell_id, rows in at.groupby("cell_id"):
        missing = wanted - set(rows["index"].astype(int))
        if missing:
            name = dict(zip(prior["cell_id"], prior.get("attack", prior["cell_id"]), strict=False)).get(cell_id, "")
            raise ConfigError(f"cascade stage {name or str(cell_id)[:12]} did not try {len(missing)} of the "
                              f"{len(wanted)} examples at eps {eps:g} (its n is smaller than the ensemble's)")
    if at["cell_id"].nunique() < len(stages):
        raise ConfigError(f"cascade at eps {eps:g}: {len(stages)} earlier stages planned, "
                          f"{at['cell_id'].nunique()} stored")
    at = at[at["index"].isin(wanted)]
    robust = at.groupby("index")["robust"].all() if len(at) else pd.Series(dtype=bool)
    keep = [i for i in sorted(wanted) if bool(robust.get(i, True))]
    return torch.tensor(keep, dtype=torch.long)


def worst_case(examples: pd.DataFrame, cells: pd.DataFrame) -> pd.DataFrame:
    """Per (model, norm, eps): the worst case over attacks, its n, 95% Wilson interval, attack count and whether
    it is at ensemble strength.

    ``examples``: per-example rows (cell_id, index, eps, robust, and ``cascaded`` where known). ``cells``: one row
    per robustness cell (cell_id, model, attack, norm, kind); cells of kind ``ensemble`` define the subset.
    """
    ex = examples.merge(cells[["cell_id", "model", "attack", "norm", "kind"]], on="cell_id")
    if ex.empty:
        return pd.DataFrame(columns=WORST_CASE_COLUMNS)
    keys = ["model", "norm", "eps"]
    out = []
    for (model, norm, eps), group in ex.groupby(keys, sort=True):
        per_example = group.groupby("index")["robust"].all()
        ensemble_idx = group.loc[group["kind"] == "ensemble", "index"].unique()
        at_strength = len(ensemble_idx) > 0
        if at_strength:
            per_example = per_example.loc[sorted(int(i) for i in ensemble_idx)]
        k, n = int(per_example.sum()), len(per_example)
        lo, hi = wilson_interval(k, n)
        out.append({"model": model, "norm": norm, "eps": float(eps), "value": k / n, "n": n, "ci_low": lo,
                    "ci_high": hi, "attacks": int(group["attack"].nunique()), "ensemble": at_strength})
    return pd.DataFrame(out, columns=WORST_CASE_COLUMNS)


def attack_survivors(attack: Attack, model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float,
                     alive: torch.Tensor, *, seed: int = 0, batch_size: int = 500,
                     progress: bool = False) -> AttackResult:
    """The last stage of a cascade: ``attack`` runs at ``eps`` only on the examples ``alive`` marks (correctly
    classified and not fooled by an earlier stage); the other correctly classified ones count as fooled and are
    marked in ``extras["cascaded"]`` (their distance is unknown: NaN); the attack's own extras are kept."""
    clean_correct = predict(model, x, batch_size) == y
    alive = alive.to(torch.bool) & clean_correct
    n = len(x)
    robust = torch.zeros(n, 1, dtype=torch.bool)
    distance = torch.where(clean_correct, torch.tensor(float("nan")), torch.tensor(0.0))
    x_adv = x.clone()
    idx = alive.nonzero().flatten()
    extras: dict[str, Any] = {}
    if len(idx):
        sub = attack(model, x[idx], y[idx], [eps], seed=seed, batch_size=batch_size, progress=progress)
        robust[idx] = sub.robust
        distance[idx] = sub.distance
        x_adv[idx] = sub.x_adv
        extras.update(sub.extras)  # e.g. AutoAttack's own warnings
    cascaded = clean_correct & ~alive
    return AttackResult([float(eps)], clean_correct, robust, distance, x_adv,
                        {**extras, "cascaded": cascaded, "attacked": len(idx)})
