"""Cost estimates: what a planned cell will take, priced from the stored cells like it; `rib run --dry-run`'s table."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from rib.errors import RibError
from rib.grid import Cell
from rib.store import ResultStore
from rib.table import format_table

COST_COLUMNS = ["cell_id", "model", "dataset", "attack", "kind", "metric", "n", "attacked", "duration_s", "device"]


def cost_reference(store: ResultStore) -> pd.DataFrame:
    """One row per stored cell of ``store`` (model, dataset, attack, kind, metrics, n, the (image, eps) pairs it
    attacked, duration_s, the kind of device it ran on): what ``estimate_seconds`` reads to price a planned cell.
    A cascade stage attacks only the correct images its earlier stages left robust; any other attack cell, every
    correct one."""
    try:
        rows = store.scan().to_pandas()
    except RibError:
        return pd.DataFrame(columns=COST_COLUMNS)
    if rows.empty:
        return rows
    metrics = rows.groupby("cell_id")["metric"].apply(lambda m: ",".join(sorted(set(m))))
    cells = rows.drop_duplicates("cell_id").set_index("cell_id")
    cells["metric"] = metrics
    cells = cells[cells["duration_s"].astype(float) > 0]
    cells["kind"] = ["attack" if {"clean_accuracy", "robust_accuracy"} & set(m.split(",")) else "metrics"
                     for m in cells["metric"]]
    examples = store.examples().select(["cell_id", "clean_correct", "cascaded"]).to_pandas()
    reached = examples["clean_correct"].astype(bool) & (examples["cascaded"] != True)  # noqa: E712 (null: attacked)
    cells["attacked"] = reached.groupby(examples["cell_id"]).sum().reindex(cells.index)
    cells["attacked"] = cells["attacked"].fillna(cells["n"]).astype(float)
    cells["device"] = cells["device"].astype(str).str.partition(":")[0]  # the kind: cpu, cuda
    return cells.reset_index()[COST_COLUMNS]


def price_reference(results: Path | str) -> pd.DataFrame:
    """The stored cells that price a plan (``cost_reference``): those of ``results``, else, where it holds none,
    those of the committed ``results/`` of the current folder."""
    reference = cost_reference(ResultStore(results))
    if reference.empty and Path("results").is_dir():
        reference = cost_reference(ResultStore("results"))
    return reference


def estimate_seconds(cell: Cell, reference: pd.DataFrame) -> float | None:
    """The cell's cost in seconds, from stored cells like it (same dataset and attack, and for a metrics cell the
    same metrics): their seconds per image, the same model's where stored, else the median over models, times the
    cell's n. None when nothing like it is stored. A cascade stage costs what the images reaching it cost, which
    only the same model's stored stage tells; without it the stage is priced per image it attacks (the median over
    the models' stored stages that attacked any) as if every image reached it: an upper estimate, since the median
    per image of all its images is the price of a model whose earlier stages left nothing to attack."""
    priced = _priced(cell, reference)
    return None if priced is None else priced[0]


def _priced(cell: Cell, reference: pd.DataFrame) -> tuple[float, bool] | None:
    """``estimate_seconds`` and whether it priced a cascade stage as if every image reached it."""
    if reference.empty:
        return None
    like = reference[(reference["dataset"] == cell.dataset) & (reference["attack"] == cell.attack)
                     & (reference["kind"] == cell.kind)]
    if cell.kind == "metrics":
        like = like[like["metric"].map(lambda m: any(name in m for name in cell.metrics))]
    if like.empty:
        return None
    rate = like["duration_s"].astype(float) / like["n"].astype(float)
    mine = rate[like["model"] == cell.model]
    if len(mine):
        return float(mine.median()) * cell.n, False
    reached = like[like["attacked"].astype(float) > 0]
    if cell.after and len(reached):
        per_attacked = reached["duration_s"].astype(float) / reached["attacked"].astype(float)
        return float(per_attacked.median()) * cell.n * len(cell.eps), True
    return float(rate.median()) * cell.n, False


def plan_table(cells: Sequence[Cell], store: ResultStore, force: bool = False,
               reference: pd.DataFrame | None = None, device: str | None = None) -> tuple[str, int, int]:
    """(table, stored, to run) of a plan, as ``rib run --dry-run`` prints it: one row per cell with its state in
    ``store`` (with ``force`` every cell is to run) and, for a cell to run, its estimated cost from the stored
    cells of ``reference`` (``cost_reference``; default: ``store``'s own) that ran on the kind of ``device`` (cpu,
    cuda) where any did, else from all of them, which the total says; the last row sums the estimates."""
    reference = cost_reference(store) if reference is None else reference
    timed_on = ""
    if device and len(reference):
        same = reference[reference["device"] == device]
        if len(same):
            reference = same
        else:
            kinds = ", ".join(sorted(set(reference["device"].astype(str))))
            timed_on = f" (priced from cells timed on {kinds}: none stored ran on {device})"
    rows, total, unknown, stages = [], 0.0, 0, 0
    for c in cells:
        stored = not force and store.has(c.dataset, c.model, c.attack, c.cell_id)
        priced = None if stored else _priced(c, reference)
        est = None if priced is None else priced[0]
        if not stored:
            total, unknown = total + (est or 0.0), unknown + (est is None)
            stages += bool(priced and priced[1])
        rows.append([c.model, c.attack + (" [metrics]" if c.kind == "metrics" else ""),
                     " ".join(f"{e:g}" for e in c.eps), c.n, c.cell_id[:12], "stored" if stored else "to run",
                     "" if stored else "?" if est is None else _duration(est)])
    todo = sum(r[5] == "to run" for r in rows)
    table = format_table(["model", "attack", "eps", "n", "cell", "state", "estimate"], rows)
    note = f" ({unknown} cells with nothing like them stored: not priced)" if unknown else ""
    if stages:
        note += (f" ({stages} cascade stages priced as if every image reached them, an upper estimate: how many "
                 "do is known once the stages before them have run)")
    total_line = f"estimated cost of the cells to run: {_duration(total)}{timed_on}{note}"
    return f"{table}\n{total_line}", len(rows) - todo, todo


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"
