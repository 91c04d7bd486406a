"""Planning: cells from a run request or a grid file, cascades and their nesting, selections, stale cells."""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from rib.attacks import ATTACKS, create_attack
from rib.data import DATASETS, DEFAULT_DATASET, dataset_eps, headline_eps
from rib.eps import same_eps
from rib.errors import ConfigError
from rib.grid import ADMISSION_ATTACK, CHECK_ATTACK, Cell, Sampling, grid_spec
from rib.metric_cells import (
    CLEAN,
    metric_names,
    metric_params,
    metrics_revision,
    source_norm,
)
from rib.registry import Registry
from rib.stats import SAMPLES
from rib.store import ResultStore
from rib.zoo import ModelCard, find_card, list_cards
from rib.zoo.catalog import ModelDirs


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


DEFAULT_SAMPLING = Sampling(1000)


def plan_run(models: str | Sequence[ModelCard], attacks: str, dataset: str = DEFAULT_DATASET, *,
             eps: EpsSpec | None = None, sampling: Sampling = DEFAULT_SAMPLING, metrics: Sequence[str] = (),
             models_dir: ModelDirs = None) -> list[Cell]:
    """Cells for ``rib run --model … --attack …``: every model × every attack, eps from the dataset's registry entry
    or ``eps`` (a list for every norm, or a mapping norm → list; checked by ``eps_per_norm``), on the images
    ``sampling`` names.

    ``models`` is a comma list of zoo ids, aliases and wildcards, or the cards themselves (a model outside the zoo,
    as ``rib.evaluate`` plans it). With ``metrics``, each model also gets a metric cell on clean inputs and one on
    each attack's adversarial inputs at the headline eps of its norm.
    """
    size = DATASETS.get(dataset).test_size
    if size and sampling.n > size:  # refused before anything is planned, --dry-run included
        raise ConfigError(f"--n {sampling.n} is larger than {DATASETS.canonical(dataset)}'s test split "
                          f"({size:,} images)")
    cards = resolve_models(models, dataset, models_dir) if isinstance(models, str) else list(models)
    names = ATTACKS.resolve(attacks)
    per_norm = eps_per_norm(eps, sorted({ATTACKS.get(nm).norm_name for nm in names}), dataset)
    cells = []
    for card in cards:
        for name in names:
            norm = ATTACKS.get(name).norm_name
            cell_eps = tuple(sorted(set(per_norm[norm])))
            cells.append(plan_cell(card, name, cell_eps, sampling, models_dir=models_dir))
        if metrics:
            for source in (CLEAN, *names):
                cells.append(plan_metric_cell(card, source, list(metrics), sampling, models_dir=models_dir))
    return cells


def plan_metric_cell(card: ModelCard, source: str, metrics: Sequence[str], sampling: Sampling, *,
                     models_dir: ModelDirs = None, eps: float | None = None) -> Cell:
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
    return Cell(kind="metrics", model=card.id, dataset=card.dataset, attack=source, eps=cell_eps, n=sampling.n,
                seed=sampling.seed, batch_size=sampling.batch_size, metrics=names,
                weights_sha256=card.weights_sha256, revision=metrics_revision(names))


def attack_dependencies(card: ModelCard, attack: str, params: dict[str, Any],
                  models_dir: ModelDirs) -> tuple[tuple[str, str], ...]:
    """(role, weights sha256) of every other model the attack uses, e.g. a transfer attack's surrogate."""
    roles = create_attack(attack, **params).model_dependencies()
    return tuple((role, find_card(name, card.dataset, models_dir).weights_sha256)
                 for role, name in sorted(roles.items()))


def plan_cell(card: ModelCard, attack: str, eps: Sequence[float], sampling: Sampling, *,
              params: dict[str, Any] | None = None, models_dir: ModelDirs = None) -> Cell:
    """An attack cell of ``card``'s model (its weights hash and those of any model the attack depends on
    included). An attack that reproduces an authors' protocol runs on their images (its ``sample``) whatever
    ``sampling.sample`` says; any other attack runs on ``sampling.sample`` ("": rib's own)."""
    params = dict(params or {})
    cls = ATTACKS.get(attack)
    return Cell(kind="attack", model=card.id, dataset=card.dataset, attack=attack, eps=tuple(eps), n=sampling.n,
                seed=sampling.seed, batch_size=sampling.batch_size, params=params, weights_sha256=card.weights_sha256,
                depends_on=attack_dependencies(card, attack, params, models_dir), revision=cls.revision,
                sample=cls.sample or sampling.sample)


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
                sampling = Sampling(int(group.get("n", spec.n)), spec.seed,
                                    int(group.get("batch_size", spec.batch_size)), str(group.get("sample", "")))
                cell = plan_cell(card, name, cell_eps, sampling, params=dict(group.get("params", {})),
                                 models_dir=models_dir)
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
                sampling = Sampling(int(group.get("n", spec.n)), spec.seed,
                                    int(group.get("batch_size", spec.batch_size)))
                cells.append(plan_metric_cell(card, source, names, sampling, models_dir=models_dir,
                                              eps=None if eps is None else float(eps)))
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
