"""Cells and grids: expand a run request or a grid file into units of work with stable content hashes."""

from __future__ import annotations

import fnmatch
import functools
import hashlib
import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import tomllib

from rib.data import DATASETS
from rib.errors import ConfigError

EVAL_VERSION = 2  # bump when a change to the evaluation changes numbers: every cell id changes with it. 2: the
# samples are seeded random stratified ones over the whole split (1: the first images of each class)


CellKind = Literal["attack", "metrics", "check"]
CELL_KINDS: tuple[CellKind, ...] = ("attack", "metrics", "check")
CHECK_ATTACK = "sanity-checks"  # the ``attack`` of every check cell (and of its stored rows)
ADMISSION_ATTACK = "admission"  # the ``attack`` of a model's stored admission checks (``rib.admission``)


@dataclass(frozen=True)
class Sampling:
    """Which test images a cell reads and how: ``n`` of them (a fixed stratified subset drawn with ``seed``; from
    ``sample``, an authors' image set of ``rib.stats.SAMPLES``, when it names one), in batches of ``batch_size``."""

    n: int
    seed: int = 0
    batch_size: int = 500
    sample: str = ""

    def __post_init__(self) -> None:
        if self.n < 1 or self.batch_size < 1:
            raise ConfigError(f"--n and --batch-size must be ≥ 1, got {self.n} and {self.batch_size}")


@dataclass(frozen=True, kw_only=True)
class Cell:
    """One unit of work: (model, dataset, attack, eps list, n, seed) and what its ``kind`` needs.

    * ``attack``: ``attack`` attacked at every eps with ``params``; rows of robust accuracy. With ``after``, the
      cell is the last stage of a cascade: it attacks only the examples every earlier stage left robust.
    * ``metrics``: the interpretability ``metrics`` on the inputs of ``attack`` (the source: ``clean``, or a
      registered attack at the one eps); rows of metric means.
    * ``check``: derived from other cells' stored outcomes (``attack`` is ``CHECK_ATTACK``); nothing is attacked.
    """

    model: str
    dataset: str
    attack: str
    eps: tuple[float, ...]
    n: int
    seed: int = 0
    batch_size: int = 500
    kind: CellKind = "attack"
    params: dict[str, Any] = field(default_factory=dict, hash=False)  # the attack's parameters
    metrics: tuple[str, ...] = ()  # a metrics cell's metric names, in order
    weights_sha256: str = ""
    depends_on: tuple[tuple[str, str], ...] = ()  # (role, weights sha256) of other models, e.g. a surrogate
    after: tuple[tuple[str, str], ...] = ()  # (attack, cell id) of a cascade's earlier stages
    revision: int = 1  # the attack's revision (``Attack.revision``): its defaults are not in ``params``
    sample: str = ""  # the test images: "" is rib's own sample, else an authors' image set (``rib.stats.SAMPLES``)

    def __post_init__(self) -> None:
        if self.kind not in CELL_KINDS:
            raise ConfigError(f"unknown cell kind {self.kind!r} (known: {', '.join(CELL_KINDS)})")
        if self.kind == "metrics" and (not self.metrics or self.params or self.depends_on):
            raise ConfigError("a metrics cell names at least one metric and has no attack params or dependencies")
        if self.kind != "metrics" and self.metrics:
            raise ConfigError(f"only a metrics cell has metrics, not a {self.kind} cell")
        if self.after and (self.kind != "attack" or len(self.eps) != 1):
            raise ConfigError("only an attack cell at one eps can be the last stage of a cascade")
        if self.kind == "check" and self.attack != CHECK_ATTACK:
            raise ConfigError(f"a check cell's attack is {CHECK_ATTACK!r}, not {self.attack!r}")

    @property
    def stored_params(self) -> dict[str, Any]:
        """The params as cell ids and stored rows record them: the attack's, or ``{"metrics": [...]}`` for a
        metrics cell (the form cells had before they had a kind, so ids and stored rows stay what they were)."""
        return {"metrics": list(self.metrics)} if self.kind == "metrics" else dict(self.params)

    @property
    def cell_id(self) -> str:
        """A content hash of everything that determines the cell's numbers (batch size included: it orders RNG).

        The hashed payload is the one cells had before ``kind`` and ``metrics`` were fields (the kind follows
        from the payload), so no stored cell changed its id.
        """
        payload: dict[str, Any] = {"model": self.model, "dataset": self.dataset, "attack": self.attack,
                                   "eps": [float(e) for e in self.eps], "n": self.n, "seed": self.seed,
                                   "batch_size": self.batch_size, "params": self.stored_params,
                                   "weights_sha256": self.weights_sha256, "eval_version": EVAL_VERSION}
        if self.depends_on:  # ids of cells without dependencies stay what they were
            payload["depends_on"] = [list(d) for d in self.depends_on]
        if self.revision > 1:  # ids of attacks never revised stay what they were
            payload["revision"] = self.revision
        if self.after:  # a cascade's inputs are its stages' outcomes: their ids are part of its content
            payload["after"] = [list(a) for a in self.after]
        if self.sample:  # cells on rib's own sample keep the ids they had before samples had names
            payload["sample"] = self.sample
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()

    def describe(self) -> str:
        """``model × attack @ eps (n=…)``; metrics cells name their metrics and their inputs."""
        if self.kind == "metrics":
            on = "clean inputs" if self.attack == "clean" else f"{self.attack} @ {self.eps[0]:g}"
            return f"{self.model} × {', '.join(self.metrics)} on {on} (n={self.n})"
        if self.kind == "check":
            return f"{self.model} × {CHECK_ATTACK} @ {', '.join(f'{e:g}' for e in self.eps)}"
        after = f" after {', '.join(a for a, _ in self.after)}" if self.after else ""
        on = f", {self.sample}'s images" if self.sample else ""
        return f"{self.model} × {self.attack}{after} @ {', '.join(f'{e:g}' for e in self.eps)} (n={self.n}{on})"


@dataclass(frozen=True)
class GridSpec:
    """One dataset's part of a grid file."""

    dataset: str
    models: str
    n: int
    seed: int
    batch_size: int
    eps: dict[str, list[float]]
    headline: dict[str, float]
    attacks: list[dict[str, Any]]
    metrics: list[dict[str, Any]] = field(default_factory=list)
    exclude: tuple[str, ...] = ()  # model id patterns left out of ``models``

    def group_models(self, group: dict[str, Any], ids: list[str]) -> list[str]:
        """The ids among ``ids`` a group of the grid runs on: its own ``models`` patterns (comma-separated) when
        it names some, else every one."""
        patterns = [p.strip() for p in str(group.get("models", "*")).split(",") if p.strip()]
        return [i for i in ids if any(fnmatch.fnmatchcase(i, p) for p in patterns)]


@functools.cache
def _grid_file(name_or_path: str) -> dict[str, Any]:
    path = Path(name_or_path)
    if path.suffix == ".toml":
        if not path.is_file():
            raise ConfigError(f"grid file {path} does not exist")
        text = path.read_text(encoding="utf-8")
    else:
        source = resources.files("rib").joinpath("grids", f"{name_or_path}.toml")
        if not source.is_file():
            known = sorted(p.name[:-5] for p in resources.files("rib").joinpath("grids").iterdir()
                           if p.name.endswith(".toml"))
            raise ConfigError(f"unknown grid {name_or_path!r} (known: {', '.join(known)}, or a path to a .toml file)")
        text = source.read_text(encoding="utf-8")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"grid {name_or_path}: not valid TOML ({exc})") from exc


def grid_spec(grid: str, dataset: str) -> GridSpec:
    """The part of grid ``grid`` (a shipped name such as ``default``, or a .toml path) for ``dataset``."""
    dataset = DATASETS.canonical(dataset)
    data = _grid_file(grid).get("datasets", {})
    if dataset not in data:
        raise ConfigError(f"grid {grid!r} has no section for dataset {dataset!r} (it has: {', '.join(data)})")
    d, info = data[dataset], DATASETS.get(dataset)
    try:  # eps, headline and n: the grid's overrides, else the dataset's own (DatasetInfo)
        eps, headline = {**info.eps, **d.get("eps", {})}, {**info.headline, **d.get("headline", {})}
        return GridSpec(dataset, str(d.get("models", "*")), int(d.get("n", info.n)), int(d.get("seed", 0)),
                        int(d.get("batch_size", 500)), {k: [float(e) for e in v] for k, v in eps.items()},
                        {k: float(v) for k, v in headline.items()}, list(d.get("attacks", [])),
                        list(d.get("metrics", [])), tuple(str(p) for p in d.get("exclude", [])))
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"grid {grid!r}, dataset {dataset}: malformed ({exc})") from exc


def plan_grid_names(grid: str, dataset: str) -> list[str]:
    """Every attack name a grid runs on ``dataset``, in file order."""
    names: list[str] = []
    for group in grid_spec(grid, dataset).attacks:
        names.extend(n for n in group.get("names", []) if n not in names)
    return names


def parse_eps(text: str) -> list[float]:
    """``"0.1,0.2,8/255"`` → sorted floats; fractions allowed."""
    out: list[float] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            num, _, den = part.partition("/")
            value = float(num) / float(den) if den else float(num)
        except (ValueError, ZeroDivisionError) as exc:
            raise ConfigError(f"--eps: {part!r} is not a number") from exc
        if value < 0 or value != value or value == float("inf"):
            raise ConfigError(f"--eps: {part!r} must be finite and ≥ 0")
        out.append(value)
    if not out:
        raise ConfigError("--eps needs at least one value")
    return sorted(set(out))
