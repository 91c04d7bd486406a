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

from rib.attacks.base import ATTACKS, Attack, AttackResult, AttackRun, has_role
from rib.eps import at_eps
from rib.errors import ConfigError
from rib.evaluation import predict
from rib.stats import sample_of, wilson_interval

WORST_CASE_COLUMNS = ["model", "norm", "eps", "value", "n", "ci_low", "ci_high", "clean", "attacks", "ensemble"]
ROBUSTNESS_KINDS = ("white-box", "black-box", "transfer", "ensemble")  # attack kinds that can lower robust accuracy
ATTACK_CELL_METRICS = ("clean_accuracy", "robust_accuracy")


def row_samples(summary: pd.DataFrame) -> pd.Series:
    """The sample each summary row was measured on: "" for rib's own, else an authors' image set's name (read from
    the row's params JSON, where a cell on another sample records it)."""
    if summary.empty or "params" not in summary:
        return pd.Series("", index=summary.index, dtype=object)
    return summary["params"].map(sample_of)


def robustness_cells(summary: pd.DataFrame, sample: str = "") -> pd.DataFrame:
    """One row per stored robustness cell (cell_id, model, attack, norm, kind) of the summary rows ``summary`` on
    ``sample`` (default rib's own: a worst case never mixes image sets)."""
    rows = summary[summary["metric"].isin(ATTACK_CELL_METRICS)]
    rows = rows[row_samples(rows) == sample]
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
    at = prior[at_eps(prior["eps"], eps)]
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


def worst_case_examples(examples: pd.DataFrame, cells: pd.DataFrame) -> pd.DataFrame:
    """Per (model, norm, eps, index) of the common image set: whether the image was clean-correct and survived every
    attack there (``robust``), and whether the set is at ensemble strength.

    ``examples``: per-example rows (cell_id, index, eps, robust, clean_correct, and ``cascaded`` where known).
    ``cells``: one row per robustness cell (cell_id, model, attack, norm, kind); cells of kind ``ensemble`` define
    the set. A worst case is only taken over one common set of images: the ensemble's where one ran at that eps
    (AutoAttack's where it ran, even beside an APGD cell on more images),
    else the images every attack there tried (their intersection; evaluation samples are nested, so that is the
    smallest attack's sample). An example fooled at a smaller eps counts as fooled at every larger one.
    """
    columns = ["model", "norm", "eps", "index", "clean_correct", "robust", "ensemble", "attacks"]
    ex = examples.merge(cells[["cell_id", "model", "attack", "norm", "kind"]], on="cell_id")
    if ex.empty:
        return pd.DataFrame(columns=columns)
    if "clean_correct" not in ex:
        ex = ex.assign(clean_correct=True)
    out = []
    for (model, norm), by_norm in ex.groupby(["model", "norm"], sort=True):
        fooled_below: set[int] = set()  # fooled by some attack at a smaller eps
        for eps, group in by_norm.groupby("eps", sort=True):
            per_index = group.groupby("index").agg(robust=("robust", "all"), clean_correct=("clean_correct", "all"))
            ensembles = group[group["kind"] == "ensemble"]
            strongest = ensembles[ensembles["attack"].map(lambda a: has_role(str(a), "headline-ensemble")).astype(bool)]
            # the images AutoAttack faced, where it ran: an extra APGD cell on more images must not widen them
            ensemble_idx = (strongest if len(strongest) else ensembles)["index"].unique()
            at_strength = len(ensemble_idx) > 0
            if at_strength:
                common = sorted(int(i) for i in ensemble_idx)
            else:
                tried = [set(rows["index"].astype(int)) for _, rows in group.groupby("cell_id")]
                common = sorted(set.intersection(*tried))
            rows = per_index.loc[common]
            robust = rows["robust"].astype(bool) & ~rows.index.isin(sorted(fooled_below))
            fooled_below |= {int(i) for i in per_index.index[~per_index["robust"].astype(bool).to_numpy()]}
            out.append(pd.DataFrame({"model": model, "norm": norm, "eps": float(eps), "index": rows.index.astype(int),
                                     "clean_correct": rows["clean_correct"].astype(bool).to_numpy(),
                                     "robust": robust.to_numpy(), "ensemble": at_strength,
                                     "attacks": int(group["attack"].nunique())}))
    return pd.concat(out, ignore_index=True)[columns]


def worst_case(examples: pd.DataFrame, cells: pd.DataFrame) -> pd.DataFrame:
    """Per (model, norm, eps): the worst case over attacks on the common image set (``worst_case_examples``), its
    n, 95% Wilson interval, the clean accuracy on the same images, attack count and whether it is at ensemble
    strength."""
    per = worst_case_examples(examples, cells)
    out = []
    for (model, norm, eps), group in per.groupby(["model", "norm", "eps"], sort=True):
        k, n = int(group["robust"].sum()), len(group)
        lo, hi = wilson_interval(k, n)
        out.append({"model": model, "norm": norm, "eps": float(eps), "value": k / n if n else float("nan"),
                    "n": n, "ci_low": lo, "ci_high": hi, "clean": float(group["clean_correct"].mean()),
                    "attacks": int(group["attacks"].iloc[0]), "ensemble": bool(group["ensemble"].iloc[0])})
    return pd.DataFrame(out, columns=WORST_CASE_COLUMNS)


def paired(per_example: pd.DataFrame, left: str, right: str, norm: str, eps: float) -> tuple[pd.Series, pd.Series]:
    """The two models' per-image worst-case outcomes at (norm, eps) on the images both were evaluated on."""
    at = per_example[(per_example["norm"] == norm) & (at_eps(per_example["eps"], eps))]
    a = at[at["model"] == left].set_index("index")["robust"].astype(bool)
    b = at[at["model"] == right].set_index("index")["robust"].astype(bool)
    shared = a.index.intersection(b.index)
    return a.loc[shared], b.loc[shared]


_DEFAULT_RUN = AttackRun()


def attack_survivors(attack: Attack, model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float,
                     alive: torch.Tensor, run: AttackRun = _DEFAULT_RUN) -> AttackResult:
    """The last stage of a cascade: ``attack`` runs at ``eps`` only on the examples ``alive`` marks (correctly
    classified and not fooled by an earlier stage); the other correctly classified ones count as fooled and are
    marked in ``extras["cascaded"]`` (their distance is unknown: NaN); the attack's own extras are kept."""
    clean_correct = predict(model, x, run.batch_size) == y
    alive = alive.to(torch.bool) & clean_correct
    n = len(x)
    robust = torch.zeros(n, 1, dtype=torch.bool)
    distance = torch.where(clean_correct, torch.tensor(float("nan")), torch.tensor(0.0))
    x_adv = x.clone()
    idx = alive.nonzero().flatten()
    extras: dict[str, Any] = {}
    if len(idx):
        sub = attack(model, x[idx], y[idx], [eps], seed=run.seed, batch_size=run.batch_size, progress=run.progress)
        robust[idx] = sub.robust
        distance[idx] = sub.distance
        x_adv[idx] = sub.x_adv
        extras.update(sub.extras)  # e.g. AutoAttack's own warnings
    cascaded = clean_correct & ~alive
    return AttackResult([float(eps)], clean_correct, robust, distance, x_adv,
                        {**extras, "cascaded": cascaded, "attacked": len(idx)})
