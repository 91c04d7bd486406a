"""Evaluating cells: one evaluator per cell kind, dispatched on `Cell.kind`; running a plan against the store."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import torch

from rib.attacks import ATTACKS, AttackResult, AttackRun, create_attack
from rib.checks import store_checks
from rib.data import load_dataset
from rib.engine.context import RunContext
from rib.engine.plan import attack_dependencies
from rib.engine.rows import attack_rows, base_row, example_columns, not_applicable_row
from rib.ensemble import attack_survivors, cascade_survivors
from rib.errors import ConfigError
from rib.grid import CHECK_ATTACK, Cell
from rib.metric_cells import (
    adversarial_key,
    evaluate_metrics,
    metric_rows,
    source_norm,
    value_columns,
)
from rib.models import RobustModel
from rib.runtime import resolve_device
from rib.sanity import sanity_flags
from rib.stats import sample_indices
from rib.store import ResultStore
from rib.zoo import ModelCard, find_card
from rib.zoo.catalog import ModelDirs
from rib.zoo.factory import cached_model, model_resolver


@dataclass
class CellOutcome:
    cell: Cell
    rows: list[dict[str, Any]]
    skipped: bool


def cascade_inputs(cell: Cell, store: ResultStore) -> pd.DataFrame | None:
    """The stored per-example outcomes of a cascade cell's earlier stages (None for any other cell)."""
    if not cell.after:
        return None
    parts = []
    for attack, cell_id in cell.after:
        rows = store.examples_of(cell.dataset, cell.model, attack.lstrip("<"), cell_id).to_pandas()
        if attack.startswith("<"):  # the ensemble at a smaller eps: what it fooled is fooled at this eps too
            rows = rows.assign(eps=cell.eps[0])
        parts.append(rows)
    return pd.concat(parts, ignore_index=True)


CellResult = tuple[list[dict[str, Any]], dict[str, list[Any]]]  # (summary rows, per-example columns)


@dataclass(frozen=True)
class CellInputs:
    """What an evaluator works on: the cell's model (verified, loaded once per run), its card, and its sample of
    test images with their indices in the split."""

    card: ModelCard
    model: RobustModel
    x: torch.Tensor
    y: torch.Tensor
    indices: torch.Tensor


def evaluate_cell(cell: Cell, ctx: RunContext, *, card: ModelCard | None = None,
                  prior: pd.DataFrame | None = None) -> CellResult:
    """Evaluate one cell with the evaluator of its kind and return (summary rows, per-example columns). ``card``
    skips the zoo lookup (a submission outside the zoo); ``prior`` holds a cascade cell's earlier stages'
    per-example outcomes (``cascade_inputs``)."""
    if cell.kind not in EVALUATORS:
        raise ConfigError(f"{cell.describe()}: a {cell.kind} cell is derived from stored cells, not evaluated")
    card = card or find_card(cell.model, cell.dataset, ctx.models_dir)
    if card.weights_sha256 != cell.weights_sha256:
        raise ConfigError(f"{cell.model}: weights changed since the cell was planned")
    model = cached_model(card, ctx.device, ctx.models)
    x, y = load_dataset(cell.dataset, "test")
    idx = sample_indices(y, cell.n, cell.sample)
    return EVALUATORS[cell.kind](cell, CellInputs(card, model, x[idx], y[idx], idx), ctx, prior)


def evaluate_metrics_cell(cell: Cell, inputs: CellInputs, ctx: RunContext, prior: pd.DataFrame | None) -> CellResult:
    """A metrics cell: its metrics on clean inputs or on the source attack's adversarial inputs. Where an attack cell
    of this run made those inputs with the same call, they are used once and its attack time is counted in this
    cell's duration, as if the attack had run here."""
    start = time.perf_counter()
    x_adv, attack_seconds = ctx.adversarial.pop(adversarial_key(cell), (None, 0.0))
    values = evaluate_metrics(cell, inputs.model, inputs.x, inputs.y, progress=ctx.progress, x_adv=x_adv)
    base = base_row(cell, inputs.card, source_norm(cell.attack), time.perf_counter() - start + attack_seconds,
                    ctx.device, ctx.run_id)
    return metric_rows(cell, inputs.model, base, values), value_columns(cell, inputs.indices, values)


def evaluate_attack_cell(cell: Cell, inputs: CellInputs, ctx: RunContext, prior: pd.DataFrame | None) -> CellResult:
    """An attack cell: the attack at every eps, or, as a cascade's last stage, only on the images its earlier
    stages left robust; sanity flags beside the numbers. Inputs a later metric cell of the run reads
    (``ctx.keep``) are left in ``ctx.adversarial`` for it."""
    card, model, x, y, idx = inputs.card, inputs.model, inputs.x, inputs.y, inputs.indices
    attack = create_attack(cell.attack, **cell.params)
    reason = attack.not_applicable(model)
    if reason:  # e.g. the top-k CAM attack on a model without a CAM: the reason is stored, nothing is attacked
        base = base_row(cell, card, attack.norm_name, 0.0, ctx.device, ctx.run_id)
        return ([not_applicable_row(base, "robust_accuracy", e, reason) for e in cell.eps],
                example_columns(cell, idx[:0], AttackResult(list(cell.eps), torch.zeros(0, dtype=torch.bool),
                                                            torch.zeros(0, len(cell.eps), dtype=torch.bool),
                                                            torch.zeros(0), x[:0])))
    if attack_dependencies(card, cell.attack, cell.params, ctx.models_dir) != cell.depends_on:
        raise ConfigError(f"{cell.describe()}: a model it depends on changed since the cell was planned")
    attack.bind(model_resolver(cell.dataset, ctx.models_dir, ctx.device, ctx.models))  # e.g. a transfer surrogate
    start = time.perf_counter()
    if cell.after:
        if prior is None:
            raise ConfigError(f"{cell.describe()}: a cascade cell needs its earlier stages' stored outcomes")
        alive = torch.zeros(len(idx), dtype=torch.bool)
        keep = set(cascade_survivors(prior, idx.tolist(), cell.eps[0], stages=[a for a, _ in cell.after]).tolist())
        alive[[i for i, j in enumerate(idx.tolist()) if j in keep]] = True
        result = attack_survivors(attack, model, x, y, cell.eps[0], alive,
                                  AttackRun(cell.seed, cell.batch_size, ctx.progress))
    else:
        result = attack(model, x, y, cell.eps, seed=cell.seed, batch_size=cell.batch_size, progress=ctx.progress)
        key = adversarial_key(cell)
        if not cell.params and key in ctx.keep:  # a planned metric cell reads them
            ctx.adversarial[key] = (result.x_adv, time.perf_counter() - start)
    flags = sanity_flags(attack, model, x, y, result, seed=cell.seed)
    duration = time.perf_counter() - start
    return attack_rows(cell, card, result, flags, duration, ctx.device, ctx.run_id), example_columns(cell, idx,
                                                                                                    result)


EVALUATORS: dict[str, Callable[[Cell, CellInputs, RunContext, pd.DataFrame | None], CellResult]] = {
    "attack": evaluate_attack_cell, "metrics": evaluate_metrics_cell}
"""The evaluator of each cell kind that is evaluated (a check cell is derived from stored cells instead)."""


def reused_inputs(cells: Sequence[Cell]) -> set[str]:
    """The ``adversarial_key`` of every adversarial input set that a metric cell among ``cells`` reads and an attack
    cell among them, run before it with the same call (one eps, default parameters, same sample), makes."""
    made: set[str] = set()
    wanted: set[str] = set()
    for c in cells:
        if c.kind == "attack" and not c.params and not c.after and len(c.eps) == 1:
            made.add(adversarial_key(c))
        elif c.kind == "metrics" and adversarial_key(c) in made:
            wanted.add(adversarial_key(c))
    return wanted


def stored_outcome(cell: Cell, store: ResultStore, force: bool) -> CellOutcome | None:
    """The cell's outcome read back from ``store`` when it is there, readable and not to be recomputed, else None
    (a damaged stored cell is set aside by the store, with a warning)."""
    rows = None if force else store.stored_rows(cell)
    return None if rows is None else CellOutcome(cell, rows, True)


@dataclass(frozen=True)
class RunOptions:
    """How a run executes, whichever executor runs it: the device (``auto``, ``cpu``, ``cuda``), where zoo cards are
    found, whether stored cells are recomputed (``force``), progress bars, and a callback per finished cell."""

    device: str = "auto"
    models_dir: ModelDirs = None
    force: bool = False
    progress: bool = False
    on_cell: Callable[[CellOutcome], None] | None = None


_DEFAULT_OPTIONS = RunOptions()


def run_cells(cells: Sequence[Cell], store: ResultStore, options: RunOptions = _DEFAULT_OPTIONS, *,
              card: ModelCard | None = None, model_cache: dict[str, Any] | None = None) -> list[CellOutcome]:
    """Run every cell not already in ``store`` (all of them with ``options.force``), storing each as it finishes.

    ``card`` (with ``model_cache`` holding its model under ``cached_model``'s key) runs cells of a model outside
    the zoo, as ``rib.evaluate`` does; every cell must then be of that model.
    """
    force = options.force
    ctx = RunContext.of(resolve_device(options.device), models_dir=options.models_dir, progress=options.progress,
                        models=model_cache)
    ctx.keep = reused_inputs([c for c in cells if force or not store.has(c.dataset, c.model, c.attack, c.cell_id)])
    outcomes = []
    for cell in cells:
        outcome = stored_outcome(cell, store, force)
        if outcome is None:
            rows, examples = evaluate_cell(cell, ctx, card=card, prior=cascade_inputs(cell, store))
            store.write(rows, examples, kind=cell.kind)
            outcome = CellOutcome(cell, rows, False)
        outcomes.append(outcome)
        if options.on_cell:
            options.on_cell(outcome)
    return outcomes + add_black_box_checks(cells, store, options.models_dir, card=card)


def add_black_box_checks(cells: Sequence[Cell], store: ResultStore, models_dir: ModelDirs = None, *,
                         card: ModelCard | None = None) -> list[CellOutcome]:
    """Recompute and store the cross-cell checks (``rib.checks``) of every model whose cells include a black-box or
    a strong attack; one derived outcome (a check cell) per model with a stored check. ``card``: the card of the
    cells' model when it is outside the zoo."""
    outcomes = []
    for dataset, model in sorted({(c.dataset, c.model) for c in cells}):
        if any(ATTACKS.get(c.attack).kind == "black-box" or ATTACKS.get(c.attack).strong for c in cells
               if c.kind == "attack" and (c.dataset, c.model) == (dataset, model)):
            own = card if card is not None and (card.dataset, card.id) == (dataset, model) else None
            rows = store_checks(store, dataset, model, own or find_card(model, dataset, models_dir))
            if rows:
                outcomes.append(CellOutcome(check_cell(rows), rows, False))
    return outcomes


def check_cell(rows: Sequence[dict[str, Any]]) -> Cell:
    """The check cell whose stored rows are ``rows`` (its eps: those the checks were made at)."""
    first = rows[0]
    return Cell(kind="check", model=first["model"], dataset=first["dataset"], attack=CHECK_ATTACK,
                eps=tuple(sorted({float(r["eps"]) for r in rows})), n=max(int(r["n"]) for r in rows),
                seed=int(first["seed"]), weights_sha256=first["weights_sha256"])
