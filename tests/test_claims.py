"""Claims comparing two models' worst cases: paired on shared images, and never decided on upper bounds."""

from __future__ import annotations

import pandas as pd
from rib.claims import Results, _worst


def _cell(model: str, cell_id: str, attack: str, eps: float, robust: list[bool]) -> tuple[list[dict], list[dict]]:
    norm = "l2" if attack.endswith("l2") else "linf"
    n = len(robust)
    base = {"cell_id": cell_id, "model": model, "dataset": "mnist", "attack": attack, "norm": norm, "n": n,
            "ci_low": 0.0, "ci_high": 1.0}
    summary = [{**base, "metric": "clean_accuracy", "eps": 0.0, "value": 1.0},
               {**base, "metric": "robust_accuracy", "eps": eps, "value": sum(robust) / n}]
    examples = [{"cell_id": cell_id, "index": i, "eps": eps, "clean_correct": True, "robust": r,
                 "distance": float("nan")} for i, r in enumerate(robust)]
    return summary, examples


def _results(*cells: tuple[list[dict], list[dict]]) -> Results:
    return Results(pd.DataFrame([r for s, _ in cells for r in s]), "mnist",
                   pd.DataFrame([e for _, ex in cells for e in ex]))


def test_a_paired_claim_holds_at_ensemble_strength() -> None:
    r = _results(_cell("a", "1", "autoattack-l2", 3.5, [True] * 60), _cell("b", "2", "autoattack-l2", 3.5,
                                                                            [False] * 60))
    v = _worst("a", "b", "l2", 3.5)(r)
    assert v.verdict == "holds" and "McNemar" in v.detail
    assert v.left is not None and "autoattack-l2 included" in v.left.label


def test_a_paired_claim_on_upper_bounds_is_inconclusive() -> None:
    # the same images, the same outcomes, but only PGD ran on b: its worst case is an upper bound a stronger attack
    # could lower, so the comparison is not decided however large the gap
    r = _results(_cell("a", "1", "autoattack-l2", 3.5, [False] * 60), _cell("b", "2", "pgd-l2", 3.5, [True] * 60))
    v = _worst("b", "a", "l2", 3.5)(r)
    assert v.verdict == "inconclusive"
    assert "no ensemble at l2 3.5 for b" in v.detail
    assert v.left is not None and "upper bound" in v.left.label
