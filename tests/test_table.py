"""Terminal tables fit 100 columns: cells wrap, intervals stay whole, wide tables split; `rib claims` puts the verdict
first; `--wide` keeps one line per row."""

from __future__ import annotations

import math

from rib.claims import claims_table
from rib.run_table import results_table
from rib.table import NBSP, TERMINAL_WIDTH, format_table

from tests.test_store import _row


def _widest(text: str) -> int:
    return max(len(line) for line in text.splitlines())


def test_natural_width_without_a_limit() -> None:
    out = format_table(["a", "bb"], [["x" * 30, 1]])
    assert out.splitlines() == ["a                               bb", "-" * 30 + "  --", "x" * 30 + "  1"]


def test_wrapping_keeps_units_whole_and_fits() -> None:
    text = f"one two three four five six [10.0,{NBSP}20.0]"
    out = format_table(["key", "text"], [["k", text], ["l", "short"]], width=20, wrap=[1])
    assert _widest(out) <= 20
    assert "[10.0, 20.0]" in out  # the no-break space held the interval together, printed as a space
    assert NBSP not in out
    lines = out.splitlines()
    assert lines[2].startswith("k ") and lines[3].startswith("   ")  # continuation lines leave the key blank
    assert "" in lines  # a blank line separates rows once one of them wraps


def test_too_wide_tables_split_into_parts_that_repeat_the_key_columns() -> None:
    headers = ["model", "attack", *[f"eps {i}" for i in range(8)]]
    rows = [["standard", "pgd-linf", *[f"{10 * i}.0%" for i in range(8)]]]
    out = format_table(headers, rows, width=40, keep=2)
    parts = out.split("\n\n")
    assert len(parts) > 1 and _widest(out) <= 40
    assert all(p.startswith("model     attack") for p in parts)
    assert all(f"eps {i}" in out for i in range(8))
    sizes = [p.splitlines()[0].count("eps") for p in parts]
    assert max(sizes) - min(sizes) <= 1  # balanced parts


def _claim(verdict: str, left: str) -> dict:
    return {"claim": "some-claim-id", "paper": "Somebody et al. 2020", "statement": "x", "left": left,
            "source": "rib", "eps_range": "holds at 0.1-0.2; cannot tell at 0.3",
            "left_value": 0.25, "left_n": 50, "right": "standard worst-case robust acc (linf 0.3, AutoAttack included)",
            "right_value": math.nan, "right_n": 0, "verdict": verdict, "intervals_overlap": None, "detail": ""}


def test_claims_put_the_verdict_first_and_fit_100_columns() -> None:
    rows = [_claim("does not hold", "ir worst-case robust acc (linf 0.3, AutoAttack included)"),
            _claim("holds", "adv-linf gini-ig (clean)")]
    out = claims_table(rows)
    assert _widest(out) <= TERMINAL_WIDTH
    lines = out.splitlines()
    assert lines[0].startswith("verdict") and lines[2].startswith("does not hold")
    assert any(line.startswith("holds") for line in lines)
    assert "holds at 0.1-0.2; cannot tell at 0.3" in out.replace("\n", " ") or "holds at 0.1-0.2;" in out
    wide = claims_table(rows, wide=True).splitlines()
    assert "0.2500 (n=50)" in "\n".join(wide) and "- (n=0)" in "\n".join(wide)
    assert wide[0].startswith("verdict") and "paper" in wide[0] and _widest("\n".join(wide)) > TERMINAL_WIDTH
    assert len(wide) == 2 + len(rows) + 1  # one line per claim and source, and the summary


def _cell(attack: str, model: str, eps: list[float]) -> list[dict]:
    cid = (attack + model).ljust(64, "0")
    rows = [_row(cell_id=cid, model=model, attack=attack, metric="clean_accuracy", eps=0.0, value=0.95, n=1000)]
    rows += [_row(cell_id=cid, model=model, attack=attack, eps=e, value=0.5 - e / 10, n=1000, ci_low=0.45 - e / 10,
                  ci_high=0.55 - e / 10) for e in eps]
    return rows


def test_run_tables_fit_100_columns_with_many_eps_and_wide_keeps_one_line() -> None:
    eps = [0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5]
    rows = [r for m in ("proper-int2", "standard") for a in ("transfer-pgd-linf", "pgd-linf")
            for r in _cell(a, m, eps)]
    out = results_table(rows)
    assert _widest(out) <= TERMINAL_WIDTH
    assert all(f"linf {e:g}" in out for e in eps) and "[40.0, 50.0]" in out
    wide = results_table(rows, wide=True)
    assert _widest(wide) > TERMINAL_WIDTH and wide.splitlines()[0].split()[:2] == ["model", "trained"]
    assert sum(line.startswith("proper-int2") for line in wide.splitlines()) == 2
