"""Run cells: plan them from a request or a grid, attack, turn outcomes into rows, store them atomically."""

from __future__ import annotations

import json
import math
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from rib.attacks import ATTACKS, AttackResult, create_attack
from rib.attacks.sanity import sanity_flags
from rib.data import load_dataset
from rib.errors import ConfigError
from rib.grid import Cell, default_eps, grid_spec
from rib.metric_cells import (
    CLEAN,
    evaluate_metrics,
    is_metric_cell,
    mean_interval,
    metric_names,
    metric_params,
    source_norm,
    value_columns,
)
from rib.registry import Registry
from rib.runtime import provenance, resolve_device
from rib.stats import stratified_indices, wilson_interval
from rib.store import ResultStore, summary_row
from rib.zoo import ModelCard, find_card, list_cards
from rib.zoo.factory import ModelDirs, cached_model, model_resolver


def zoo_registry(dataset: str, models_dir: ModelDirs = None) -> Registry[ModelCard]:
    """The models available on ``dataset`` as a registry (for comma lists, wildcards and did-you-mean)."""
    reg: Registry[ModelCard] = Registry(f"{dataset} model")
    for card in list_cards(dataset, models_dir):
        reg.register(card.id, card)
    return reg


def resolve_models(spec: str, dataset: str, models_dir: ModelDirs = None) -> list[ModelCard]:
    """Cards for a comma-separated list of model ids, defense aliases and wildcards."""
    reg = zoo_registry(dataset, models_dir)
    cards: list[ModelCard] = []
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        if any(ch in part for ch in "*?[") or part in reg:
            cards.extend(reg.get(m) for m in reg.resolve(part))
        else:
            cards.append(find_card(part, dataset, models_dir))  # aliases and did-you-mean
    unique = {c.id: c for c in cards}
    return list(unique.values())


def plan_run(models: str, attacks: str, dataset: str = "mnist-5k", *, eps: Sequence[float] | None = None,
             n: int = 1000, seed: int = 0, batch_size: int = 500, models_dir: ModelDirs = None,
             metrics: Sequence[str] = ()) -> list[Cell]:
    """Cells for ``rib run --model … --attack …``: every model × every attack, eps from the default grid.

    With ``metrics``, each model also gets a metric cell on clean inputs and one on each attack's adversarial
    inputs at the headline eps of its norm.
    """
    if n < 1 or batch_size < 1:
        raise ConfigError(f"--n and --batch-size must be ≥ 1, got {n} and {batch_size}")
    cards = resolve_models(models, dataset, models_dir)
    names = ATTACKS.resolve(attacks)
    cells = []
    for card in cards:
        for name in names:
            norm = ATTACKS.get(name).norm_name
            cell_eps = tuple(eps) if eps else tuple(default_eps(dataset, norm))
            cells.append(plan_cell(card, name, cell_eps, n, seed, batch_size, {}, models_dir))
        if metrics:
            for source in (CLEAN, *names):
                cells.append(plan_metric_cell(card, source, list(metrics), n, seed, batch_size, models_dir))
    return cells


def plan_metric_cell(card: ModelCard, source: str, metrics: list[str], n: int, seed: int, batch_size: int,
                      models_dir: ModelDirs, eps: float | None = None) -> Cell:
    """A metric cell of ``card``: ``metrics`` on clean inputs or on ``source``'s adversarial inputs at ``eps``
    (default: the headline eps of the source's norm)."""
    if source != CLEAN:
        source = ATTACKS.canonical(source)
        if create_attack(source).model_dependencies():
            raise ConfigError(f"{source} cannot be a metric source (it needs other models)")
    norm = source_norm(source)
    if eps is None:
        eps = 0.0 if source == CLEAN else grid_spec("default", card.dataset).headline[norm]
    cell_eps, params = metric_params(source, metrics, eps)
    return plan_cell(card, source, cell_eps, n, seed, batch_size, params, models_dir)


def _dependencies(card: ModelCard, attack: str, params: dict[str, Any],
                  models_dir: ModelDirs) -> tuple[tuple[str, str], ...]:
    """(role, weights sha256) of every other model the attack uses, e.g. a transfer attack's surrogate."""
    if "metrics" in params:
        return ()  # metric sources are attacks without dependencies (checked when planned)
    roles = create_attack(attack, **params).model_dependencies()
    return tuple((role, find_card(name, card.dataset, models_dir).weights_sha256)
                 for role, name in sorted(roles.items()))


def plan_cell(card: ModelCard, attack: str, eps: tuple[float, ...], n: int, seed: int, batch_size: int,
               params: dict[str, Any], models_dir: ModelDirs) -> Cell:
    """One cell of ``card``'s model (its weights hash and those of any model the attack depends on included)."""
    return Cell(card.id, card.dataset, attack, eps, n, seed, batch_size, params, card.weights_sha256,
                _dependencies(card, attack, params, models_dir))


def plan_grid(grid: str, dataset: str = "mnist-5k", *, models: str | None = None,
              models_dir: ModelDirs = None) -> list[Cell]:
    """Cells of grid ``grid`` for ``dataset`` (optionally only some models)."""
    spec = grid_spec(grid, dataset)
    cards = resolve_models(models or spec.models, spec.dataset, models_dir)
    cells = []
    for group in spec.attacks:
        names = [ATTACKS.canonical(nm) for nm in group.get("names", [])]
        for card in cards:
            for name in names:
                norm = ATTACKS.get(name).norm_name
                eps_spec = group.get("eps")
                if eps_spec == "headline":
                    cell_eps: tuple[float, ...] = (spec.headline[norm],)
                elif isinstance(eps_spec, list):
                    cell_eps = tuple(float(e) for e in eps_spec)
                else:
                    cell_eps = tuple(spec.eps[norm])
                cells.append(plan_cell(card, name, cell_eps, int(group.get("n", spec.n)), spec.seed,
                                        int(group.get("batch_size", spec.batch_size)),
                                        dict(group.get("params", {})), models_dir))
    for group in spec.metrics:
        names = metric_names(list(group.get("names", [])))
        for card in cards:
            for source in group.get("sources", [CLEAN]):
                eps = group.get("eps")
                if source != CLEAN and eps is None:
                    eps = spec.headline[source_norm(source)]
                cells.append(plan_metric_cell(card, source, names, int(group.get("n", spec.n)), spec.seed,
                                               int(group.get("batch_size", spec.batch_size)), models_dir,
                                               None if eps is None else float(eps)))
    return cells


def stale_cells(grid: str, dataset: str, store: ResultStore, *, models_dir: ModelDirs = None) -> list[Path]:
    """Summary files of stored ``dataset`` cells that ``grid`` does not plan (old settings, old weights, ad-hoc
    runs); the derived sanity-check cells are kept."""
    from rib.checks import CHECK_ATTACK

    planned = {c.cell_id[:20] for c in plan_grid(grid, dataset, models_dir=models_dir)}
    return sorted(p for key, p in store.cell_files(dataset).items()
                  if key not in planned and not p.name.startswith(f"{CHECK_ATTACK}-"))


@dataclass
class CellOutcome:
    cell: Cell
    rows: list[dict[str, Any]]
    skipped: bool


def base_row(cell: Cell, card: ModelCard, norm: str, duration: float, device: torch.device,
             run_id: str) -> dict[str, Any]:
    """The columns every summary row of a cell shares: identity, settings and provenance."""
    base = {"run_id": run_id, "cell_id": cell.cell_id, "model": card.id, "dataset": cell.dataset,
            "defense": card.defense, "trained_norm": card.trained_norm, "trained_eps": float(card.trained_eps),
            "attack": cell.attack, "norm": norm, "seed": cell.seed,
            "params": json.dumps({"attack_params": cell.params, "batch_size": cell.batch_size}, sort_keys=True),
            "weights_sha256": card.weights_sha256, "duration_s": round(duration, 3)}
    prov = provenance(device)
    base.update({k: prov[k] for k in ("rib_version", "git_sha", "torch_version", "device", "created_at")})
    return base


def _rows(cell: Cell, card: ModelCard, result: AttackResult, flags: dict[str, bool], duration: float,
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
    for name, raised in flags.items():
        rows.append(row(f"flag:{name}", 0.0, float(raised), n))
    return rows


def _examples(cell: Cell, indices: torch.Tensor, result: AttackResult) -> dict[str, list[Any]]:
    cols: dict[str, list[Any]] = {k: [] for k in ("cell_id", "index", "eps", "clean_correct", "robust", "distance")}
    for e, eps in enumerate(result.eps):
        cols["cell_id"] += [cell.cell_id] * len(indices)
        cols["index"] += indices.tolist()
        cols["eps"] += [float(eps)] * len(indices)
        cols["clean_correct"] += result.clean_correct.tolist()
        cols["robust"] += result.robust[:, e].tolist()
        cols["distance"] += [float(d) for d in result.distance.tolist()]
    return cols


def evaluate_cell(cell: Cell, *, device: torch.device, models_dir: ModelDirs = None, progress: bool = False,
                  run_id: str = "", model_cache: dict[str, Any] | None = None,
                  card: ModelCard | None = None) -> tuple[list[dict], dict]:
    """Attack one cell and return (summary rows, per-example columns). ``card`` skips the zoo lookup (a
    submission outside the zoo)."""
    cache = model_cache if model_cache is not None else {}
    card = card or find_card(cell.model, cell.dataset, models_dir)
    if card.weights_sha256 != cell.weights_sha256:
        raise ConfigError(f"{cell.model}: weights changed since the cell was planned")
    model = cached_model(card, device, cache)
    x, y = load_dataset(cell.dataset, "test")
    idx = stratified_indices(y, cell.n)
    x, y = x[idx], y[idx]
    if is_metric_cell(cell):
        start = time.perf_counter()
        values = evaluate_metrics(cell, model, x, y, progress=progress)
        base = base_row(cell, card, source_norm(cell.attack), time.perf_counter() - start, device, run_id)
        rows = []
        for name, v in values.items():
            mean, count, ci = mean_interval(v)
            rows.append(summary_row(base, name, cell.eps[0], mean, count, ci))
        return rows, value_columns(cell, idx, values)
    attack = create_attack(cell.attack, **cell.params)
    if _dependencies(card, cell.attack, cell.params, models_dir) != cell.depends_on:
        raise ConfigError(f"{cell.describe()}: a model it depends on changed since the cell was planned")
    attack.bind(model_resolver(cell.dataset, models_dir, device, cache))  # transfer attacks load their surrogate
    start = time.perf_counter()
    result = attack(model, x, y, cell.eps, seed=cell.seed, batch_size=cell.batch_size, progress=progress)
    flags = sanity_flags(attack, model, x, y, result, seed=cell.seed)
    duration = time.perf_counter() - start
    return _rows(cell, card, result, flags, duration, device, run_id), _examples(cell, idx, result)


def stored_outcome(cell: Cell, store: ResultStore, force: bool) -> CellOutcome | None:
    """The cell's outcome read back from ``store`` when it is there and not to be recomputed, else None."""
    if force or not store.has(cell.dataset, cell.model, cell.attack, cell.cell_id):
        return None
    return CellOutcome(cell, store.rows_of(cell), True)


def run_cells(cells: Sequence[Cell], store: ResultStore, *, device: str = "auto", force: bool = False,
              models_dir: ModelDirs = None, progress: bool = False,
              on_cell: Callable[[CellOutcome], None] | None = None) -> list[CellOutcome]:
    """Run every cell not already in ``store`` (all of them with ``force``), storing each as it finishes."""
    dev = resolve_device(device)
    run_id = uuid.uuid4().hex[:12]
    cache: dict[str, Any] = {}
    outcomes = []
    for cell in cells:
        outcome = stored_outcome(cell, store, force)
        if outcome is None:
            rows, examples = evaluate_cell(cell, device=dev, models_dir=models_dir, progress=progress,
                                           run_id=run_id, model_cache=cache)
            store.write(rows, examples)
            outcome = CellOutcome(cell, rows, False)
        outcomes.append(outcome)
        if on_cell:
            on_cell(outcome)
    return outcomes + add_black_box_checks(cells, store, models_dir)


def add_black_box_checks(cells: Sequence[Cell], store: ResultStore, models_dir: ModelDirs = None) -> list[CellOutcome]:
    """Recompute and store the black-box-beats-white-box check of every model whose cells include a black-box
    attack; one derived outcome per model with a stored check."""
    from rib.checks import store_black_box_checks

    outcomes = []
    for dataset, model in sorted({(c.dataset, c.model) for c in cells}):
        if any(ATTACKS.get(c.attack).kind == "black-box" for c in cells
               if c.model == model and not is_metric_cell(c)):
            rows = store_black_box_checks(store, dataset, model, find_card(model, dataset, models_dir))
            if rows:
                outcomes.append(CellOutcome(replace(cells[0], model=model, attack="sanity-checks"), rows, False))
    return outcomes
