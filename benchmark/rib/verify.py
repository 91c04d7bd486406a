"""Reproduction checks: ``rib verify`` re-runs exactly the cells a card claims and compares, claim by claim.

A claim is a table in the card: ``attack`` (a registered attack, ``clean`` or ``worst-case``), ``metric``
(``clean_accuracy``, ``robust_accuracy`` or an interpretability metric output), ``value``, optionally ``eps``, ``n``
and (worst-case claims only) ``norm``. Each claimed cell is recomputed from scratch with rib's fixed seed and
settings (nothing is read from the result store).

- A robust-accuracy claim names an attack of the robustness kind (multi-step white-box, black-box or the AutoAttack
  ensemble; never the interpretation attack, a transfer attack or single-step FGSM), or ``worst-case``: PGD of the
  claim's norm on its ``n`` images, then AutoAttack on the examples PGD left robust. Accuracy claims need n >= 100.
- rib chooses the n and the sample: the headline ensemble's n of the default grid (``verification_n``; 200 on
  mnist) on rib's seeded random stratified sample, whatever n the card says (``--n`` lets the operator choose
  another). A robust-accuracy claim reproduces when it is not above rib's measurement by more than the margin
  (``accuracy_margin``: the distance to rib's 95% Wilson bound below 500 images, a fixed 2 points from 500 on); a
  clean-accuracy claim when it lies within the margin both ways. A metric claim reproduces when it lies inside the
  measured 95% interval or within ``tolerance`` relative to the measured value.
- The verdict on a card (``card_status``): ``failed`` when a claim does not reproduce; else ``verified`` when a
  worst-case claim at the dataset's headline eps of the trained norm (linf for an untrained model) is among the
  claims, ``clean-only`` when no robust-accuracy claim is, and ``unverified (no worst-case claim)`` otherwise.

Every check is stored as a verification record, with the card's verdict.

Before any claim is measured, a submission passes the admission checks (``rib.admission``: deterministic,
batch-independent, finite under perturbation, logits, usable input gradients, no sign of memorized test images);
any failure refuses it (``not admitted``), stored with the results. On the leaderboard a model with a failed
admission check or an unresolved masking flag is never shown ``verified``.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from rib.admission.gate import admit, needs_admission
from rib.admission.record import Admission
from rib.attacks import ATTACKS, AttackRun, attack_for, create_attack, has_role
from rib.data import DATASETS, DEFAULT_DATASET, headline_eps, load_dataset
from rib.engine import (
    RunContext,
    evaluate_cell,
    plan_cell,
    plan_metric_cell,
    plan_table,
    price_reference,
    reused_inputs,
)
from rib.ensemble import attack_survivors, robustness_cells, row_samples, worst_case
from rib.eps import at_eps, same_eps
from rib.errors import ConfigError, RibError
from rib.explain.metrics import METRICS
from rib.grid import Cell, Sampling, grid_spec
from rib.metric_cells import CLEAN
from rib.runtime import provenance, resolve_device
from rib.stats import Z_95, stratified_indices, wilson_interval
from rib.store import ResultStore, write_table_atomic
from rib.table import format_table
from rib.zoo import ARCHS, ModelCard, list_cards, write_card
from rib.zoo.cards import read_card
from rib.zoo.catalog import ModelDirs
from rib.zoo.factory import cached_model, model_from_card

ACCURACIES = ("clean_accuracy", "robust_accuracy")
WORST_CASE = "worst-case"  # the claim's attack: PGD, then AutoAttack on PGD's survivors
CLAIM_KINDS = ("white-box", "black-box", "ensemble", "protocol")  # attacks a robust-accuracy claim may name
# (multi-step only; an authors' protocol measures what their paper reports, on their own images)
MIN_ACCURACY_N = 100
ALPHA = 0.05
DEFAULT_TOLERANCE = 0.015  # metric claims only: relative to the measured value
VerificationStatus = Literal["verified", "failed", "clean-only", "unverified (no worst-case claim)", "unverified",
                             "not admitted", "unverified (masking flag)"]
VERIFIED: VerificationStatus = "verified"
FAILED: VerificationStatus = "failed"
CLEAN_ONLY: VerificationStatus = "clean-only"
NO_WORST_CASE: VerificationStatus = "unverified (no worst-case claim)"
UNVERIFIED: VerificationStatus = "unverified"  # no verification record for the weights
NOT_ADMITTED: VerificationStatus = "not admitted"  # an admission check failed (``rib.admission``): never verified
FLAGGED: VerificationStatus = "unverified (masking flag)"  # an unresolved masking flag: a verified record does not
# count on the board
STATUSES: tuple[VerificationStatus, ...] = get_args(VerificationStatus)
RECORD_SCHEMA = pa.schema([
    ("dataset", pa.string()), ("model", pa.string()), ("weights_sha256", pa.string()), ("attack", pa.string()),
    ("metric", pa.string()), ("norm", pa.string()), ("eps", pa.float64()), ("n", pa.int64()),
    ("claim_n", pa.int64()), ("claimed", pa.float64()), ("measured", pa.float64()), ("ci_low", pa.float64()),
    ("ci_high", pa.float64()), ("tolerance", pa.float64()), ("p_value", pa.float64()), ("rule", pa.string()),
    ("reproduced", pa.bool_()), ("status", pa.string()), ("rib_version", pa.string()), ("git_sha", pa.string()),
    ("created_at", pa.string()),
])


@dataclass(frozen=True)
class ClaimReproduction:
    """One claim against its re-measured value. ``n`` is the measured n (rib's), ``claim_n`` the claim's; ``rule``
    says how they were compared: ``margin`` (accuracies; ``tolerance`` holds the margin that applied, in accuracy
    units) or ``metric`` (``tolerance`` relative to the measured value)."""

    attack: str
    metric: str
    norm: str
    eps: float
    n: int
    claim_n: int
    claimed: float
    measured: float
    ci_low: float
    ci_high: float
    tolerance: float
    p_value: float
    rule: str
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


def attack_kind(attack: str) -> str:
    """An attack's kind, as its class declares it."""
    return str(ATTACKS.get(attack).kind)


def default_norm(card: ModelCard) -> str:
    """The norm a card's headline worst case is claimed in: the one it was trained against, linf when none."""
    return card.trained_norm if card.trained_norm in ("linf", "l2") else "linf"


def claim_norm(card: ModelCard, claim: dict[str, Any]) -> str:
    """The norm of a claim: its attack's, a worst-case claim's ``norm`` (default ``default_norm``), "" for clean."""
    if claim["attack"] == WORST_CASE:
        return str(claim.get("norm", default_norm(card)))
    return "" if claim["attack"] == CLEAN else str(ATTACKS.get(claim["attack"]).norm_name)


def claim_n(card: ModelCard, claim: dict[str, Any]) -> int:
    """A claim's n: its own, else the dataset's default."""
    return int(claim.get("n", DATASETS.get(card.dataset).n))


def _robust_attack_error(attack: str) -> str | None:
    if attack == WORST_CASE:
        return None
    if attack == CLEAN:
        return "robust_accuracy needs an attack"
    kind = attack_kind(attack)
    if kind not in CLAIM_KINDS:
        return (f"robust_accuracy needs a robustness attack (multi-step white-box, black-box, AutoAttack or "
                f"worst-case); {attack} is a {kind} attack")
    if ATTACKS.get(attack).single_step:
        return f"robust_accuracy needs a multi-step attack; {attack} is single-step"
    return None


def claim_errors(card: ModelCard) -> list[str]:
    """Every problem with a card's claims: unknown attacks or metrics, eps outside the dataset's grid, attacks too
    weak to support a robust-accuracy claim, accuracy claims on fewer than ``MIN_ACCURACY_N`` examples."""
    if not card.claims:
        return ["the card makes no claims (add [[claims]] tables: attack, metric, value, eps)"]
    spec = DATASETS.get(card.dataset)
    outputs = _metric_outputs()
    errors = []
    for i, c in enumerate(card.claims):
        attack, metric, eps = c["attack"], c["metric"], float(c.get("eps", 0.0))
        if attack not in (CLEAN, WORST_CASE) and attack not in ATTACKS:
            errors.append(f"claims[{i}]: unknown attack {attack!r}")
            continue
        if metric not in (*ACCURACIES, *outputs):
            errors.append(f"claims[{i}]: unknown metric {metric!r}")
        elif metric == "robust_accuracy" and (problem := _robust_attack_error(attack)):
            errors.append(f"claims[{i}]: {problem}")
        elif attack == WORST_CASE and metric != "robust_accuracy":
            errors.append(f"claims[{i}]: a worst-case claim is a robust_accuracy claim")
        if "norm" in c and attack != WORST_CASE:
            errors.append(f"claims[{i}]: norm goes with attack = {WORST_CASE!r} only (other attacks have theirs)")
        norm = claim_norm(card, c)
        if norm and norm not in spec.eps:
            errors.append(f"claims[{i}]: unknown norm {norm!r} (known: {', '.join(spec.eps)})")
        elif norm and not any(same_eps(eps, e) for e in spec.eps[norm]) and not has_role(attack, "protocol"):
            errors.append(f"claims[{i}]: eps {eps:g} is not in the {card.dataset} {norm} grid "
                          f"({', '.join(f'{e:g}' for e in spec.eps[norm])})")
        if not math.isfinite(float(c["value"])):
            errors.append(f"claims[{i}]: value must be finite")
        if metric in ACCURACIES and claim_n(card, c) < MIN_ACCURACY_N:
            errors.append(f"claims[{i}]: an accuracy claim needs n >= {MIN_ACCURACY_N} (got {claim_n(card, c)})")
        elif claim_n(card, c) < 1:
            errors.append(f"claims[{i}]: n must be at least 1")
    return errors


def load_submission(path: Path | str) -> ModelCard:
    """Read and validate a submission's card (every schema and claim error at once) and load its weights once,
    so a wrong sha256, a truncated or hostile file, wrong shapes or NaN are refused before anything runs."""
    card = read_card(find_submission_card(path))
    if not card.outside:
        ARCHS.canonical(card.arch)  # unknown architecture: did-you-mean, exit 2
    errors = claim_errors(card)
    if errors:
        raise ConfigError(f"{card.path}: invalid claims: {'; '.join(errors)}")
    model_from_card(card)
    return card


def admit_submission(card: ModelCard, results: Path | str, *, device: str = "auto",
                     zoo: bool = False) -> Admission | None:
    """The admission checks of a submission (stored in ``results``; read back when already there). Raises
    ``AdmissionError`` when any check failed: a submission is verified and installed only when it passes all. A
    ``zoo`` card of rib's own architectures needs none (None); an outside one installed in the zoo does."""
    if zoo and not needs_admission(card):
        return None
    return admit(card, ResultStore(results), device=device, submission=True)


MARGIN_FIXED_N = 500  # from this n on, the margin is a fixed MARGIN_FIXED (the interval is narrow enough)
MARGIN_FIXED = 0.02


def accuracy_margin(successes: int, n: int) -> tuple[float, float]:
    """(below, above): how far a claim may lie below or above rib's measurement (``successes`` of ``n``): the
    distances to rib's 95% Wilson bounds at ``n`` below ``MARGIN_FIXED_N`` images, a fixed 2 points from then on."""
    if n >= MARGIN_FIXED_N:
        return MARGIN_FIXED, MARGIN_FIXED
    lo, hi = wilson_interval(successes, n, Z_95)
    value = successes / n
    return value - lo, hi - value


def accuracy_agrees(claimed: float, metric: str, successes: int, n: int) -> tuple[bool, str, float]:
    """Whether a claimed accuracy agrees with rib's measurement (``successes`` of ``n``, rib's n and sample): a
    robust-accuracy claim may not exceed it by more than the margin (``accuracy_margin``; below it is fine: the
    submitter's attacks were weaker or their sample harder), a clean-accuracy claim must lie within the margin both
    ways. Returns (agrees, rule, the margin that applied)."""
    below, above = accuracy_margin(successes, n)
    gap = claimed - successes / n
    if metric == "robust_accuracy":
        return gap <= above + 1e-12, "margin", above
    return -below - 1e-12 <= gap <= above + 1e-12, "margin", above if gap > 0 else below


def metric_agrees(claimed: float, value: float, ci_low: float, ci_high: float, tolerance: float) -> bool:
    """Whether a metric claim agrees: inside the measured 95% interval, or within ``tolerance`` relative to the
    measured value."""
    inside = math.isfinite(ci_low) and ci_low - 1e-12 <= claimed <= ci_high + 1e-12
    return inside or abs(claimed - value) <= tolerance * abs(value)


def card_status(card: ModelCard, checks: list[ClaimReproduction]) -> VerificationStatus:
    """The verdict on a card from its checks (see the module's docstring)."""
    if not checks or not all(c.reproduced for c in checks):
        return FAILED
    if not any(c.metric == "robust_accuracy" for c in checks):
        return CLEAN_ONLY
    norm = default_norm(card)
    headline = headline_eps(card.dataset, norm)
    if any(c.attack == WORST_CASE and c.norm == norm and same_eps(c.eps, headline) for c in checks):
        return VERIFIED
    return NO_WORST_CASE


def measure_worst_case(card: ModelCard, norm: str, eps: float, sampling: Sampling, ctx: RunContext, *,
                       first_stage: dict[str, list[Any]] | None = None) -> tuple[int, int]:
    """(examples robust to the full ensemble, n): PGD of ``norm`` on rib's sample of ``sampling.n`` test images,
    then AutoAttack only on the examples PGD left robust; an example counts when it survives both. ``ctx`` gives
    the device and the models loaded so far. ``first_stage``: the per-example columns of a PGD cell already
    measured on the same sample (used instead of running PGD again)."""
    model = cached_model(card, ctx.device, ctx.models)
    n, seed, batch_size, progress = sampling.n, sampling.seed, sampling.batch_size, ctx.progress
    x, y = load_dataset(card.dataset, "test")
    idx = stratified_indices(y, n)
    x, y = x[idx], y[idx]
    at = ([i for i, e in enumerate(first_stage["eps"]) if same_eps(e, eps)] if first_stage else [])
    if first_stage and len(at) == n and [first_stage["index"][i] for i in at] == idx.tolist():
        alive = torch.tensor([bool(first_stage["robust"][i]) for i in at])
    else:
        first = create_attack(attack_for("reference", norm))(model, x, y, [eps], seed=seed, batch_size=batch_size,
                                                             progress=progress)
        alive = first.robust[:, 0]
    last = attack_survivors(create_attack(attack_for("headline-ensemble", norm)), model, x, y, eps, alive,
                            AttackRun(seed, batch_size, progress))
    robust = alive & last.robust[:, 0]
    return int(robust.sum()), len(robust)


def verification_n(dataset: str) -> int:
    """The n rib measures claims at by default: the headline ensemble's n in the default grid (its sample is the
    headline's images), whatever n a card's claims were measured at."""
    spec = grid_spec("default", dataset)
    ns = [int(g.get("n", spec.n)) for g in spec.attacks if g.get("eps") == "headline"
          and any(ATTACKS.get(a).kind == "ensemble" for a in g.get("names", []))]
    return max(MIN_ACCURACY_N, *ns) if ns else spec.n


@dataclass(frozen=True)
class VerificationPlan:
    """What verifying a card runs, each thing once: the cells whose rows answer the claims (``cells``, with the
    attack each is filed under), the attack cell whose clean accuracy answers the clean-accuracy claims, and per
    worst-case claim (norm, eps) the PGD cell reused from ``cells`` (or run for it) and AutoAttack on its survivors."""

    n: int
    cells: tuple[tuple[str, Cell], ...]
    clean_source: str
    worst: tuple[tuple[str, float], ...]
    seed: int
    batch_size: int

    @property
    def sampling(self) -> Sampling:
        """The images every cell of the plan reads."""
        return Sampling(self.n, self.seed, self.batch_size)

    def priced_cells(self, card: ModelCard) -> list[Cell]:
        """Every cell the plan runs, the worst-case stages included (what ``--dry-run`` prices): a worst case's PGD
        stage only when no claim cell already measures it, its AutoAttack stage always (on PGD's survivors)."""
        out = [c for _, c in self.cells]
        for norm, eps in self.worst:
            pgd = attack_for("reference", norm)
            if not any(a == pgd and c.kind == "attack" and any(same_eps(e, eps) for e in c.eps)
                       for a, c in self.cells):
                out.append(plan_cell(card, pgd, [eps], self.sampling))
            out.append(plan_cell(card, attack_for("headline-ensemble", norm), [eps], self.sampling))
        return out


def plan_verification(card: ModelCard, *, n: int | None = None, models_dir: ModelDirs = None) -> VerificationPlan:
    """The cells ``verify_card`` runs for ``card`` at rib's n (``verification_n``, or ``n`` when given): claims on
    the same attack and n share one cell, and a worst-case claim's PGD stage reuses a PGD claim's cell."""
    if n is not None and n < MIN_ACCURACY_N and any(c["metric"] in ACCURACIES for c in card.claims):
        raise ConfigError(f"--n {n}: accuracy claims are measured on at least {MIN_ACCURACY_N} examples")
    spec = grid_spec("default", card.dataset)
    cn = n or verification_n(card.dataset)  # every claim is measured at rib's n, whatever n it names
    groups: dict[tuple[str, bool], set[float]] = {}
    for c in card.claims:  # robust-accuracy and metric claims, grouped into cells
        if c["metric"] != "clean_accuracy" and c["attack"] != WORST_CASE:
            groups.setdefault((c["attack"], c["metric"] not in ACCURACIES), set()).add(float(c.get("eps", 0.0)))
    clean_source = ""  # the attack cell whose clean accuracy answers clean-accuracy claims
    if any(c["metric"] == "clean_accuracy" for c in card.claims):
        attacked = sorted(a for (a, m) in groups if not m)
        clean_source = attacked[0] if attacked else attack_for("single-step", "linf")  # any attack cell measures it
        if not attacked:
            groups[(clean_source, False)] = {spec.eps["linf"][0]}
    cells: list[tuple[str, Cell]] = []
    sampling = Sampling(cn, spec.seed, spec.batch_size)
    for (attack, is_metric), eps_set in sorted(groups.items()):
        if is_metric:
            names = sorted({m for m in METRICS.names() for c in card.claims
                            if c["metric"] in METRICS.get(m).outputs and c["attack"] == attack})
            cells += [(attack, plan_metric_cell(card, attack, names, sampling, models_dir=models_dir,
                                                eps=None if attack == CLEAN else e))
                      for e in sorted(eps_set)]
        else:
            cells.append((attack, plan_cell(card, attack, sorted(eps_set), sampling, models_dir=models_dir)))
    worst = sorted({(claim_norm(card, c), round(float(c.get("eps", 0.0)), 9)) for c in card.claims
                    if c["attack"] == WORST_CASE})
    return VerificationPlan(cn, tuple(cells), clean_source, tuple(worst), spec.seed, spec.batch_size)


def verification_dry_run(card: ModelCard, results: Path | str = "results", *, n: int | None = None,
                         models_dir: ModelDirs = None) -> str:
    """What ``rib verify --dry-run`` prints for ``card``: every cell verification would run (claims sharing a cell
    once, a worst case as PGD then AutoAttack on its survivors), each priced from stored cells like it."""
    plan = plan_verification(card, n=n, models_dir=models_dir)
    table, _, todo = plan_table(plan.priced_cells(card), ResultStore(results), True, price_reference(results))
    admission = ", after the admission checks (seconds)" if needs_admission(card) else ""
    return f"{card.id}: {len(card.claims)} claims, measured at n = {plan.n} in {todo} cells{admission}\n{table}"


def verify_card(card: ModelCard, *, n: int | None = None, tolerance: float = DEFAULT_TOLERANCE,
                device: str = "auto", models_dir: ModelDirs = None, progress: bool = False) -> list[ClaimReproduction]:
    """Re-measure every claim of ``card`` on rib's sample at rib's n (``verification_n``, or ``n`` when given):
    one check per claim, in the card's order. Claims share cells (``plan_verification``); a metric claim on an
    attack's inputs reuses the claimed attack cell's adversarial inputs where that cell ran at the metric's one eps,
    and otherwise runs the attack itself."""
    plan = plan_verification(card, n=n, models_dir=models_dir)
    dev = resolve_device(device)
    ctx = RunContext.of(dev, models_dir=models_dir, progress=progress)
    measured: dict[tuple[str, str, float], dict[str, Any]] = {}  # (attack, metric, eps) → its row, at plan.n
    per_example: dict[str, dict[str, list[Any]]] = {}  # attack → its per-example columns
    ctx.keep = reused_inputs([cell for _, cell in plan.cells])  # a metric claim on a claimed attack's own inputs
    for attack, cell in plan.cells:
        rows, examples = evaluate_cell(cell, ctx, card=card)
        if cell.kind == "attack":
            per_example[attack] = examples
        for row in rows:
            measured[(attack, row["metric"], round(float(row["eps"]), 9))] = row
    worst: dict[tuple[str, float], tuple[int, int]] = {}
    checks = []
    for c in card.claims:
        own_n, norm = claim_n(card, c), claim_norm(card, c)
        metric, claimed = c["metric"], float(c["value"])
        is_metric = metric not in ACCURACIES
        eps = 0.0 if metric == "clean_accuracy" or (is_metric and c["attack"] == CLEAN) else float(c.get("eps", 0.0))
        if c["attack"] == WORST_CASE:
            wkey = (norm, round(eps, 9))
            if wkey not in worst:
                worst[wkey] = measure_worst_case(card, norm, eps, plan.sampling, ctx,
                                                 first_stage=per_example.get(attack_for("reference", norm)))
            k, count = worst[wkey]
            value, (lo, hi) = k / count, wilson_interval(k, count)
        else:
            attack = plan.clean_source if metric == "clean_accuracy" else c["attack"]
            r = measured.get((attack, metric, round(eps, 9)))
            if r is None:
                raise RibError(f"{card.id}: no measurement for claim {c} (an attack that does not report it?)")
            value, lo, hi, count = float(r["value"]), float(r["ci_low"]), float(r["ci_high"]), int(r["n"])
        if is_metric:
            ok, rule, margin = metric_agrees(claimed, value, lo, hi, tolerance), "metric", tolerance
        else:
            ok, rule, margin = accuracy_agrees(claimed, metric, round(value * count), count)
        checks.append(ClaimReproduction(c["attack"], metric, norm, eps, count, own_n, claimed, value, lo, hi,
                                 margin, math.nan, rule, ok))
    return checks


def checks_table(card: ModelCard, checks: list[ClaimReproduction]) -> str:
    """The per-claim table ``rib verify`` prints, and the card's verdict."""
    def pct(metric: str, v: float) -> str:
        return f"{100 * v:.1f}%" if metric in ACCURACIES else f"{v:.4f}"

    def rule(c: ClaimReproduction) -> str:
        if c.rule == "margin":
            return (f"≤ measured + {100 * c.tolerance:.1f} pts" if c.metric == "robust_accuracy"
                    else f"within ±{100 * c.tolerance:.1f} pts")
        return f"CI or ±{100 * c.tolerance:g}%"

    rows = [[c.attack, c.metric, c.norm or "-", f"{c.eps:g}", c.n if c.n == c.claim_n else f"{c.n} (claim {c.claim_n})",
             pct(c.metric, c.claimed), pct(c.metric, c.measured),
             f"[{pct(c.metric, c.ci_low)}, {pct(c.metric, c.ci_high)}]",
             (f"{100 * c.gap:+.1f} pts" if c.metric in ACCURACIES else f"{c.gap:+.4f}"), rule(c),
             "reproduced" if c.reproduced else "NOT reproduced"] for c in checks]
    headers = ["attack", "metric", "norm", "eps", "n", "claimed", "measured", "95% CI", "gap", "check", "result"]
    return format_table(headers, rows) + f"\n{card.id}: {card_status(card, checks)} " \
        f"({sum(c.reproduced for c in checks)} of {len(checks)} claims reproduced)"


def records_path(results: Path | str, dataset: str) -> Path:
    return Path(results) / dataset / "verifications.parquet"


def _read_records(path: Path) -> list[dict[str, Any]]:
    """The stored records, columns that older files lack filled with None."""
    if not path.is_file():
        return []
    try:
        rows = pq.read_table(path).to_pylist()
    except (pa.ArrowInvalid, OSError) as exc:
        raise RibError(f"{path} is not a readable verification file ({exc})") from exc
    return [{name: r.get(name) for name in RECORD_SCHEMA.names} for r in rows]


def write_record(card: ModelCard, checks: list[ClaimReproduction], results: Path | str) -> Path:
    """Add this verification to ``<results>/<dataset>/verifications.parquet`` (replacing an earlier one of the same
    model and weights), atomically; every row carries the card's verdict."""
    prov = provenance(torch.device("cpu"))
    status = card_status(card, checks)
    new = [{"dataset": card.dataset, "model": card.id, "weights_sha256": card.weights_sha256, **asdict(c),
            "status": status, "rib_version": prov["rib_version"], "git_sha": prov["git_sha"],
            "created_at": prov["created_at"]} for c in checks]
    path = records_path(results, card.dataset)
    keep = [r for r in _read_records(path) if (r["model"], r["weights_sha256"]) != (card.id, card.weights_sha256)]
    write_table_atomic(pa.Table.from_pylist(keep + new, schema=RECORD_SCHEMA), path)
    return path


def verification_status(results: Path | str, dataset: str, models: dict[str, str] | None = None) -> dict[str, str]:
    """The verdict per model id (``card_status``'s, stored with the records; for ``models``: only records of the
    given weights sha256). Records written before verdicts were stored read as ``failed`` or, when every claim
    reproduced, as ``clean-only`` / ``unverified (no worst-case claim)``."""
    rows = _read_records(records_path(results, dataset))
    if not rows:
        return {}
    df = pd.DataFrame(rows)
    out = {}
    for (model, sha), group in df.groupby(["model", "weights_sha256"]):
        if models is not None and models.get(str(model)) != sha:
            continue
        stored = [s for s in group["status"] if isinstance(s, str)]
        if stored:
            out[str(model)] = stored[0]
        elif not bool(group["reproduced"].all()):
            out[str(model)] = FAILED
        else:
            out[str(model)] = NO_WORST_CASE if (group["metric"] == "robust_accuracy").any() else CLEAN_ONLY
    return out


def release_claims(card: ModelCard, results: Path | str) -> list[dict[str, Any]]:
    """Claims for an authors' network: its clean accuracy on the whole test split (measured by ``rib release``) and
    what the authors' protocol measures at each eps of its stored cell, on their images; then, where its headline is
    stored, the claims of every zoo card (``claims_from_results``)."""
    claims: list[dict[str, Any]] = []
    if "test_accuracy" in card.provenance:
        claims.append({"attack": CLEAN, "metric": "clean_accuracy", "value": round(float(card.provenance[
            "test_accuracy"]), 4), "n": int(card.provenance.get("n_test", DATASETS.get(card.dataset).n))})
    df = ResultStore(results).scan().to_pandas()
    df = df[(df["dataset"] == card.dataset) & (df["model"] == card.id) & (df["weights_sha256"] == card.weights_sha256)
            & (df["metric"] == "robust_accuracy")]
    protocol = df[df["attack"].map(lambda a: has_role(str(a), "protocol")).astype(bool)].sort_values("eps")
    claims += [{"attack": str(r["attack"]), "metric": "robust_accuracy", "eps": float(r["eps"]),
                "value": round(float(r["value"]), 4), "n": int(r["n"])} for _, r in protocol.iterrows()]
    with contextlib.suppress(RibError):  # without its headline stored, the protocol's claims alone
        claims += claims_from_results(card, results)[1:]  # its own clean claim is the whole split's, above
    return claims


def claims_from_results(card: ModelCard, results: Path | str) -> list[dict[str, Any]]:
    """Claims for a zoo card from the stored results of its current weights: clean accuracy and PGD robust
    accuracy at each norm's headline eps (at the dataset's n), and the worst case over every stored attack at the
    headline eps of the trained norm (linf when untrained), over the examples that faced AutoAttack."""
    spec = DATASETS.get(card.dataset)
    store = ResultStore(results)
    df = store.scan().to_pandas()
    df = df[(df["dataset"] == card.dataset) & (df["model"] == card.id) & (df["weights_sha256"] == card.weights_sha256)]
    claims = []
    df = df[row_samples(df) == ""]  # rib's own sample: an authors' image set never answers a card's claims
    pgd_linf, pgd_l2 = attack_for("reference", "linf"), attack_for("reference", "l2")
    for attack, metric, eps in ((pgd_linf, "clean_accuracy", 0.0), (pgd_linf, "robust_accuracy", spec.headline["linf"]),
                                (pgd_l2, "robust_accuracy", spec.headline["l2"])):
        hit = df[(df["attack"] == attack) & (df["metric"] == metric) & (at_eps(df["eps"], eps))
                 & (df["n"] == spec.n)]
        if hit.empty:
            raise RibError(f"{card.id}: no stored {attack} {metric} at eps {eps:g} with n={spec.n} in {results}")
        claim = {"attack": CLEAN if metric == "clean_accuracy" else attack, "metric": metric,
                 "value": round(float(hit["value"].iloc[0]), 4), "n": spec.n}
        if metric != "clean_accuracy":
            claim["eps"] = eps
        claims.append(claim)
    norm = default_norm(card)
    eps = headline_eps(card.dataset, norm)
    examples = store.examples(dataset=card.dataset, model=card.id).to_pandas()
    wc = worst_case(examples, robustness_cells(df))
    hit = wc[(wc["norm"] == norm) & (at_eps(wc["eps"], eps)) & wc["ensemble"].astype(bool)]
    autoattack = df[(df["attack"] == attack_for("headline-ensemble", norm)) & (at_eps(df["eps"], eps))]
    if hit.empty or autoattack.empty:
        raise RibError(f"{card.id}: no stored AutoAttack cell at {norm} eps {eps:g} for its current weights in "
                       f"{results}: the worst case is not at ensemble strength")
    count = int(hit["n"].iloc[0])
    if count < MIN_ACCURACY_N:
        raise RibError(f"{card.id}: the stored worst case at {norm} eps {eps:g} covers {count} examples (the "
                       f"AutoAttack cell's n); a claim needs at least {MIN_ACCURACY_N}: raise that n in the grid")
    claims.append({"attack": WORST_CASE, "metric": "robust_accuracy", "norm": norm, "eps": eps,
                   "value": round(float(hit["value"].iloc[0]), 4), "n": count})
    return claims


def zoo_cards_with_new_claims(dataset: str = DEFAULT_DATASET, results: Path | str = "results", *,
                              models_dir: ModelDirs = None) -> list[ModelCard]:
    """Every zoo card of ``dataset`` with its claims rewritten from the stored results (``claims_from_results``),
    in memory only: what ``--dry-run`` plans for, and what ``write_zoo_claims`` writes."""
    cards = [c for c in list_cards(dataset, models_dir) if c.path is not None]
    claims = [release_claims(card, results) if card.from_release else claims_from_results(card, results)
              for card in cards]  # all computed before any card changes
    for card, new in zip(cards, claims, strict=True):
        card.claims = new
    return cards


def write_zoo_claims(dataset: str = DEFAULT_DATASET, results: Path | str = "results", *,
                     models_dir: ModelDirs = None) -> list[ModelCard]:
    """Rewrite the claims of every zoo card of ``dataset`` from the stored results, all computed before any card is
    written; returns the rewritten cards."""
    cards = zoo_cards_with_new_claims(dataset, results, models_dir=models_dir)
    for card in cards:
        assert card.path is not None  # zoo_cards_with_new_claims keeps only cards read from a file
        write_card(card, card.path)
    return cards


def zoo_submissions(dataset: str = DEFAULT_DATASET, models_dir: ModelDirs = None) -> list[ModelCard]:
    """Every zoo card of ``dataset``, read and checked as a submission would be (``load_submission``)."""
    return [load_submission(c.path) for c in list_cards(dataset, models_dir) if c.path is not None]
