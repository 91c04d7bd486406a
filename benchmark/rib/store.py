"""``ResultStore``: one Parquet file per finished cell, written atomically, so runs resume and never corrupt.

Layout: ``<root>/<dataset>/<model>/<attack>-<cell_id>.parquet`` holds the summary rows (long format, one
measured number per row); beside it, ``….examples.parquet`` holds an attack cell's per-example outcomes and
``….values.parquet`` a metric cell's per-example metric values. The per-example file is written first and the
summary last: a summary on disk means the cell is complete, and a per-example file without its summary (a write cut
short) is invisible and recomputed. Files directly under ``<root>/<dataset>/`` (such as ``claims.parquet``) are
derived tables, not cells.

A file that cannot be read (cut short, overwritten) never stops a reader: ``scan`` and the per-example readers leave
it out with a ``RibWarning`` naming it, and ``stored_rows`` (what a rerun asks) sets the cell's damaged file aside as
``<name>.corrupt-<UTC time>`` (kept, never deleted) so that the cell is recomputed.
"""

from __future__ import annotations

import datetime as _dt
import math
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from rib.errors import ConfigError, DamagedFileError, RibError, RibWarning
from rib.files import atomic_write, temp_files

if TYPE_CHECKING:  # rib.grid imports torch (through rib.data); the store does not need it
    from rib.grid import CellKind

SUMMARY_SCHEMA = pa.schema([
    ("run_id", pa.string()), ("cell_id", pa.string()), ("created_at", pa.string()),
    ("model", pa.string()), ("dataset", pa.string()), ("defense", pa.string()),
    ("trained_norm", pa.string()), ("trained_eps", pa.float64()),
    ("attack", pa.string()), ("norm", pa.string()), ("eps", pa.float64()),
    ("metric", pa.string()), ("value", pa.float64()), ("n", pa.int64()),
    ("ci_low", pa.float64()), ("ci_high", pa.float64()), ("seed", pa.int64()), ("params", pa.string()),
    ("weights_sha256", pa.string()), ("rib_version", pa.string()), ("git_sha", pa.string()),
    ("torch_version", pa.string()), ("device", pa.string()), ("duration_s", pa.float64()),
])

EXAMPLES_SCHEMA = pa.schema([
    ("cell_id", pa.string()), ("index", pa.int64()), ("eps", pa.float64()),
    ("clean_correct", pa.bool_()), ("robust", pa.bool_()), ("distance", pa.float64()),
    # true where a cascade's last stage did not attack the example because an earlier stage had fooled it;
    # null in files written before cascades existed (read as: attacked)
    ("cascaded", pa.bool_()),
])
OPTIONAL_COLUMNS = frozenset({"cascaded", "reason"})  # per-example columns a writer may leave out (stored as null)

VALUES_SCHEMA = pa.schema([
    ("cell_id", pa.string()), ("index", pa.int64()), ("metric", pa.string()), ("value", pa.float64()),
    # why a value is NaN ("degenerate: …", "excluded: …", rib.explain.degenerate); null where it was measured, and
    # in files written before metrics gave reasons
    ("reason", pa.string()),
])
PER_EXAMPLE_SUFFIXES = {".examples.parquet": EXAMPLES_SCHEMA, ".values.parquet": VALUES_SCHEMA}
PER_EXAMPLE_SUFFIX_OF_KIND = {"attack": ".examples.parquet", "check": ".examples.parquet",
                              "metrics": ".values.parquet"}  # by cell kind


class SummaryRow(TypedDict):
    """One stored summary row: the columns of ``SUMMARY_SCHEMA`` with their Python types, in its order (a test keeps
    the two equal). ``summary_row`` builds every row."""

    run_id: str
    cell_id: str
    created_at: str
    model: str
    dataset: str
    defense: str
    trained_norm: str
    trained_eps: float
    attack: str
    norm: str
    eps: float
    metric: str
    value: float
    n: int
    ci_low: float
    ci_high: float
    seed: int
    params: str
    weights_sha256: str
    rib_version: str
    git_sha: str
    torch_version: str
    device: str
    duration_s: float


def summary_row(base: Mapping[str, Any], metric: str, eps: float, value: float, count: int,
                ci: tuple[float, float] | None = None) -> dict[str, Any]:
    """One stored number (a ``SummaryRow``): the columns a cell's rows share (``base``) plus the number, in the
    schema's order."""
    lo, hi = ci if ci else (math.nan, math.nan)
    row = {**base, "metric": metric, "eps": float(eps), "value": float(value), "n": count, "ci_low": lo, "ci_high": hi}
    # returned as a plain dict until the callers (rib.engine.rows and evaluate, checks.store_checks)
    # annotate their row lists as SummaryRow: list invariance rejects list[SummaryRow] where list[dict] is declared
    return {k: row[k] for k in SUMMARY_SCHEMA.names}


def write_table_atomic(table: pa.Table, path: Path) -> None:
    """Write one Parquet file so that readers see the old file or the whole new one, never a part."""
    atomic_write(path, lambda fh: pq.write_table(table, fh))


class ResultStore:
    """The append-only result store under ``root``."""

    def __init__(self, root: Path | str = "results") -> None:
        self.root = Path(root)
        if self.root.exists() and not self.root.is_dir():
            raise ConfigError(f"the result store {self.root} is a file, not a folder: name a folder with --results")

    def summary_path(self, dataset: str, model: str, attack: str, cell_id: str) -> Path:
        return self.root / dataset / model / f"{attack}-{cell_id[:20]}.parquet"

    def has(self, dataset: str, model: str, attack: str, cell_id: str) -> bool:
        """Whether the cell finished (its summary file exists)."""
        return self.summary_path(dataset, model, attack, cell_id).is_file()

    def write(self, rows: Sequence[Mapping[str, Any]], examples: dict[str, list[Any]], *,
              kind: CellKind = "attack") -> Path:
        """Store one finished cell of ``kind``: its per-example table first (an attack or check cell's outcomes,
        a metrics cell's values), then the summary rows (the completion marker)."""
        if not rows:
            raise RibError("a cell produced no rows")
        if kind not in PER_EXAMPLE_SUFFIX_OF_KIND:
            raise RibError(f"unknown cell kind {kind!r} (known: {', '.join(PER_EXAMPLE_SUFFIX_OF_KIND)})")
        first = rows[0]
        path = self.summary_path(first["dataset"], first["model"], first["attack"], first["cell_id"])
        suffix = PER_EXAMPLE_SUFFIX_OF_KIND[kind]
        try:
            summary = pa.Table.from_pylist(rows, schema=SUMMARY_SCHEMA)
            schema = PER_EXAMPLE_SUFFIXES[suffix]
            size = len(next(iter(examples.values()), []))
            filled = {**{c: [None] * size for c in OPTIONAL_COLUMNS if c in schema.names}, **examples}
            per_example = pa.Table.from_pydict(filled, schema=schema)
        except (pa.ArrowInvalid, pa.ArrowTypeError, KeyError) as exc:
            raise RibError(f"results do not fit the store's schema: {exc}") from exc
        examples_path = path.with_name(path.stem + suffix)
        for stale in (path, examples_path):  # temp files a killed writer of this cell left behind
            for tmp in temp_files(stale):
                tmp.unlink(missing_ok=True)
        write_table_atomic(per_example, examples_path)
        write_table_atomic(summary, path)
        return path

    def examples_of(self, dataset: str, model: str, attack: str, cell_id: str) -> pa.Table:
        """The per-example outcomes of one finished attack cell (read from its own file only)."""
        path = self.summary_path(dataset, model, attack, cell_id)
        path = path.with_name(path.stem + ".examples.parquet")
        if not self.has(dataset, model, attack, cell_id) or not path.is_file():
            raise RibError(f"{model} × {attack} (cell {cell_id[:12]}) is not stored in {self.root}")
        try:
            return pq.read_table(path, schema=EXAMPLES_SCHEMA)
        except (pa.ArrowInvalid, OSError) as exc:
            raise DamagedFileError(path, exc) from exc

    def rows_of(self, cell: Any) -> list[dict[str, Any]]:
        """The stored summary rows of a finished cell (``DamagedFileError`` when the file cannot be read)."""
        path = self.summary_path(cell.dataset, cell.model, cell.attack, cell.cell_id)
        try:
            return pq.read_table(path, schema=SUMMARY_SCHEMA).to_pylist()
        except (pa.ArrowInvalid, OSError) as exc:
            raise DamagedFileError(path, exc) from exc

    def stored_rows(self, cell: Any) -> list[dict[str, Any]] | None:
        """The summary rows of ``cell`` when it is stored and readable, else None. A damaged summary or per-example
        file of the cell is set aside (``set_aside``, with a ``RibWarning``) first, so the cell counts as not stored
        and a rerun recomputes it."""
        if not self.has(cell.dataset, cell.model, cell.attack, cell.cell_id):
            return None
        path = self.summary_path(cell.dataset, cell.model, cell.attack, cell.cell_id)
        try:
            for suffix in PER_EXAMPLE_SUFFIXES:  # the footer is enough to tell a file cut short
                extra = path.with_name(path.stem + suffix)
                if extra.is_file():
                    try:
                        pq.read_metadata(extra)
                    except (pa.ArrowInvalid, OSError) as exc:
                        raise DamagedFileError(extra, exc) from exc
            return self.rows_of(cell)
        except DamagedFileError as exc:
            moved = [self.set_aside(p) for p in (path, exc.path) if isinstance(p, Path) and p.is_file()]
            warnings.warn(f"{exc}; set aside as {', '.join(m.name for m in moved)}, the cell will be recomputed",
                          RibWarning, stacklevel=2)
            return None

    def set_aside(self, path: Path) -> Path:
        """Rename a damaged file to ``<name>.corrupt-<UTC time>`` beside it (no reader sees it again; nothing is
        deleted); returns the new path."""
        stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        target = path.with_name(f"{path.name}.corrupt-{stamp}")
        path.rename(target)
        return target

    def cell_files(self, dataset: str) -> dict[str, Path]:
        """Summary file of every finished cell of ``dataset``, by its (20-character) cell id prefix."""
        return {p.stem.rsplit("-", 1)[-1]: p for p in self.summary_files() if p.parent.parent.name == dataset}

    def remove(self, summary: Path) -> None:
        """Delete one cell: its summary first (so it no longer counts as finished), then its per-example file."""
        if summary.parent.parent.parent != self.root:
            raise RibError(f"{summary} is not a cell of the store at {self.root}")
        summary.unlink(missing_ok=True)
        for suffix in PER_EXAMPLE_SUFFIXES:
            summary.with_name(summary.stem + suffix).unlink(missing_ok=True)

    def derived_tables(self, dataset: str) -> list[Path]:
        """The derived tables of ``dataset``: Parquet files directly under ``<root>/<dataset>/``."""
        return sorted((self.root / dataset).glob("*.parquet"))

    def remove_table(self, table: Path) -> None:
        """Delete one derived table of this store."""
        if table.parent.parent != self.root or table.suffix != ".parquet":
            raise RibError(f"{table} is not a derived table of the store at {self.root}")
        table.unlink(missing_ok=True)

    def summary_files(self) -> list[Path]:
        """The summary file of every finished cell (``<dataset>/<model>/*.parquet``, per-example files aside)."""
        return sorted(p for p in self.root.glob("*/*/*.parquet")
                      if not any(p.name.endswith(s) for s in PER_EXAMPLE_SUFFIXES))

    def scan(self) -> pa.Table:
        """Every stored summary row as one table (empty, with the schema, when nothing is stored); a summary that
        cannot be read is left out with a ``RibWarning``."""
        tables = [t for t in (_read_or_warn(p, SUMMARY_SCHEMA) for p in self.summary_files()) if t is not None]
        return pa.concat_tables(tables) if tables else SUMMARY_SCHEMA.empty_table()

    def examples(self, cell_id: str | None = None, *, dataset: str | None = None, model: str | None = None) -> pa.Table:
        """Per-example outcomes, optionally of one cell, or only those stored under one dataset (and model)."""
        return self._per_example(".examples.parquet", cell_id, dataset, model)

    def values(self, cell_id: str | None = None, *, dataset: str | None = None, model: str | None = None) -> pa.Table:
        """Per-example metric values, optionally of one cell, or only those under one dataset (and model)."""
        return self._per_example(".values.parquet", cell_id, dataset, model)

    def _per_example(self, suffix: str, cell_id: str | None, dataset: str | None, model: str | None) -> pa.Table:
        schema = PER_EXAMPLE_SUFFIXES[suffix]
        folder = self.root / dataset / model if dataset and model else self.root / dataset if dataset else self.root
        finished = [p for p in sorted(folder.rglob(f"*{suffix}"))  # without its summary: a write cut short
                    if p.with_name(p.name[: -len(suffix)] + ".parquet").is_file()]
        tables = [t for t in (_read_or_warn(p, schema) for p in finished) if t is not None]
        table = pa.concat_tables(tables) if tables else schema.empty_table()
        if cell_id is not None:
            table = table.filter(pc.equal(table["cell_id"], cell_id))
        return table


def _read_or_warn(path: Path, schema: pa.Schema) -> pa.Table | None:
    """The file's table, or None with a ``RibWarning`` naming it when it cannot be read."""
    try:
        return pq.read_table(path, schema=schema)
    except (pa.ArrowInvalid, OSError) as exc:
        warnings.warn(f"{path} is not a readable result file ({exc}); left out", RibWarning, stacklevel=2)
        return None


def load_results(path: Path | str = "results") -> Any:
    """All summary rows of the store at ``path`` as a pandas DataFrame."""
    return ResultStore(path).scan().to_pandas()
