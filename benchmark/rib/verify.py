"""Reproduction checks: ``rib verify`` re-runs exactly the cells a card claims and compares, claim by claim.

A claim is a table in the card: ``attack`` (a registered attack, or ``clean``), ``metric`` (``clean_accuracy``,
``robust_accuracy`` or an interpretability metric output), ``value``, optionally ``eps`` and ``n``. Each claimed
cell is recomputed from scratch with rib's fixed seed and settings (nothing is read from the result store). An
accuracy claim reproduces when it lies inside the measured 95% Wilson interval *and* within ``tolerance`` (default
1.5 points) of the measured value; a metric claim when it lies inside the measured 95% interval or within
``tolerance`` relative to the measured value. Every check is stored as a verification record.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from rib.attacks import ATTACKS
from rib.data import DATASETS
from rib.errors import ConfigError, RibError
from rib.executors import check_executor, execute
from rib.explain.metrics import METRICS
from rib.files import atomic_copy
from rib.grid import grid_spec
from rib.metric_cells import CLEAN
from rib.report import render_site
from rib.runner import CellOutcome, evaluate_cell, plan_cell, plan_grid, plan_metric_cell
from rib.runtime import provenance, resolve_device
from rib.store import ResultStore, load_results, write_table_atomic
from rib.table import format_table
from rib.zoo import ARCHS, ModelCard, list_cards, write_card
from rib.zoo.cards import read_card
from rib.zoo.factory import ModelDirs, model_from_card

ACCURACIES = ("clean_accuracy", "robust_accuracy")
DEFAULT_TOLERANCE = 0.015
RECORD_SCHEMA = pa.schema([
    ("dataset", pa.string()), ("model", pa.string()), ("weights_sha256", pa.string()), ("attack", pa.string()),
    ("metric", pa.string()), ("eps", pa.float64()), ("n", pa.int64()), ("claimed", pa.float64()),
    ("measured", pa.float64()), ("ci_low", pa.float64()), ("ci_high", pa.float64()), ("tolerance", pa.float64()),
    ("reproduced", pa.bool_()), ("rib_version", pa.string()), ("git_sha", pa.string()), ("created_at", pa.string()),
])


@dataclass(frozen=True)
class ClaimCheck:
    """One claim against its re-measured value."""

    attack: str
    metric: str
    eps: float
    n: int
    claimed: float
    measured: float
    ci_low: float
    ci_high: float
    tolerance: float
    reproduced: bool

    @property
    def gap(self) -> float:
        return self.claimed - self.measured


def find_submission_card(path: Path | str) -> Path:
    """The card of a submission: ``path`` itself (a .toml), or the one .toml file in the folder ``path``."""
    path = Path(path)
    if path.is_file():
        return path
    if not path.is_dir():
        raise ConfigError(f"submission {path} does not exist")
    cards = sorted(path.glob("*.toml"))
    if len(cards) != 1:
        raise ConfigError(f"submission {path} must hold exactly one card (.toml), found {len(cards)}")
    return cards[0]


def _metric_outputs() -> set[str]:
    return {o for name in METRICS.names() for o in METRICS.get(name).outputs}


def claim_errors(card: ModelCard) -> list[str]:
    """Every problem with a card's claims: unknown attacks or metrics, eps outside the dataset's grid."""
    if not card.claims:
        return ["the card makes no claims (add [[claims]] tables: attack, metric, value, eps)"]
    spec = DATASETS.get(card.dataset)
    outputs = _metric_outputs()
    errors = []
    for i, c in enumerate(card.claims):
        attack, metric, eps = c["attack"], c["metric"], float(c.get("eps", 0.0))
        if attack != "clean" and attack not in ATTACKS:
            errors.append(f"claims[{i}]: unknown attack {attack!r}")
            continue
        if metric not in (*ACCURACIES, *outputs):
            errors.append(f"claims[{i}]: unknown metric {metric!r}")
        elif metric == "robust_accuracy" and attack == "clean":
            errors.append(f"claims[{i}]: robust_accuracy needs an attack")
        if attack != "clean":
            norm = ATTACKS.get(attack).norm_name
            if not any(abs(eps - e) < 1e-9 for e in spec.eps[norm]):
                errors.append(f"claims[{i}]: eps {eps:g} is not in the {card.dataset} {norm} grid "
                              f"({', '.join(f'{e:g}' for e in spec.eps[norm])})")
        if not math.isfinite(float(c["value"])):
            errors.append(f"claims[{i}]: value must be finite")
        if int(c.get("n", 1)) < 1:
            errors.append(f"claims[{i}]: n must be at least 1")
    return errors


def load_submission(path: Path | str) -> ModelCard:
    """Read and validate a submission's card (every schema and claim error at once) and load its weights once,
    so a wrong sha256, a truncated or hostile file, wrong shapes or NaN are refused before anything runs."""
    card = read_card(find_submission_card(path))
    ARCHS.canonical(card.arch)  # unknown architecture: did-you-mean, exit 2
    errors = claim_errors(card)
    if errors:
        raise ConfigError(f"{card.path}: invalid claims: {'; '.join(errors)}")
    model_from_card(card)
    return card


def verify_card(card: ModelCard, *, n: int | None = None, tolerance: float = DEFAULT_TOLERANCE,
                device: str = "auto", models_dir: ModelDirs = None, progress: bool = False) -> list[ClaimCheck]:
    """Re-measure every claim of ``card``; one check per claim, in the card's order."""
    spec = grid_spec("default", card.dataset)
    dev = resolve_device(device)
    cache: dict[str, Any] = {}
    measured: dict[tuple[str, str, float, int], dict[str, Any]] = {}

    def claim_n(claim: dict[str, Any]) -> int:
        return n or int(claim.get("n", spec.n))

    groups: dict[tuple[str, int, bool], set[float]] = {}
    for c in card.claims:  # robust-accuracy and metric claims, grouped into cells
        if c["metric"] != "clean_accuracy":
            key = (c["attack"], claim_n(c), c["metric"] not in ACCURACIES)
            groups.setdefault(key, set()).add(float(c.get("eps", 0.0)))
    clean_source: dict[int, str] = {}  # n → the attack cell whose clean accuracy answers clean-accuracy claims
    for c in card.claims:
        if c["metric"] == "clean_accuracy":
            cn = claim_n(c)
            same_n = sorted(a for (a, k, m) in groups if k == cn and not m)
            clean_source[cn] = same_n[0] if same_n else "fgsm-linf"  # any attack cell measures clean accuracy
            groups.setdefault((clean_source[cn], cn, False), set()).add(spec.eps["linf"][0])
    for (attack, cn, is_metric), eps_set in sorted(groups.items()):
        if is_metric:
            names = sorted({m for m in METRICS.names() for c in card.claims
                            if c["metric"] in METRICS.get(m).outputs and c["attack"] == attack})
            cells = [plan_metric_cell(card, attack, names, n=cn, seed=spec.seed, batch_size=spec.batch_size,
                                      models_dir=models_dir, eps=None if attack == CLEAN else e)
                     for e in sorted(eps_set)]
        else:
            cells = [plan_cell(card, attack, sorted(eps_set), n=cn, seed=spec.seed, batch_size=spec.batch_size,
                               models_dir=models_dir)]
        for cell in cells:
            rows, _ = evaluate_cell(cell, device=dev, models_dir=models_dir, progress=progress, model_cache=cache,
                                    card=card)
            for row in rows:
                measured[(attack, row["metric"], round(float(row["eps"]), 9), cn)] = row
    checks = []
    for c in card.claims:
        cn = claim_n(c)
        metric, claimed = c["metric"], float(c["value"])
        is_metric = metric not in ACCURACIES
        attack = clean_source[cn] if metric == "clean_accuracy" else c["attack"]
        eps = 0.0 if metric == "clean_accuracy" or (is_metric and attack == CLEAN) else float(c.get("eps", 0.0))
        r = measured.get((attack, metric, round(eps, 9), cn))
        if r is None:
            raise RibError(f"{card.id}: no measurement for claim {c} (an attack that does not report it?)")
        value, lo, hi = float(r["value"]), float(r["ci_low"]), float(r["ci_high"])
        inside = math.isfinite(lo) and lo - 1e-12 <= claimed <= hi + 1e-12
        if metric in ACCURACIES:
            ok = inside and abs(claimed - value) <= tolerance + 1e-12
        else:
            ok = inside or abs(claimed - value) <= tolerance * abs(value)
        checks.append(ClaimCheck(c["attack"], metric, eps, int(r["n"]), claimed, value, lo, hi, tolerance, ok))
    return checks


def checks_table(card: ModelCard, checks: list[ClaimCheck]) -> str:
    """The per-claim table ``rib verify`` prints."""
    def pct(metric: str, v: float) -> str:
        return f"{100 * v:.1f}%" if metric in ACCURACIES else f"{v:.4f}"

    rows = [[c.attack, c.metric, f"{c.eps:g}", c.n, pct(c.metric, c.claimed), pct(c.metric, c.measured),
             f"[{pct(c.metric, c.ci_low)}, {pct(c.metric, c.ci_high)}]",
             (f"{100 * c.gap:+.1f} pts" if c.metric in ACCURACIES else f"{c.gap:+.4f}"),
             "reproduced" if c.reproduced else "NOT reproduced"] for c in checks]
    verdict = "verified" if checks and all(c.reproduced for c in checks) else "failed"
    return format_table(["attack", "metric", "eps", "n", "claimed", "measured", "95% CI", "gap", "result"], rows) + \
        f"\n{card.id}: {verdict} ({sum(c.reproduced for c in checks)} of {len(checks)} claims reproduced)"


def records_path(results: Path | str, dataset: str) -> Path:
    return Path(results) / dataset / "verifications.parquet"


def write_record(card: ModelCard, checks: list[ClaimCheck], results: Path | str) -> Path:
    """Add this verification to ``<results>/<dataset>/verifications.parquet`` (replacing an earlier one of the same
    model and weights), atomically."""
    prov = provenance(torch.device("cpu"))
    new = [{"dataset": card.dataset, "model": card.id, "weights_sha256": card.weights_sha256,
            **{k: v for k, v in asdict(c).items()}, "rib_version": prov["rib_version"], "git_sha": prov["git_sha"],
            "created_at": prov["created_at"]} for c in checks]
    path = records_path(results, card.dataset)
    old = pq.read_table(path, schema=RECORD_SCHEMA).to_pylist() if path.is_file() else []
    keep = [r for r in old if (r["model"], r["weights_sha256"]) != (card.id, card.weights_sha256)]
    write_table_atomic(pa.Table.from_pylist(keep + new, schema=RECORD_SCHEMA), path)
    return path


def verification_status(results: Path | str, dataset: str, models: dict[str, str] | None = None) -> dict[str, str]:
    """``verified`` / ``failed`` per model id, from the stored records (for ``models``: only records of the given
    weights sha256)."""
    path = records_path(results, dataset)
    if not path.is_file():
        return {}
    df: pd.DataFrame = pq.read_table(path, schema=RECORD_SCHEMA).to_pandas()
    out = {}
    for (model, sha), group in df.groupby(["model", "weights_sha256"]):
        if models is not None and models.get(str(model)) != sha:
            continue
        out[str(model)] = "verified" if bool(group["reproduced"].all()) else "failed"
    return out


def claims_from_results(card: ModelCard, results: Path | str) -> list[dict[str, Any]]:
    """Claims for a zoo card from the stored results: clean accuracy and PGD robust accuracy at each norm's
    headline eps (the numbers the committed results say this model has)."""
    spec = DATASETS.get(card.dataset)
    df = load_results(results)
    df = df[(df["dataset"] == card.dataset) & (df["model"] == card.id) & (df["weights_sha256"] == card.weights_sha256)
            & (df["n"] == spec.n)]
    claims = []
    for attack, metric, eps in (("pgd-linf", "clean_accuracy", 0.0),
                                ("pgd-linf", "robust_accuracy", spec.headline["linf"]),
                                ("pgd-l2", "robust_accuracy", spec.headline["l2"])):
        hit = df[(df["attack"] == attack) & (df["metric"] == metric) & ((df["eps"] - eps).abs() < 1e-9)]
        if hit.empty:
            raise RibError(f"{card.id}: no stored {attack} {metric} at eps {eps:g} with n={spec.n} in {results}")
        claim = {"attack": "clean" if metric == "clean_accuracy" else attack, "metric": metric,
                 "value": round(float(hit["value"].iloc[0]), 4), "n": spec.n}
        if metric != "clean_accuracy":
            claim["eps"] = eps
        claims.append(claim)
    return claims


def install_submission(card: ModelCard, models_root: Path | str, *, force: bool = False) -> ModelCard:
    """Copy a verified submission's card and weights into ``<models_root>/<dataset>/`` (never over an existing
    model without ``force``); returns the installed card."""
    folder = Path(models_root) / card.dataset
    dest = folder / f"{card.id}.toml"
    if dest.exists() and not force:
        raise RibError(f"{dest} exists: a model with id {card.id!r} is already in the zoo (--force replaces it)")
    atomic_copy(card.weights_path, folder / card.weights_file)
    installed = read_card(card.path) if card.path else card
    write_card(installed, dest)
    return read_card(dest)


def write_zoo_claims(dataset: str = "mnist-5k", results: Path | str = "results", *,
                     models_dir: ModelDirs = None) -> list[ModelCard]:
    """Rewrite the claims of every zoo card of ``dataset`` from the stored results (``claims_from_results``);
    returns the rewritten cards."""
    written = []
    for card in list_cards(dataset, models_dir):
        if card.path is None:
            continue
        card.claims = claims_from_results(card, results)
        write_card(card, card.path)
        written.append(card)
    return written


def zoo_submissions(dataset: str = "mnist-5k", models_dir: ModelDirs = None) -> list[ModelCard]:
    """Every zoo card of ``dataset``, read and checked as a submission would be (``load_submission``)."""
    return [load_submission(c.path) for c in list_cards(dataset, models_dir) if c.path is not None]


@dataclass
class Submission:
    """What ``submit`` did: the installed card, its claim checks, the grid's outcomes and the site's index."""

    card: ModelCard
    checks: list[ClaimCheck]
    outcomes: list[CellOutcome]
    index: Path


def submit(submission: Path | str, *, models_root: Path | str = "models", results: Path | str = "results",
           reports: Path | str = "reports", grid: str = "default", n: int | None = None, force: bool = False,
           device: str = "auto", executor: str = "local", address: str | None = None, progress: bool = False,
           on_verified: Callable[[ModelCard, list[ClaimCheck]], None] | None = None,
           on_installed: Callable[[ModelCard], None] | None = None,
           on_cell: Callable[[CellOutcome], None] | None = None) -> Submission:
    """Verify a submission's claims (recording the verification), add it to the zoo under ``models_root``, run
    ``grid`` for it with ``executor`` (``local`` or ``ray``, at ``address``) and re-render the site.

    Raises ``RibError`` (after recording the checks) when a claim does not reproduce; nothing is installed then.
    ``on_verified`` sees the checks before that decision, ``on_installed`` the installed card, ``on_cell`` each
    finished cell.
    """
    check_executor(executor, address)
    card = load_submission(submission)
    checks = verify_card(card, n=n, device=device, progress=progress)
    if on_verified:
        on_verified(card, checks)
    write_record(card, checks, results)
    if not all(c.reproduced for c in checks):
        raise RibError(f"{card.id} does not reproduce its claims: not added to the zoo")
    installed = install_submission(card, models_root, force=force)
    if on_installed:
        on_installed(installed)
    cells = plan_grid(grid, installed.dataset, models=installed.id, models_dir=models_root)
    outcomes = execute(cells, ResultStore(results), executor=executor, device=device, models_dir=models_root,
                       progress=progress, address=address, on_cell=on_cell)
    return Submission(installed, checks, outcomes, render_site(results, reports, models_dir=models_root))
