"""Executors for a list of cells: ``local`` (one process, in order) and ``ray`` (one Ray task per cell).

With Ray, each cell runs as a task with 1 CPU (torch limited to one thread) or 1 GPU with ``device="cuda"``.
Workers compute and return a cell's rows and per-example table; the driver writes them through the same
``ResultStore``, so atomicity and resume work exactly as in a local run and workers need no shared filesystem.
A failing cell is retried (``retries`` times), then reported; every other cell still lands.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from tqdm import tqdm

from rib.admission.gate import admit_cells
from rib.engine import (
    CellOutcome,
    RunContext,
    RunOptions,
    add_black_box_checks,
    cascade_inputs,
    cascade_waves,
    evaluate_cell,
    run_cells,
    stored_outcome,
)
from rib.errors import ConfigError, RibError
from rib.grid import Cell
from rib.runtime import resolve_device
from rib.store import ResultStore
from rib.zoo.catalog import ModelDirs

EXECUTORS = ("local", "ray")
_DEFAULTS, _CPU = RunOptions(), RunOptions(device="cpu")


@dataclass
class FailedCell:
    cell: Cell
    error: str


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError("--executor ray needs Ray: pip install 'rib[ray]'") from None
    return ray


_WORKER_MODELS: dict[str, Any] = {}  # a Ray worker process runs many tasks: load each model once per worker


def _evaluate_remote(cell: Cell, device: str, models_dir: ModelDirs, run_id: str,
                     prior: Any = None) -> tuple[list[dict], dict]:
    """The body of one Ray task: a single-threaded (per CPU task) evaluation of one cell."""
    import ray  # installed where this runs: a Ray worker

    cpus = ray.get_runtime_context().get_assigned_resources().get("CPU") or 1
    torch.set_num_threads(max(1, int(cpus)))  # one thread per CPU the task holds, whatever the environment says
    ctx = RunContext(resolve_device(device), run_id=run_id, models_dir=models_dir, models=_WORKER_MODELS)
    return evaluate_cell(cell, ctx, prior=prior)


def run_cells_ray(cells: Sequence[Cell], store: ResultStore, options: RunOptions = _CPU, *,
                  address: str | None = None, retries: int = 1) -> tuple[list[CellOutcome], list[FailedCell]]:
    """Run the cells not yet stored as Ray tasks; returns (outcomes in plan order, cells that failed)."""
    device, models_dir, on_cell = options.device, options.models_dir, options.on_cell
    ray = _ray()
    started = False
    if not ray.is_initialized():
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
        if address:
            kwargs["address"] = address
        else:
            kwargs["num_cpus"] = os.cpu_count() or 1
        ray.init(**kwargs)
        started = True
    run_id = uuid.uuid4().hex[:12]
    gpu = device.startswith("cuda")
    # no runtime_env: a task with one reserves a separate pool of fresh workers instead of the pre-started ones
    task = ray.remote(num_cpus=0 if gpu else 1, num_gpus=1 if gpu else 0, max_retries=retries,
                      retry_exceptions=True)(_evaluate_remote)
    outcomes: dict[int, CellOutcome] = {}
    pending: dict[Any, int] = {}
    failed: list[FailedCell] = []
    # waves: a cascade's stage reads its earlier stages' stored outcomes, so it is sent once they landed
    waves = cascade_waves(cells)
    try:
        for wave in waves:
            for i in wave:
                cell = cells[i]
                stored = stored_outcome(cell, store, options.force)
                if stored is None and any(f.cell.cell_id in {cid for _, cid in cell.after} for f in failed):
                    failed.append(FailedCell(cell, "an earlier stage of its cascade failed"))
                elif stored is None:
                    pending[task.remote(cell, device, models_dir, run_id, cascade_inputs(cell, store))] = i
                else:
                    outcomes[i] = stored
                    if on_cell:
                        on_cell(stored)
            _drain(ray, pending, cells, store, (outcomes, failed), options)
    finally:
        if started:
            ray.shutdown()
    ordered = [outcomes[i] for i in sorted(outcomes)]
    return ordered + add_black_box_checks(cells, store, models_dir), failed


def _drain(ray: Any, pending: dict[Any, int], cells: Sequence[Cell], store: ResultStore,
           landed: tuple[dict[int, CellOutcome], list[FailedCell]], options: RunOptions) -> None:
    """Wait for every pending task, storing each cell as it lands (into ``landed``'s outcomes) and noting the ones
    that failed (into its failures)."""
    outcomes, failed = landed
    on_cell = options.on_cell
    with tqdm(total=len(pending), desc="cells", unit="cell", disable=not options.progress) as bar:
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            i = pending.pop(done[0])
            try:
                rows, examples = ray.get(done[0])
            except Exception as exc:  # the task failed after its retries: report it, keep the others
                failed.append(FailedCell(cells[i], f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1]}"))
            else:
                store.write(rows, examples, kind=cells[i].kind)
                outcomes[i] = CellOutcome(cells[i], rows, False)
                if on_cell:
                    on_cell(outcomes[i])
            bar.update(1)


def check_executor(executor: str, address: str | None = None) -> None:
    """Raise ``ConfigError`` unless ``executor`` is known and ``address`` goes with it (only Ray takes one)."""
    if executor not in EXECUTORS:
        raise ConfigError(f"unknown executor {executor!r} (known: {', '.join(EXECUTORS)})")
    if executor == "local" and address:
        raise ConfigError("--address goes with --executor ray")


def execute(cells: Sequence[Cell], store: ResultStore, options: RunOptions = _DEFAULTS, *,
            executor: str = "local", address: str | None = None) -> list[CellOutcome]:
    """Run ``cells`` with the named executor, after the admission of every outside model among them
    (``rib.admission.admit_cells``: a refused model raises ``AdmissionError`` before anything runs); raises
    ``RibError`` naming every cell that failed (after the rest have landed)."""
    check_executor(executor, address)
    cache: dict[str, Any] = {}  # the models admission loaded, reused by a local run
    admitted = admit_cells(cells, store, device=options.device, models_dir=options.models_dir, force=options.force,
                           model_cache=cache)
    for outcome in admitted.skipped:
        if options.on_cell:
            options.on_cell(outcome)
    if executor == "local":
        return admitted.skipped + run_cells(admitted.cells, store, options, model_cache=cache)
    outcomes, failed = run_cells_ray(admitted.cells, store, options, address=address)
    if failed:
        for f in failed:
            print(f"rib: cell failed: {f.cell.describe()}: {f.error}", file=sys.stderr)
        raise RibError(f"{len(failed)} of {len(cells)} cells failed after retries; the other results are stored")
    return admitted.skipped + outcomes
