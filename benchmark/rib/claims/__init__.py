"""The papers' claims, as data (``rib/claims/papers/*.toml``), judged on rib's stored results: ``rib claims``.

Each claim is judged per dataset and per source (rib's re-trainings; the authors' own networks at rib's strength;
the same networks under the authors' protocol), at every eps of the range the paper tested, with a paired test per
model pair and eps, Holm-corrected over the claim's comparisons, and summarized as the eps range where it holds, is
contradicted, or cannot be told. Nothing is recomputed: a claim whose numbers are not stored says so ("no data").
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import torch

from rib.claims.evidence import Evidence, Side
from rib.claims.judge import PROTOCOL_SOURCE, SOURCE_LABELS, VERDICTS, Judgement, evidence_json, judge
from rib.claims.spec import ClaimSpec, load_claims
from rib.data import DEFAULT_DATASET
from rib.runtime import provenance
from rib.store import ResultStore, write_table_atomic
from rib.table import NBSP, TERMINAL_WIDTH, format_table

__all__ = ["CLAIMS_SCHEMA", "VERDICTS", "ClaimSpec", "Evidence", "Side", "across_datasets", "across_datasets_table",
           "claims_table", "evaluate_claims", "format_value", "load_claims", "reproduction_table", "stored_claims",
           "write_claims"]

CLAIMS_SCHEMA = pa.schema([
    ("dataset", pa.string()), ("claim", pa.string()), ("paper", pa.string()), ("statement", pa.string()),
    ("source", pa.string()), ("verdict", pa.string()), ("eps_range", pa.string()),
    ("paper_numbers", pa.string()), ("left", pa.string()), ("left_value", pa.float64()), ("left_n", pa.int64()),
    ("right", pa.string()), ("right_value", pa.float64()), ("right_n", pa.int64()),
    ("intervals_overlap", pa.bool_()), ("detail", pa.string()), ("evidence", pa.string()),
    ("rib_version", pa.string()), ("git_sha", pa.string()), ("created_at", pa.string()),
])


def paper_numbers_text(claim: ClaimSpec) -> str:
    """The paper's own numbers of a claim, per eps (left vs right), with the table they come from; "" where the
    paper gives none in a table."""
    if not claim.paper_numbers:
        return ""
    per = "; ".join(f"{eps:g}: {a:.3f} vs {b:.3f}" for eps, (a, b) in sorted(claim.paper_numbers.items()))
    return f"{per} ({claim.paper_table})"


def evaluate_claims(results: Path | str = "results", dataset: str = DEFAULT_DATASET, *,
                    frame: pd.DataFrame | None = None, examples: pd.DataFrame | None = None,
                    values: pd.DataFrame | None = None) -> list[dict[str, Any]]:
    """Every claim judged on the store at ``results`` (or on its rows, per-example outcomes and values already
    loaded), one row of ``CLAIMS_SCHEMA`` per claim and source."""
    store = ResultStore(results)
    frame = frame if frame is not None else store.scan().to_pandas()
    examples = examples if examples is not None else store.examples(dataset=dataset).to_pandas()
    if values is None:
        values = store.values(dataset=dataset).to_pandas() if Path(results).exists() else None
    ev = Evidence(frame, dataset, examples, values)
    prov = provenance(torch.device("cpu"))  # claims use no device; only version, sha and time
    rows = []
    for claim in load_claims():
        for j in judge(claim, ev):
            rows.append(_row(dataset, claim, j, prov))
    return rows


def _row(dataset: str, claim: ClaimSpec, j: Judgement, prov: dict[str, Any]) -> dict[str, Any]:
    overlap = None
    if j.left and j.right and all(map(math.isfinite, (*j.left.ci, *j.right.ci))):
        overlap = j.left.ci[0] <= j.right.ci[1] and j.right.ci[0] <= j.left.ci[1]
    return {
        "dataset": dataset, "claim": claim.id, "paper": claim.paper, "statement": claim.statement,
        "source": j.source, "verdict": j.verdict, "eps_range": j.range,
        "paper_numbers": paper_numbers_text(claim) if dataset == claim.dataset else "",
        "left": j.left.label if j.left else "", "left_value": j.left.value if j.left else math.nan,
        "left_n": j.left.n if j.left else 0, "right": j.right.label if j.right else "",
        "right_value": j.right.value if j.right else math.nan, "right_n": j.right.n if j.right else 0,
        "intervals_overlap": overlap, "detail": j.detail, "evidence": evidence_json(j),
        "rib_version": prov["rib_version"], "git_sha": prov["git_sha"], "created_at": prov["created_at"],
    }


def write_claims(rows: list[dict[str, Any]], results: Path | str, dataset: str) -> Path:
    """Store the claims table atomically at ``<results>/<dataset>/claims.parquet``."""
    path = Path(results) / dataset / "claims.parquet"
    write_table_atomic(pa.Table.from_pylist(rows, schema=CLAIMS_SCHEMA), path)
    return path


def stored_claims(results: Path | str) -> dict[str, list[dict[str, Any]]]:
    """The claims tables ``rib claims`` stored, per dataset (``<results>/<dataset>/claims.parquet``)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(Path(results).glob("*/claims.parquet")):
        out[path.parent.name] = pd.read_parquet(path).to_dict("records")
    return out


def _where_it_holds(verdicts: dict[str, str]) -> str:
    """In words, the datasets where a claim holds, from each dataset's verdict ("no data" where it was not judged)."""
    judged = [d for d, v in verdicts.items() if v != "no data"]
    held = [d for d in judged if verdicts[d] == "holds"]
    if not judged:
        return "no data"
    if held == judged:
        return "both" if len(judged) == 2 else "all" if len(judged) > 2 else f"{judged[0]} (the only one judged)"
    if not held:
        return "neither" if len(judged) == 2 else "none"
    return ", ".join(held) + " only"


def across_datasets(rows_by_dataset: dict[str, list[dict[str, Any]]]) -> tuple[list[str], list[list[str]]]:
    """Per claim, its verdict and eps range on each dataset (per source where more than rib's re-trainings have
    models there; the authors' protocol, an upper bound, left out), and the datasets where it holds: on a dataset
    a claim holds when every source with data there says it holds."""
    datasets = sorted(rows_by_dataset, key=lambda d: (d != DEFAULT_DATASET, d))
    order: list[str] = []
    cells: dict[str, dict[str, list[str]]] = {}
    verdicts: dict[str, dict[str, list[str]]] = {}
    for ds in datasets:
        for r in rows_by_dataset[ds]:
            if r["source"] == PROTOCOL_SOURCE or (r["source"] != "rib" and r["verdict"] == "no data"):
                continue  # the protocol's upper bounds decide nothing; the authors' networks exist on MNIST only
            if r["claim"] not in cells:
                order.append(r["claim"])
            text = r["verdict"] if r["verdict"] == "no data" or not r["eps_range"] else \
                f"{r['verdict']}: {r['eps_range']}"
            cells.setdefault(r["claim"], {}).setdefault(ds, []).append(
                text if r["source"] == "rib" else f"{SOURCE_LABELS.get(r['source'], r['source'])}: {text}")
            verdicts.setdefault(r["claim"], {}).setdefault(ds, []).append(r["verdict"])

    def combined(vs: list[str]) -> str:
        with_data = [v for v in vs if v != "no data"]
        return "no data" if not with_data else next((v for v in with_data if v != "holds"), "holds")

    rows = [[claim, *("; ".join(cells[claim].get(ds, ["-"])) for ds in datasets),
             _where_it_holds({ds: combined(verdicts[claim].get(ds, ["no data"])) for ds in datasets})]
            for claim in order]
    return ["claim", *datasets, "holds on"], rows


def across_datasets_table(rows_by_dataset: dict[str, list[dict[str, Any]]]) -> str:
    """``across_datasets`` as a text table."""
    headers, rows = across_datasets(rows_by_dataset)
    return format_table(headers, rows, width=TERMINAL_WIDTH, wrap=tuple(range(1, len(headers) - 1)))


def format_value(v: float) -> str:
    """A claim side's value as every claims table shows it: four decimals, ``-`` where there is none."""
    return "-" if not math.isfinite(v) else f"{v:.4f}"


REPRODUCTION_COLUMNS = ("the paper's numbers", "authors' networks, authors' protocol",
                        "authors' networks, rib's strength", "rib's re-trainings, rib's strength")


def reproduction_rows(rows: list[dict[str, Any]]) -> list[list[str]]:
    """Per claim: the paper's own numbers, then the verdict and its eps range from each source ("-" where a
    source has no model for the claim)."""
    by: dict[str, dict[str, dict[str, Any]]] = {}
    for r in rows:
        by.setdefault(r["claim"], {})[r["source"]] = r
    out = []
    for claim, sources in by.items():
        first = next(iter(sources.values()))

        def cell(source: str, sources: dict[str, dict[str, Any]] = sources) -> str:
            r = sources.get(source)
            if r is None:
                return "-"
            return r["verdict"] if r["verdict"] == "no data" or not r["eps_range"] else \
                f"{r['verdict']}: {r['eps_range']}"

        out.append([claim, first["paper_numbers"] or "-", cell("authors-protocol"), cell("authors"), cell("rib")])
    return out


def reproduction_table(rows: list[dict[str, Any]]) -> str:
    """The four-source reproduction table, one row per claim."""
    body = reproduction_rows(rows)
    if not body:
        return "no claims"
    return format_table(["claim", *REPRODUCTION_COLUMNS], body, width=TERMINAL_WIDTH, wrap=(1, 2, 3, 4))


def claims_table(rows: list[dict[str, Any]], *, wide: bool = False) -> str:
    """The claims as a text table, the verdict first, then the source and the eps range it rests on; it fits
    ``TERMINAL_WIDTH`` columns; ``wide``: one line per claim and source, with the paper and both sides."""
    def side(label: str, value: float, n: int) -> str:
        return f"{label}: {format_value(value)}{NBSP}(n={n})" if label else "-"

    if wide:
        body = [[r["verdict"], r["claim"], r["source"], r["paper"], r["eps_range"],
                 side(r["left"], r["left_value"], r["left_n"]), side(r["right"], r["right_value"], r["right_n"])]
                for r in rows]
        table = format_table(["verdict", "claim", "source", "paper", "eps range", "left", "right"], body)
    else:
        body = [[r["verdict"], r["claim"], r["source"], r["eps_range"]] for r in rows]
        table = format_table(["verdict", "claim", "source", "where (per eps, Holm-corrected)"], body,
                             width=TERMINAL_WIDTH, wrap=(3,), keep=2)
    decisive = [r for r in rows if r["source"] != PROTOCOL_SOURCE]  # the protocol's upper bounds decide nothing
    counts = {v: sum(r["verdict"] == v for r in decisive) for v in VERDICTS}
    tested = len(decisive) - counts["no data"]
    summary = (f"{counts['holds']} of {tested} judgements with data hold, {counts['does not hold']} do not, "
               f"{counts['mixed']} are mixed across eps, {counts['inconclusive']} are inconclusive "
               f"({counts['no data']} without data). Sources: "
               + "; ".join(f"{k} = {v}" for k, v in SOURCE_LABELS.items())
               + f" ({PROTOCOL_SOURCE} verdicts say whether the paper's own measurement is reproduced; as upper "
               "bounds they are not counted).")
    return table + "\n" + (summary if wide else textwrap.fill(summary, TERMINAL_WIDTH))
