"""Flags decide: why a model is listed apart from the ranking under one threat model, from its stored rows alone.

A model is not ranked, and never shown ``verified``, when an admission check failed (``rib.admission``) or a masking
flag the headline does not answer fired under that norm. The headline is the per-example worst case with AutoAttack
on every counted example, so flags about the attacks it already outdoes are resolved by it: ``pgd_unreliable``,
``black_box_beats_white_box`` and AutoAttack's ``square_beats_gradient`` (Square runs inside the ensemble on every
counted image), ``vanishing_gradients``, ``ce_saturation`` and AutoAttack's ``zero_gradients`` (its Square needs no
gradient, its targeted DLR loss no softmax). Unresolved: ``UNRESOLVED_FLAGS``.
"""

from __future__ import annotations

import pandas as pd

from rib.admission.record import failure_reasons
from rib.grid import ADMISSION_ATTACK
from rib.verify import FLAGGED, NOT_ADMITTED, VERIFIED

UNRESOLVED_FLAGS = (
    "non_monotone",  # the attack finds fewer adversarials at a larger eps: its own numbers do not hold together
    "large_eps_not_zero",  # where every input reaches mid-gray, the attack leaves images correct: misled gradients
    "autoattack_warning:randomized",  # the ensemble's numbers assume a deterministic model
    "autoattack_warning:dynamic",
    "autoattack_warning:probability_output",
)


def fired_flags(rows: pd.DataFrame) -> pd.DataFrame:
    """The ``flag:*`` rows of ``rows`` that fired (value > 0): the one filter behind badges, reasons and summaries."""
    return rows[rows["metric"].str.startswith("flag:") & (rows["value"] > 0)]


def unranked_reasons(rows: pd.DataFrame, norm: str) -> list[str]:
    """Why a model (``rows``: its stored rows of one dataset, current weights) is not ranked under ``norm``: every
    failed admission check (``admission: <check>: <what was found>``), then every unresolved masking flag that
    fired under ``norm`` (``flag <name> (<attack>)``); empty when it is ranked."""
    reasons = [f"admission: {r}" for r in failure_reasons(rows[rows["attack"] == ADMISSION_ATTACK])]
    fired = fired_flags(rows[rows["norm"] == norm])
    for flag in UNRESOLVED_FLAGS:
        attacks = sorted(set(fired[fired["metric"] == f"flag:{flag}"]["attack"].astype(str)))
        if attacks:
            reasons.append(f"flag {flag} ({', '.join(attacks)})")
    return reasons


def gated_status(status: str, reasons: list[str]) -> str:
    """The verification status shown beside a model not ranked for ``reasons``: ``not admitted`` after a failed
    admission check; a ``verified`` record under an unresolved masking flag shows as ``FLAGGED``."""
    if any(r.startswith("admission: ") for r in reasons):
        return NOT_ADMITTED
    return FLAGGED if reasons and status == VERIFIED else status
