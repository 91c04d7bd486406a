"""An admission as stored rows: one derived cell per model and weights (attack ``admission``, kind ``check``), one
``flag:admission:<check>`` row per check (value 1 failed, 0 passed, NaN not judged; what was measured in ``params``),
so the checks live with the results they gate and are read back instead of recomputed."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from rib.admission.checks import CHECKS, REFUSE, Check
from rib.grid import ADMISSION_ATTACK
from rib.runtime import provenance
from rib.store import ResultStore, summary_row
from rib.zoo import ModelCard

ADMISSION_VERSION = 1  # bump when a check or threshold changes: every model is then checked again
PREFIX = "flag:admission:"


@dataclass(frozen=True)
class Admission:
    """One model's checks (``rib.admission.checks.run_checks``) for one set of weights."""

    model: str
    dataset: str
    weights_sha256: str
    checks: tuple[Check, ...]

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if c.failed]

    @property
    def refused(self) -> bool:
        """Whether a check that refuses the model failed: nothing of it is attacked."""
        return any(c.consequence == REFUSE for c in self.failed)

    def passed(self, name: str) -> bool:
        """Whether the check ``name`` did not fail (passed, or not judged)."""
        return not any(c.name == name for c in self.failed)


@dataclass(frozen=True)
class RecordKey:
    """Where a model's admission is stored (what ``ResultStore.stored_rows`` and ``summary_path`` ask of a cell)."""

    dataset: str
    model: str
    weights_sha256: str
    attack: str = ADMISSION_ATTACK

    @property
    def cell_id(self) -> str:
        payload = [self.dataset, self.model, self.weights_sha256, ADMISSION_VERSION, list(CHECKS)]
        return hashlib.sha256(json.dumps(payload).encode()).hexdigest()


def record_key(card: ModelCard) -> RecordKey:
    return RecordKey(card.dataset, card.id, card.weights_sha256)


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def admission_rows(card: ModelCard, admission: Admission, *, device: torch.device, duration: float) -> list[dict]:
    """The stored rows of ``admission`` (one per check, in ``CHECKS`` order)."""
    prov = provenance(device)
    key = record_key(card)
    base = {"run_id": ADMISSION_ATTACK, "cell_id": key.cell_id, "created_at": prov["created_at"], "model": card.id,
            "dataset": card.dataset, "defense": card.defense, "trained_norm": card.trained_norm,
            "trained_eps": float(card.trained_eps), "attack": ADMISSION_ATTACK, "norm": "", "seed": 0,
            "weights_sha256": card.weights_sha256, "rib_version": prov["rib_version"], "git_sha": prov["git_sha"],
            "torch_version": prov["torch_version"], "device": prov["device"], "duration_s": round(duration, 3)}
    rows = []
    for c in admission.checks:
        params = {"consequence": c.consequence, "measured": _finite(c.value), "threshold": c.threshold,
                  "passed": c.passed, "detail": c.detail}
        value = math.nan if c.passed is None else float(c.failed)
        rows.append(summary_row({**base, "params": json.dumps(params, sort_keys=True)}, PREFIX + c.name, 0.0, value,
                                c.n))
    return rows


def admission_from_rows(rows: list[dict[str, Any]]) -> Admission:
    """The admission whose stored rows are ``rows``."""
    checks = []
    for r in rows:
        params = json.loads(r["params"])
        measured = params.get("measured")
        checks.append(Check(str(r["metric"])[len(PREFIX):], params.get("passed"),
                            math.nan if measured is None else float(measured), float(params["threshold"]),
                            int(r["n"]), str(params["detail"])))
    first = rows[0]
    return Admission(str(first["model"]), str(first["dataset"]), str(first["weights_sha256"]), tuple(checks))


def store_admission(store: ResultStore, card: ModelCard, admission: Admission, *, device: torch.device,
                    duration: float = 0.0) -> Path:
    """Write ``admission`` as the derived cell of ``card``'s weights (atomically, like every cell)."""
    empty: dict[str, list[Any]] = {k: [] for k in ("cell_id", "index", "eps", "clean_correct", "robust", "distance")}
    return store.write(admission_rows(card, admission, device=device, duration=duration), empty, kind="check")


def stored_admission(store: ResultStore, card: ModelCard) -> Admission | None:
    """The stored admission of ``card``'s weights, or None (a damaged record is set aside, with a warning)."""
    rows = store.stored_rows(record_key(card))
    return admission_from_rows(rows) if rows else None


def failure_reasons(rows: Any) -> list[str]:
    """``check: detail`` of each failed check among stored summary rows (a DataFrame or a list of row dicts)."""
    records = rows.to_dict("records") if hasattr(rows, "to_dict") else list(rows)
    out = []
    for r in records:
        if r["attack"] == ADMISSION_ATTACK and str(r["metric"]).startswith(PREFIX) and r["value"] > 0:
            out.append(f"{str(r['metric'])[len(PREFIX):]}: {json.loads(r['params']).get('detail', '')}")
    return sorted(set(out))
