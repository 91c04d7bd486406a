"""Local sequential execution against Ray with single-threaded workers, same cells, same machine.

A grid of 8 cells (4 zoo models × PGD in both norms at the headline eps, 500 images) runs once with the
local executor (one process, torch's default threads) and once on a local Ray instance with one single-threaded
task per core; both print their wall time, and the ratio Ray / local is the number to watch (target ≤ 0.8).
Results go to temporary stores; the two must hold the same numbers. ``--sweep`` attacks every eps of the grid
instead (longer cells). Last, one cell runs locally on one thread and on torch's default threads: the floor that no
executor of single-threaded workers can beat on this machine.

Run: ``python tests/perf/bench_executor.py [--n 500] [--workers 2] [--sweep]``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from rib.data import DEFAULT_DATASET
from rib.engine import RunOptions, Sampling, plan_run
from rib.executors import execute
from rib.grid import grid_spec
from rib.store import ResultStore, load_results

COLUMNS = ["model", "attack", "eps", "metric", "value", "n"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--sweep", action="store_true", help="every eps of the grid instead of the headline eps")
    args = parser.parse_args()
    import ray
    import torch

    spec = grid_spec("default", DEFAULT_DATASET)
    cells = [c for norm in ("linf", "l2") for c in plan_run("standard,adv-linf,ir,lipschitz-1e-1", f"pgd-{norm}",
                                                            eps=None if args.sweep else [spec.headline[norm]],
                                                            sampling=Sampling(n=args.n))]
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        execute(cells, ResultStore(Path(tmp) / "local"), options=RunOptions(device="cpu"))
        local = time.perf_counter() - start
        start = time.perf_counter()
        ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False)
        try:
            execute(cells, ResultStore(Path(tmp) / "ray"), executor="ray", options=RunOptions(device="cpu"))
        finally:
            ray.shutdown()
        remote = time.perf_counter() - start

        def numbers(name: str):
            return load_results(Path(tmp) / name)[COLUMNS].sort_values(COLUMNS[:4]).reset_index(drop=True)

        same = numbers("local").equals(numbers("ray"))
        # the best Ray can do here: one cell's time on one thread against torch's default threads, i.e. how much
        # of a core the default threads waste; with perfect balance and no start-up, ray/local = t1 / (workers*tN)
        threads = torch.get_num_threads()
        timings = {}
        for count in (threads, 1):
            torch.set_num_threads(count)
            start = time.perf_counter()
            execute(cells[-1:], ResultStore(Path(tmp) / f"threads{count}"), options=RunOptions(device="cpu"))
            timings[count] = time.perf_counter() - start
        torch.set_num_threads(threads)
        floor = timings[1] / (args.workers * timings[threads])
    print(f"{len(cells)} cells, n={args.n}, eps {'sweep' if args.sweep else 'headline'}, "
          f"torch {torch.__version__} ({torch.get_num_threads()} threads locally), "
          f"ray {ray.__version__} with {args.workers} single-threaded workers")
    print(f"local sequential {local:7.1f} s")
    print(f"ray              {remote:7.1f} s (Ray start-up included)")
    print(f"ratio ray / local {remote / local:.3f} (target <= 0.8); same numbers: {same}")
    print(f"floor on this machine: one cell takes {timings[1]:.1f} s on 1 thread, {timings[threads]:.1f} s on "
          f"{threads}; no executor of {args.workers} single-threaded workers gets below {floor:.3f}")


if __name__ == "__main__":
    main()
