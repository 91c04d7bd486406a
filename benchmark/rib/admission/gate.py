"""Admission before evaluation: each outside model's checks are read from the store or run (and stored) before any
of its cells runs; a refused model stops the run with one line, a marked one is announced with one line per failed
check, and a model without usable gradients keeps only its black-box and transfer cells."""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from rib.admission.checks import DETERMINISTIC, GENERALIZES, GRADIENTS, run_checks
from rib.admission.record import Admission, store_admission, stored_admission
from rib.attacks import ATTACKS
from rib.engine import CellOutcome, base_row, not_applicable_row
from rib.errors import AdmissionError, RibWarning
from rib.grid import Cell
from rib.runtime import resolve_device
from rib.store import ResultStore
from rib.zoo import ModelCard, find_card
from rib.zoo.catalog import ModelDirs
from rib.zoo.factory import cached_model
from rib.zoo.robustbench_models import ARCH as ROBUSTBENCH_ARCH

GRADIENT_KINDS = frozenset({"white-box", "ensemble", "interpretation"})  # attacks that follow input gradients
WHAT_FOLLOWS = {DETERMINISTIC: "evaluated, never ranked or verified (no Expectation over Transformation)",
                GRADIENTS: "evaluated with black-box and transfer attacks only, never ranked or verified",
                GENERALIZES: "evaluated, never ranked or verified"}
ADMISSION_REASON_RUN = "admission"  # the run_id of the cells admission stores as not applicable


def needs_admission(card: ModelCard) -> bool:
    """Whether a model comes from outside rib's code (an ONNX graph, a module given to ``rib.evaluate``, a
    RobustBench network): rib's own architectures cannot be randomized, batch-dependent or probability-valued."""
    return card.outside or card.arch == ROBUSTBENCH_ARCH


def admission_norm(card: ModelCard) -> str:
    """The norm the generalization check attacks in: the trained norm, linf for an untrained model."""
    return card.trained_norm if card.trained_norm in ("linf", "l2") else "linf"


def announce(admission: Admission, *, strict: bool = False) -> None:
    """Raise ``AdmissionError`` (one line) when a refusing check failed, or any check with ``strict`` (verification
    and submission); otherwise one ``RibWarning`` line per failed check."""
    failed = admission.failed
    if admission.refused or (strict and failed):
        why = "; ".join(f"{c.name}: {c.detail}" for c in failed)
        what = "refused" if admission.refused else "not admitted to verification or the leaderboard"
        raise AdmissionError(f"{admission.model} is {what} by the admission checks: {why} (stored with the results)")
    for c in failed:
        warnings.warn(f"{admission.model}: admission check {c.name} failed: {c.detail}; "
                      f"{WHAT_FOLLOWS.get(c.name, 'never ranked or verified')}", RibWarning, stacklevel=3)


def admit(card: ModelCard, store: ResultStore, *, device: torch.device | str = "auto", model: nn.Module | None = None,
          submission: bool = False, force: bool = False) -> Admission | None:
    """The admission of ``card``'s weights (None for rib's own models, unless ``submission``): read from ``store``,
    or measured on ``model`` (default: loaded from the card) and stored there; then announced (``announce``,
    strict for a ``submission``). ``force`` measures again."""
    if not (submission or needs_admission(card)):
        return None
    admission = None if force else stored_admission(store, card)
    if admission is None:
        dev = resolve_device(device) if isinstance(device, str) else device
        net = model if model is not None else cached_model(card, dev, {})
        start = time.perf_counter()
        checks = run_checks(net, card.dataset, norm=admission_norm(card), device=dev)
        admission = Admission(card.id, card.dataset, card.weights_sha256, checks)
        store_admission(store, card, admission, device=dev, duration=time.perf_counter() - start)
    announce(admission, strict=submission)
    return admission


@dataclass
class Admitted:
    """What ``admit_cells`` leaves to run, the outcomes it stored instead (not applicable), and each admission."""

    cells: list[Cell]
    skipped: list[CellOutcome] = field(default_factory=list)
    admissions: dict[tuple[str, str], Admission] = field(default_factory=dict)


def _not_applicable(cell: Cell, card: ModelCard, admission: Admission, store: ResultStore, force: bool,
                    device: torch.device) -> CellOutcome:
    """A gradient attack's cell on a model without usable gradients: stored as not applicable, with the reason."""
    if not force and (rows := store.stored_rows(cell)) is not None:
        return CellOutcome(cell, rows, True)
    check = next(c for c in admission.checks if c.name == GRADIENTS)
    reason = f"admission: {check.detail}: evaluated with black-box and transfer attacks only"
    base = base_row(cell, card, ATTACKS.get(cell.attack).norm_name, 0.0, device, ADMISSION_REASON_RUN)
    rows = [not_applicable_row(base, "robust_accuracy", e, reason) for e in cell.eps]
    empty: dict[str, list[Any]] = {k: [] for k in ("cell_id", "index", "eps", "clean_correct", "robust", "distance")}
    store.write(rows, empty, kind="attack")
    return CellOutcome(cell, rows, False)


def admit_cells(cells: Sequence[Cell], store: ResultStore, *, device: str = "auto", models_dir: ModelDirs = None,
                force: bool = False, cards: dict[str, ModelCard] | None = None,
                model_cache: dict[str, Any] | None = None) -> Admitted:
    """Admit every model of ``cells`` before any cell runs (``admit``: a refused model raises ``AdmissionError``
    and nothing runs). The attack cells of a model without usable input gradients that follow gradients (white-box,
    AutoAttack, the CAM attack) are stored as not applicable and left out. ``cards`` (by id) and ``model_cache``
    (``cached_model``'s) serve models outside the zoo, as ``rib.evaluate`` has them."""
    dev = resolve_device(device)
    cache = model_cache if model_cache is not None else {}
    found: dict[tuple[str, str], tuple[ModelCard, Admission | None]] = {}
    for dataset, model in dict.fromkeys((c.dataset, c.model) for c in cells):
        card = (cards or {}).get(model) or find_card(model, dataset, models_dir)
        lazy = cached_model(card, dev, cache) if needs_admission(card) else None
        found[(dataset, model)] = (card, admit(card, store, device=dev, model=lazy, force=force))
    out = Admitted([], admissions={k: a for k, (_, a) in found.items() if a is not None})
    for cell in cells:
        card, admission = found[(cell.dataset, cell.model)]
        if (admission is not None and not admission.passed(GRADIENTS) and cell.kind == "attack"
                and ATTACKS.get(cell.attack).kind in GRADIENT_KINDS):
            out.skipped.append(_not_applicable(cell, card, admission, store, force, dev))
        else:
            out.cells.append(cell)
    return out
