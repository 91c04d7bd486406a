"""What ensemble strength at every eps adds to the default grid, per model, on this machine.

For each zoo model and norm: the default grid's PGD cell (every eps, on the ensemble's images), then the chained
ensemble cascade of the grid (APGD-CE + APGD-T at the eps off the headline, AutoAttack at the headline, each on
what PGD left robust there and what the ensemble at the next smaller eps did not fool), timed cell by cell. The
old grid ran the ensemble at the headline eps only: the ratio (all ensemble cells) / (the headline's) is what the
sweep costs on top. Run on idle cores.

Run: ``python tests/perf/bench_eps_sweep.py [--models adv-linf,standard] [--n 200] [--dataset mnist]``. With
``--results DIR`` nothing runs: the same cells' stored ``duration_s`` are read from that store (as ``rib run --grid
default`` measured them; say whether its cores were idle).
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time

import torch
from rib.engine import RunOptions, plan_grid, run_cells
from rib.grid import Cell, grid_spec
from rib.store import ResultStore


def _cells(model: str, dataset: str, n: int) -> list:
    cells = [c for c in plan_grid("default", dataset, models=model) if c.kind == "attack"
             and (c.after or (c.attack.startswith("pgd-") and c.n >= n))]
    return [c for c in cells if c.n == n or not c.after]


def _attacked(rows: list[dict]) -> float:
    """The share of its images a cell attacked itself (a cascade stage's ``cascade_attacked``; 1 for any other)."""
    return float(next((r["value"] for r in rows if r["metric"] == "cascade_attacked"), 1.0))


def stored_seconds(model: str, dataset: str, n: int, results: str) -> list[tuple[Cell, float, float]]:
    """(cell, stored duration_s, share of its images attacked) of the same cells, read from ``results``; NaN for a
    cell not stored there yet."""
    store, out = ResultStore(results), []
    for cell in _cells(model, dataset, n):
        rows = store.stored_rows(cell)
        if rows is None:  # not run yet (a grid still running): listed, left out of the sums
            out.append((cell, math.nan, math.nan))
            continue
        out.append((cell, float(rows[0]["duration_s"]), _attacked(rows)))
    return out


def sweep_seconds(model: str, dataset: str, n: int) -> list[tuple[Cell, float, float]]:
    """(cell, seconds, share of its images attacked) of the model's PGD and ensemble cascade cells."""
    out = []
    with tempfile.TemporaryDirectory() as folder:
        store = ResultStore(folder)
        for cell in _cells(model, dataset, n):
            start = time.perf_counter()
            outcome = run_cells([cell], store, options=RunOptions(device="cpu"))[0]
            out.append((cell, time.perf_counter() - start, _attacked(outcome.rows)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", default="adv-linf,standard")
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--n", type=int, default=None, help="the ensemble's n (default: the grid's)")
    parser.add_argument("--results", default=None, help="read the cells' stored duration_s from this store instead")
    args, _ = parser.parse_known_args()
    n = args.n or max(int(g.get("n", 0)) for g in grid_spec("default", args.dataset).attacks if g.get("after"))
    print(f"torch threads: {torch.get_num_threads()}; ensemble n = {n}")
    for model in args.models.split(","):
        rows = (stored_seconds(model, args.dataset, n, args.results) if args.results
                else sweep_seconds(model, args.dataset, n))
        for cell, seconds, attacked in rows:
            print(f"  {cell.describe():70s} " + ("not stored yet" if math.isnan(seconds) else
                                                 f"{seconds:8.1f} s  (attacked {100 * attacked:5.1f}% of its images)"))
        stored = [(cell.attack, s) for cell, s, _ in rows if not math.isnan(s)]
        missing = len(rows) - len(stored)
        headline = sum(s for attack, s in stored if attack.startswith("autoattack-"))
        sweep = sum(s for attack, s in stored if attack.startswith("apgd-"))
        partial = f" (partial: {missing} cells not stored yet)" if missing else ""
        print(f"{model}: ensemble at the headline {headline:.1f} s, at the other eps {sweep:.1f} s: the sweep adds "
              f"{sweep / headline if headline else float('nan'):.2f}x the headline's cost{partial}")


if __name__ == "__main__":
    main()
