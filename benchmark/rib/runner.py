"""Run cells: plan them from a request or a grid, attack, turn outcomes into rows, store them atomically."""

from __future__ import annotations

import fnmatch
import json
import math
import time
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from rib.attacks import ATTACKS, AttackResult, create_attack
from rib.attacks.sanity import sanity_flags
from rib.checks import store_checks
from rib.data import DATASETS, DEFAULT_DATASET, dataset_eps, headline_eps, load_dataset
from rib.ensemble import attack_survivors, cascade_survivors
from rib.eps import same_eps
from rib.errors import ConfigError, RibError
from rib.grid import ADMISSION_ATTACK, CHECK_ATTACK, Cell, grid_spec
from rib.metric_cells import (
    CLEAN,
    adversarial_key,
    evaluate_metrics,
    metric_names,
    metric_params,
    metric_rows,
    metrics_revision,
    source_norm,
    value_columns,
)
from rib.registry import Registry
from rib.runtime import provenance, resolve_device
from rib.stats import SAMPLES, sample_indices, wilson_interval
from rib.store import ResultStore, summary_row
from rib.table import format_table
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


EpsSpec = Sequence[float] | Mapping[str, Sequence[float]]
# the largest meaningful eps of each norm on images of a shape: the radius of the whole [0, 1] image space
NORM_LIMITS = {"linf": lambda shape: 1.0, "l2": lambda shape: math.sqrt(math.prod(shape))}


def eps_per_norm(eps: EpsSpec | None, norms: Sequence[str], dataset: str) -> dict[str, tuple[float, ...]]:
    """The eps list of each norm in ``norms``: a mapping gives them per norm; a plain list applies to every norm
    and must make sense for each (a linf eps above 1 covers every image: ``pgd-linf`` at eps 2.0 is refused, with
    a hint to give eps per norm); none: the dataset's lists."""
    if eps is None or (not isinstance(eps, Mapping) and len(eps) == 0):
        return {n: tuple(dataset_eps(dataset, n)) for n in norms}
    if isinstance(eps, Mapping):
        unknown = sorted(set(eps) - set(NORM_LIMITS))
        if unknown:
            raise ConfigError(f"eps given for unknown norm {', '.join(unknown)} (known: {', '.join(NORM_LIMITS)})")
        out = {n: tuple(float(e) for e in eps[n]) if n in eps else tuple(dataset_eps(dataset, n)) for n in norms}
    else:
        out = {n: tuple(float(e) for e in eps) for n in norms}
    shape = DATASETS.get(dataset).shape
    for norm, values in out.items():
        top = NORM_LIMITS[norm](shape)
        bad = [e for e in values if not 0 <= e <= top]
        if bad:
            hint = "" if isinstance(eps, Mapping) else (" (one eps list applies to every attack's norm: give eps per "
                                                        "norm, e.g. {'linf': [0.3], 'l2': [2.0]})")
            raise ConfigError(f"{norm} eps {', '.join(f'{e:g}' for e in bad)} outside [0, {top:g}], the {norm} "
                              f"radius of the whole [0, 1] image space{hint}")
    return out


def plan_run(models: str, attacks: str, dataset: str = DEFAULT_DATASET, *, eps: EpsSpec | None = None,
             n: int = 1000, seed: int = 0, batch_size: int = 500, models_dir: ModelDirs = None,
             metrics: Sequence[str] = (), cards: Sequence[ModelCard] | None = None) -> list[Cell]:
    """Cells for ``rib run --model … --attack …``: every model × every attack, eps from the dataset's registry entry
    or ``eps`` (a list for every norm, or a mapping norm → list; checked by ``eps_per_norm``).

    With ``metrics``, each model also gets a metric cell on clean inputs and one on each attack's adversarial
    inputs at the headline eps of its norm. ``cards`` replaces the zoo lookup of ``models`` (a model outside the
    zoo, as ``rib.evaluate`` plans it).
    """
    if n < 1 or batch_size < 1:
        raise ConfigError(f"--n and --batch-size must be ≥ 1, got {n} and {batch_size}")
    cards = list(cards) if cards is not None else resolve_models(models, dataset, models_dir)
    names = ATTACKS.resolve(attacks)
    per_norm = eps_per_norm(eps, sorted({ATTACKS.get(nm).norm_name for nm in names}), dataset)
    cells = []
    for card in cards:
        for name in names:
            norm = ATTACKS.get(name).norm_name
            cell_eps = tuple(sorted(set(per_norm[norm])))
            cells.append(plan_cell(card, name, cell_eps, n=n, seed=seed, batch_size=batch_size,
                                   models_dir=models_dir))
        if metrics:
            for source in (CLEAN, *names):
                cells.append(plan_metric_cell(card, source, list(metrics), n=n, seed=seed, batch_size=batch_size,
                                              models_dir=models_dir))
    return cells


def plan_metric_cell(card: ModelCard, source: str, metrics: Sequence[str], *, n: int, seed: int = 0,
                     batch_size: int = 500, models_dir: ModelDirs = None, eps: float | None = None) -> Cell:
    """A metrics cell of ``card``: ``metrics`` on clean inputs or on ``source``'s adversarial inputs at ``eps``
    (default: the headline eps of the source's norm)."""
    if source != CLEAN:
        source = ATTACKS.canonical(source)
        if create_attack(source).model_dependencies():
            raise ConfigError(f"{source} cannot be a metric source (it needs other models)")
    norm = source_norm(source)
    if eps is None:
        eps = 0.0 if source == CLEAN else headline_eps(card.dataset, norm)
    cell_eps, names = metric_params(source, list(metrics), eps)
    # metric sources are attacks without dependencies (checked above): a metrics cell depends on no other model
    return Cell(kind="metrics", model=card.id, dataset=card.dataset, attack=source, eps=cell_eps, n=n, seed=seed,
                batch_size=batch_size, metrics=names, weights_sha256=card.weights_sha256,
                revision=metrics_revision(names))


def _dependencies(card: ModelCard, attack: str, params: dict[str, Any],
                  models_dir: ModelDirs) -> tuple[tuple[str, str], ...]:
    """(role, weights sha256) of every other model the attack uses, e.g. a transfer attack's surrogate."""
    roles = create_attack(attack, **params).model_dependencies()
    return tuple((role, find_card(name, card.dataset, models_dir).weights_sha256)
                 for role, name in sorted(roles.items()))


def plan_cell(card: ModelCard, attack: str, eps: Sequence[float], *, n: int, seed: int = 0, batch_size: int = 500,
              params: dict[str, Any] | None = None, models_dir: ModelDirs = None, sample: str = "") -> Cell:
    """An attack cell of ``card``'s model (its weights hash and those of any model the attack depends on
    included). An attack that reproduces an authors' protocol runs on their images (its ``sample``) whatever
    ``sample`` says; any other attack runs on ``sample`` (default: rib's own)."""
    params = dict(params or {})
    cls = ATTACKS.get(attack)
    return Cell(kind="attack", model=card.id, dataset=card.dataset, attack=attack, eps=tuple(eps), n=n, seed=seed,
                batch_size=batch_size, params=params, weights_sha256=card.weights_sha256,
                depends_on=_dependencies(card, attack, params, models_dir), revision=cls.revision,
                sample=cls.sample or sample)


def plan_grid(grid: str, dataset: str = DEFAULT_DATASET, *, models: str | None = None,
              models_dir: ModelDirs = None, cards: Sequence[ModelCard] | None = None) -> list[Cell]:
    """Cells of grid ``grid`` for ``dataset`` (optionally only some models, or the given ``cards`` instead of the
    zoo's)."""
    spec = grid_spec(grid, dataset)
    if cards is None:
        cards = [c for c in resolve_models(models or spec.models, spec.dataset, models_dir)
                 if models or not any(fnmatch.fnmatchcase(c.id, p) for p in spec.exclude)]
    cards = list(cards)
    cells: list[Cell] = []
    chains: dict[str, str] = {}  # cascade cell id → the grid group's ``chain`` ("" unless it names one)
    for group in spec.attacks:
        names = [ATTACKS.canonical(nm) for nm in group.get("names", [])]
        in_group = set(spec.group_models(group, [c.id for c in cards]))
        for card in (c for c in cards if c.id in in_group):
            for name in names:
                norm = ATTACKS.get(name).norm_name
                eps_spec = group.get("eps")
                if eps_spec == "headline":
                    cell_eps: tuple[float, ...] = (spec.headline[norm],)
                elif isinstance(eps_spec, list):
                    cell_eps = tuple(float(e) for e in eps_spec)
                else:
                    cell_eps = tuple(spec.eps[norm])
                cell = plan_cell(card, name, cell_eps, n=int(group.get("n", spec.n)), seed=spec.seed,
                                 batch_size=int(group.get("batch_size", spec.batch_size)),
                                 params=dict(group.get("params", {})), models_dir=models_dir,
                                 sample=str(group.get("sample", "")))
                if group.get("after"):  # a cascade's last stage runs at one eps: one cell per eps
                    stages = [ATTACKS.canonical(a) for a in group["after"]]
                    staged = [cascade_after(replace(cell, eps=(e,)), stages, cells) for e in cell_eps]
                    cells += staged
                    chains.update({c.cell_id: str(group.get("chain", "")) for c in staged})
                else:
                    cells.append(cell)
    cells = nest_ensembles(cells, chains)
    for group in spec.metrics:
        names = metric_names(list(group.get("names", [])))
        for card in cards:
            for source in group.get("sources", [CLEAN]):
                eps = group.get("eps")
                if source != CLEAN and eps is None:
                    eps = spec.headline[source_norm(source)]
                cells.append(plan_metric_cell(card, source, names, n=int(group.get("n", spec.n)), seed=spec.seed,
                                              batch_size=int(group.get("batch_size", spec.batch_size)),
                                              models_dir=models_dir, eps=None if eps is None else float(eps)))
    return cells


def cascade_after(cell: Cell, stages: Sequence[str], planned: Sequence[Cell]) -> Cell:
    """``cell`` as the last stage of a cascade: it will attack only the examples that the planned cells of
    ``stages`` (those of its norm) left robust at its eps. Each stage must be planned for the same model, at that
    eps, on at least as many examples."""
    norm = ATTACKS.get(cell.attack).norm_name
    after = []
    for stage in (s for s in stages if ATTACKS.get(s).norm_name == norm):
        hits = [c for c in planned if c.kind == "attack" and not c.after and (c.model, c.dataset, c.attack, c.sample)
                == (cell.model, cell.dataset, stage, cell.sample) and c.n >= cell.n and any(same_eps(e, cell.eps[0])
                                                                             for e in c.eps)]
        if not hits:
            raise ConfigError(f"{cell.describe()}: its cascade stage {stage} is not planned at eps {cell.eps[0]:g} "
                              f"on at least {cell.n} examples (list it in an earlier group of the grid)")
        after.append((stage, hits[0].cell_id))
    if not after:
        raise ConfigError(f"{cell.describe()}: no cascade stage of norm {norm} among {', '.join(stages)}")
    return replace(cell, after=tuple(after))


def nest_ensembles(cells: Sequence[Cell], chain_of: Mapping[str, str] | None = None) -> list[Cell]:
    """Chain the ensemble cascades of each (model, dataset, norm, n, sample) along their eps, smallest first: each
    also skips what the ensemble at the next smaller eps fooled (an adversarial example inside a small eps ball lies
    in every larger one), so an eps sweep attacks only survivors. The chained stage is marked ``<`` in ``after``.
    ``chain_of`` (cell id → name) keeps cells of a named chain apart: a grid group added later (``chain = …``)
    forms its own chain, so the ids of the cells already planned and stored do not change."""
    chain_of = chain_of or {}
    chains: dict[tuple[str, str, str, int, str, str], list[int]] = {}
    for i, c in enumerate(cells):
        if c.kind == "attack" and c.after and ATTACKS.get(c.attack).kind == "ensemble":
            key = (c.model, c.dataset, ATTACKS.get(c.attack).norm_name, c.n, c.sample, chain_of.get(c.cell_id, ""))
            chains.setdefault(key, []).append(i)
    out = list(cells)
    for members in chains.values():
        chain = sorted((out[j] for j in members), key=lambda c: c.eps[0])
        for k in range(1, len(chain)):
            chain[k] = replace(chain[k], after=(*chain[k].after, (f"<{chain[k - 1].attack}", chain[k - 1].cell_id)))
        for position, cell in zip(sorted(members), chain, strict=True):  # in eps order: each after its stages
            out[position] = cell
    return out


def headline_cells(cells: Sequence[Cell]) -> list[Cell]:
    """The planned cells the headline rests on, in plan order: every ensemble cell at its dataset's headline eps and
    every cell it cascades after, transitively (PGD, and the ensembles at the smaller eps of a chained sweep): the
    cheapest run that gives each model a ranked board entry (``rib run --only headline``)."""
    return with_cascades(cells, [c for c in cells if c.kind == "attack" and c.after
                                 and ATTACKS.get(c.attack).kind == "ensemble"
                                 and any(same_eps(c.eps[0], e) for e in DATASETS.get(c.dataset).headline.values())])


def select_attacks(cells: Sequence[Cell], attacks: str) -> list[Cell]:
    """The planned cells of the attacks ``attacks`` (comma-separated names, wildcards allowed), each with the
    earlier stages of its cascade, and the metric cells on their adversarial inputs (``rib run --grid … --attack``)."""
    names = set(ATTACKS.resolve(attacks))
    return with_cascades(cells, [c for c in cells if c.attack in names])


def select_sample(cells: Sequence[Cell], sample: str) -> list[Cell]:
    """The planned cells on the image set ``sample`` (``rib`` or ``""``: rib's own sample; else a name of
    ``rib.stats.SAMPLES``), each with the earlier stages of its cascade (``rib run --grid … --sample``)."""
    name = "" if sample in ("", "rib") else sample
    if name not in SAMPLES:
        raise ConfigError(f"--sample: unknown sample {sample!r} (known: rib, {', '.join(s for s in SAMPLES if s)})")
    return with_cascades(cells, [c for c in cells if c.sample == name])


def with_cascades(cells: Sequence[Cell], chosen: Sequence[Cell]) -> list[Cell]:
    """``chosen`` and every planned cell a chosen cell cascades after, transitively, in plan order."""
    by_id = {c.cell_id: c for c in cells}
    keep: set[str] = set()
    todo = [c.cell_id for c in chosen]
    while todo:
        cid = todo.pop()
        if cid in keep or cid not in by_id:
            continue
        keep.add(cid)
        todo += [dep for _, dep in by_id[cid].after]
    return [c for c in cells if c.cell_id in keep]


def cascade_waves(cells: Sequence[Cell]) -> list[list[int]]:
    """Indices of ``cells`` in waves: a cell comes in a later wave than every planned cell it cascades after."""
    ids = {c.cell_id: i for i, c in enumerate(cells)}
    depth: dict[int, int] = {}

    def level(i: int) -> int:
        if i not in depth:
            depth[i] = 1 + max((level(ids[cid]) for _, cid in cells[i].after if cid in ids), default=-1)
        return depth[i]

    levels = [level(i) for i in range(len(cells))]
    return [[i for i, d in enumerate(levels) if d == k] for k in range(max(levels, default=-1) + 1)]


def stale_cells(grid: str, dataset: str, store: ResultStore, *, models_dir: ModelDirs = None) -> list[Path]:
    """Summary files of stored ``dataset`` cells that ``grid`` does not plan (old settings, old weights, ad-hoc
    runs); the derived check cells and admission records are kept while their model has a card. A dataset without
    any card plans nothing: every cell there is stale (the zoo moved elsewhere, ``rib rehome``)."""
    models = {c.id for c in list_cards(dataset, models_dir)}
    planned = {c.cell_id[:20] for c in plan_grid(grid, dataset, models_dir=models_dir)} if models else set()
    derived = (f"{CHECK_ATTACK}-", f"{ADMISSION_ATTACK}-")
    return sorted(p for key, p in store.cell_files(dataset).items()
                  if key not in planned and not (p.name.startswith(derived) and p.parent.name in models))


def stale_tables(dataset: str, store: ResultStore, *, models_dir: ModelDirs = None) -> list[Path]:
    """The derived tables of ``dataset`` (claims, verifications) when no card is evaluated there any more."""
    return [] if list_cards(dataset, models_dir) else store.derived_tables(dataset)


def cost_reference(store: ResultStore) -> pd.DataFrame:
    """One row per stored cell of ``store`` (model, dataset, attack, kind, metrics, n, duration_s): what
    ``estimate_seconds`` reads to price a planned cell."""
    try:
        rows = store.scan().to_pandas()
    except RibError:
        return pd.DataFrame(columns=["cell_id", "model", "dataset", "attack", "kind", "metric", "n", "duration_s"])
    if rows.empty:
        return rows
    metrics = rows.groupby("cell_id")["metric"].apply(lambda m: ",".join(sorted(set(m))))
    cells = rows.drop_duplicates("cell_id").set_index("cell_id")
    cells["metric"] = metrics
    cells = cells[cells["duration_s"].astype(float) > 0]
    cells["kind"] = ["attack" if {"clean_accuracy", "robust_accuracy"} & set(m.split(",")) else "metrics"
                     for m in cells["metric"]]
    return cells.reset_index()[["cell_id", "model", "dataset", "attack", "kind", "metric", "n", "duration_s"]]


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
    cell's n. None when nothing like it is stored. Cascade stages cost what their survivors cost: the same model's
    number is the one to trust there."""
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
    return float((mine if len(mine) else rate).median()) * cell.n


def plan_table(cells: Sequence[Cell], store: ResultStore, force: bool = False,
               reference: pd.DataFrame | None = None) -> tuple[str, int, int]:
    """(table, stored, to run) of a plan, as ``rib run --dry-run`` prints it: one row per cell with its state in
    ``store`` (with ``force`` every cell is to run) and, for a cell to run, its estimated cost from the stored
    cells of ``reference`` (``cost_reference``; default: ``store``'s own); the last row sums the estimates."""
    reference = cost_reference(store) if reference is None else reference
    rows, total, unknown = [], 0.0, 0
    for c in cells:
        stored = not force and store.has(c.dataset, c.model, c.attack, c.cell_id)
        est = None if stored else estimate_seconds(c, reference)
        if not stored:
            total, unknown = total + (est or 0.0), unknown + (est is None)
        rows.append([c.model, c.attack + (" [metrics]" if c.kind == "metrics" else ""),
                     " ".join(f"{e:g}" for e in c.eps), c.n, c.cell_id[:12], "stored" if stored else "to run",
                     "" if stored else "?" if est is None else _duration(est)])
    todo = sum(r[5] == "to run" for r in rows)
    table = format_table(["model", "attack", "eps", "n", "cell", "state", "estimate"], rows)
    note = f" ({unknown} cells with nothing like them stored: not priced)" if unknown else ""
    return f"{table}\nestimated cost of the cells to run: {_duration(total)}{note}", len(rows) - todo, todo


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


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
    if "attacked" in result.extras:  # a cascade's last stage: how many examples it attacked itself
        rows.append(row("cascade_attacked", result.eps[0], int(result.extras["attacked"]) / n, n))
    for name, raised in flags.items():
        rows.append(row(f"flag:{name}", 0.0, float(raised), n))
    for kind in result.extras.get("autoattack_warnings", ()):  # pyautoattack's own checks, one row per kind
        rows.append(row(f"flag:autoattack_warning:{kind}", 0.0, 1.0, n))
    return rows


def _examples(cell: Cell, indices: torch.Tensor, result: AttackResult) -> dict[str, list[Any]]:
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


def evaluate_cell(cell: Cell, *, device: torch.device, models_dir: ModelDirs = None, progress: bool = False,
                  run_id: str = "", model_cache: dict[str, Any] | None = None,
                  card: ModelCard | None = None, prior: pd.DataFrame | None = None,
                  keep_adversarial: Collection[str] = ()) -> tuple[list[dict], dict]:
    """Attack one cell and return (summary rows, per-example columns). ``card`` skips the zoo lookup (a
    submission outside the zoo); ``prior`` holds a cascade cell's earlier stages' per-example outcomes
    (``cascade_inputs``). An attack cell whose adversarial inputs a later metric cell reads (its key in
    ``keep_adversarial``: ``reused_inputs``) leaves them in ``model_cache`` for it."""
    cache = model_cache if model_cache is not None else {}
    card = card or find_card(cell.model, cell.dataset, models_dir)
    if card.weights_sha256 != cell.weights_sha256:
        raise ConfigError(f"{cell.model}: weights changed since the cell was planned")
    model = cached_model(card, device, cache)
    x, y = load_dataset(cell.dataset, "test")
    idx = sample_indices(y, cell.n, cell.sample)
    x, y = x[idx], y[idx]
    if cell.kind == "check":
        raise ConfigError(f"{cell.describe()}: a check cell is derived from stored cells, not evaluated")
    if cell.kind == "metrics":
        start = time.perf_counter()
        # the source attack's inputs, where an attack cell of this run made them with the same call: used once, and
        # its attack time counted in this cell's duration, as if the attack had run here
        x_adv, attack_seconds = cache.pop(adversarial_key(cell), (None, 0.0))
        values = evaluate_metrics(cell, model, x, y, progress=progress, x_adv=x_adv)
        base = base_row(cell, card, source_norm(cell.attack), time.perf_counter() - start + attack_seconds, device,
                        run_id)
        return metric_rows(cell, model, base, values), value_columns(cell, idx, values)
    attack = create_attack(cell.attack, **cell.params)
    reason = attack.not_applicable(model)
    if reason:  # e.g. the top-k CAM attack on a model without a CAM: the reason is stored, nothing is attacked
        base = base_row(cell, card, attack.norm_name, 0.0, device, run_id)
        return ([not_applicable_row(base, "robust_accuracy", e, reason) for e in cell.eps],
                _examples(cell, idx[:0], AttackResult(list(cell.eps), torch.zeros(0, dtype=torch.bool),
                                                      torch.zeros(0, len(cell.eps), dtype=torch.bool),
                                                      torch.zeros(0), x[:0])))
    if _dependencies(card, cell.attack, cell.params, models_dir) != cell.depends_on:
        raise ConfigError(f"{cell.describe()}: a model it depends on changed since the cell was planned")
    attack.bind(model_resolver(cell.dataset, models_dir, device, cache))  # transfer attacks load their surrogate
    start = time.perf_counter()
    if cell.after:
        if prior is None:
            raise ConfigError(f"{cell.describe()}: a cascade cell needs its earlier stages' stored outcomes")
        alive = torch.zeros(len(idx), dtype=torch.bool)
        keep = set(cascade_survivors(prior, idx.tolist(), cell.eps[0], stages=[a for a, _ in cell.after]).tolist())
        alive[[i for i, j in enumerate(idx.tolist()) if j in keep]] = True
        result = attack_survivors(attack, model, x, y, cell.eps[0], alive, seed=cell.seed,
                                  batch_size=cell.batch_size, progress=progress)
    else:
        result = attack(model, x, y, cell.eps, seed=cell.seed, batch_size=cell.batch_size, progress=progress)
        key = adversarial_key(cell)
        if not cell.params and key in keep_adversarial:  # a planned metric cell reads them
            cache[key] = (result.x_adv, time.perf_counter() - start)
    flags = sanity_flags(attack, model, x, y, result, seed=cell.seed)
    duration = time.perf_counter() - start
    return _rows(cell, card, result, flags, duration, device, run_id), _examples(cell, idx, result)


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


def run_cells(cells: Sequence[Cell], store: ResultStore, *, device: str = "auto", force: bool = False,
              models_dir: ModelDirs = None, progress: bool = False,
              on_cell: Callable[[CellOutcome], None] | None = None, card: ModelCard | None = None,
              model_cache: dict[str, Any] | None = None) -> list[CellOutcome]:
    """Run every cell not already in ``store`` (all of them with ``force``), storing each as it finishes.

    ``card`` (with ``model_cache`` holding its model under ``cached_model``'s key) runs cells of a model outside
    the zoo, as ``rib.evaluate`` does; every cell must then be of that model.
    """
    dev = resolve_device(device)
    run_id = uuid.uuid4().hex[:12]
    cache: dict[str, Any] = model_cache if model_cache is not None else {}
    keep = reused_inputs([c for c in cells if force or not store.has(c.dataset, c.model, c.attack, c.cell_id)])
    outcomes = []
    for cell in cells:
        outcome = stored_outcome(cell, store, force)
        if outcome is None:
            rows, examples = evaluate_cell(cell, device=dev, models_dir=models_dir, progress=progress,
                                           run_id=run_id, model_cache=cache, card=card,
                                           prior=cascade_inputs(cell, store), keep_adversarial=keep)
            store.write(rows, examples, kind=cell.kind)
            outcome = CellOutcome(cell, rows, False)
        outcomes.append(outcome)
        if on_cell:
            on_cell(outcome)
    return outcomes + add_black_box_checks(cells, store, models_dir, card=card)


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
