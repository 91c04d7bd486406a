"""What the default grid cost, from the stored ``duration_s`` of its cells: per attack, per model and in all.

Nothing runs: the grid is planned for the zoo's current weights and each planned cell's rows are read from the
store. A metric cell on an attack's adversarial inputs that an attack cell of the same run made (``rib.runner.
reused_inputs``) counts that attack's time in its own ``duration_s``; it is subtracted here so no second is
counted twice. Say whether the cores were idle while the grid ran: a cell timed beside other work is an upper
bound of its cost.

Run: ``python tests/perf/grid_cost.py [--results results] [--dataset mnist] [--grid default] [--models 'boopathy-*']
[--by-sample]``. ``--by-sample`` prints, per model, the minutes of each image set: rib's own sample, an authors'
image set, and the authors' protocol on it (a ``protocol`` attack) apart from rib's worst case on the same images.
"""

from __future__ import annotations

import argparse
import fnmatch
from collections import defaultdict

from rib.attacks import has_role
from rib.engine import plan_grid, reused_inputs
from rib.grid import Cell
from rib.metric_cells import adversarial_key
from rib.store import ResultStore


def _image_set(cell: Cell) -> str:
    """Which images a cell ran on, and whether it is an authors' protocol: "rib's sample", "SAMPLE" or
    "SAMPLE protocol"."""
    if not cell.sample:
        return "rib's sample"
    return f"{cell.sample} protocol" if has_role(cell.attack, "protocol") else cell.sample


def grid_seconds(grid: str, dataset: str, results: str, models: str = "*", by_sample: bool = False
                 ) -> tuple[dict[tuple[str, str], float], list[str], int]:
    """(seconds per (model, attack or metrics source), cells not stored, cells planned) for ``grid`` in
    ``results``; a metric cell's source is written ``metrics<-SOURCE``. ``models``: a wildcard on model ids;
    ``by_sample``: key on (model, image set) instead (see ``_image_set``)."""
    cells = [c for c in plan_grid(grid, dataset) if fnmatch.fnmatchcase(c.model, models)]
    store = ResultStore(results)
    reused = reused_inputs(cells)
    made: dict[str, float] = {}
    seconds: dict[tuple[str, str], float] = defaultdict(float)
    missing = []
    for cell in cells:
        rows = store.stored_rows(cell)
        if rows is None:
            missing.append(cell.describe())
            continue
        took = float(rows[0]["duration_s"])
        key = adversarial_key(cell)
        if cell.kind == "attack" and key in reused:
            made[key] = took
        if cell.kind == "metrics":
            took = max(0.0, took - made.get(key, 0.0))
        if by_sample:
            seconds[(cell.model, _image_set(cell))] += took
        elif cell.kind == "metrics":
            seconds[(cell.model, f"metrics<-{cell.attack}")] += took
        else:
            seconds[(cell.model, cell.attack)] += took
    return seconds, missing, len(cells)


def _table(totals: dict[str, float], total: float) -> str:
    return "\n".join(f"  {name:28s} {s / 60:8.1f} min  {100 * s / total:5.1f}%"
                     for name, s in sorted(totals.items(), key=lambda t: -t[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--results", default="results")
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--grid", default="default")
    parser.add_argument("--models", default="*", help="a wildcard on model ids, e.g. 'boopathy-*'")
    parser.add_argument("--by-sample", action="store_true",
                        help="per model, the minutes on each image set (a markdown table)")
    args = parser.parse_args()
    seconds, missing, planned = grid_seconds(args.grid, args.dataset, args.results, args.models, args.by_sample)
    if args.by_sample:
        sets = sorted({s for _, s in seconds})
        print("| model | " + " | ".join(sets) + " |")
        print("|---|" + "---|" * len(sets))
        for model in sorted({m for m, _ in seconds}):
            print(f"| `{model}` | " + " | ".join(f"{seconds.get((model, s), 0.0) / 60:.1f} min" for s in sets) + " |")
        print(f"{planned - len(missing)} of {planned} planned cells stored")
        return
    total = sum(seconds.values()) or float("nan")
    by_attack: dict[str, float] = defaultdict(float)
    by_model: dict[str, float] = defaultdict(float)
    for (model, attack), s in seconds.items():
        by_attack[attack] += s
        by_model[model] += s
    print(f"grid {args.grid!r} on {args.dataset}: {planned - len(missing)} of {planned} planned cells stored in "
          f"{args.results}; {total / 60:.1f} min in all (the sum of their duration_s)")
    print("by attack (metrics<-X: metric cells on X's inputs):")
    print(_table(by_attack, total))
    print("by model:")
    print(_table(by_model, total))
    if missing:
        print(f"{len(missing)} planned cells not stored, not counted, among them:")
        print("\n".join(f"  {m}" for m in missing[:10]))


if __name__ == "__main__":
    main()
