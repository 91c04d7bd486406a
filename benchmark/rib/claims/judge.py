"""Judging a claim on stored evidence: at every eps of its range, per model pair, per source, with a paired test,
corrected for the comparisons made (Holm), and summarized as the eps range where it holds, is contradicted, or
cannot be told.

Sources: ``rib`` (rib's re-trainings, at rib's strength on rib's sample), ``authors`` (the authors' released
networks at rib's strength, on the authors' own images where their protocol defines them) and ``authors-protocol``
(the same networks under the authors' own evaluation). The paper's own numbers, where a table gives them, are set
beside these; they are never tested (their per-image outcomes are not published).
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import torch
from scipy.stats import spearmanr

from rib.attacks import attack_for
from rib.claims.evidence import Evidence, Outcomes, Side
from rib.claims.spec import ClaimSpec
from rib.eps import same_eps
from rib.stats import DEFAULT_SAMPLE, Z_95, holm, mcnemar_p, rank_correlation

ALPHA = 0.05
VERDICTS = ("holds", "does not hold", "mixed", "inconclusive", "no data")
SOURCE_LABELS = {"rib": "rib's re-trainings at rib's strength",
                 "authors": "the authors' networks at rib's strength",
                 "authors-protocol": "the authors' networks under the authors' protocol"}
PROTOCOL_SOURCE = "authors-protocol"
# the authors' protocol is one weaker attack: its numbers are upper bounds, so it never decides a claim; its
# verdicts say whether it reproduces what the paper reports, and are not counted among the verdicts
PROTOCOL_VERDICTS = {"holds": "reproduced", "does not hold": "reversed", "mixed": "mixed",
                     "inconclusive": "not reproduced", "no data": "no data"}
# a comparison's outcome at one eps and one model pair
HOLDS, AGAINST, UNTOLD, BOTH_ZERO, UPPER, MISSING = ("holds", "contradicted", "cannot tell", "both 0%",
                                                     "upper bound only", "no data")


@dataclass
class Comparison:
    """One tested comparison: a model pair at one eps, with its raw and Holm-adjusted p-values and outcome."""

    eps: float
    left: str
    right: str
    left_value: float = math.nan
    right_value: float = math.nan
    n: int = 0
    p: float | None = None
    p_holm: float | None = None
    status: str = MISSING
    detail: str = ""

    def record(self) -> dict[str, Any]:
        def num(v: float | None) -> float | None:
            return None if v is None or not math.isfinite(v) else round(float(v), 6)

        return {"eps": self.eps, "left": self.left, "right": self.right, "left_value": num(self.left_value),
                "right_value": num(self.right_value), "n": self.n, "p": num(self.p), "p_holm": num(self.p_holm),
                "status": self.status}


@dataclass
class Judgement:
    """A claim judged on one source: the verdict, the eps range summary and every comparison behind them."""

    source: str
    verdict: str
    range: str
    comparisons: list[Comparison]
    left: Side | None = None
    right: Side | None = None
    detail: str = ""


def _finish(comparisons: list[Comparison]) -> None:
    """Holm-adjust the tested comparisons together and set each one's outcome."""
    tested = [c for c in comparisons if c.p is not None]
    for c, adj in zip(tested, holm([float(c.p) for c in tested]), strict=True):  # type: ignore[arg-type]
        c.p_holm = adj
        if adj < ALPHA:
            c.status = HOLDS if c.left_value > c.right_value else AGAINST
        else:
            c.status = UNTOLD


def _eps_text(values: Sequence[float]) -> str:
    return f"{values[0]:g}" if len(values) == 1 else f"{values[0]:g}-{values[-1]:g}"


def _combine(states: set[str]) -> str:
    """The outcome at one eps over its model pairs, by precedence: ``mixed`` where pairs disagree, else a decided
    outcome, else cannot tell, else an upper bound only, else both 0%, else no data."""
    if HOLDS in states and AGAINST in states:
        return "mixed"
    for state in (HOLDS, AGAINST, UNTOLD, UPPER, BOTH_ZERO):
        if state in states:
            return state
    return MISSING


def eps_range(comparisons: Sequence[Comparison]) -> tuple[dict[float, str], str]:
    """Per eps, the outcome over its model pairs (one outcome when they agree, else ``mixed``), and the summary:
    consecutive eps with the same outcome joined ("holds at 0.05-0.3; contradicted at 0.35-0.4")."""
    per_eps: dict[float, str] = {}
    for eps in sorted({c.eps for c in comparisons}):
        per_eps[eps] = _combine({c.status for c in comparisons if c.eps == eps})
    parts: list[tuple[str, list[float]]] = []
    for eps, state in per_eps.items():
        if parts and parts[-1][0] == state:
            parts[-1][1].append(eps)
        else:
            parts.append((state, [eps]))
    if set(per_eps) <= {0.0}:  # a comparison without eps (clean inputs): the outcome alone
        return per_eps, "; ".join(state for state, _ in parts)
    return per_eps, "; ".join(f"{state} at {_eps_text(e)}" for state, e in parts)


def overall(per_eps: dict[float, str], focus: Sequence[float]) -> str:
    """The verdict over the claim's focus eps (all of its eps when it names none): ``holds`` where it holds at
    some eps and is contradicted at none, ``does not hold`` the other way round, ``mixed`` where both, else
    ``inconclusive`` (the eps range says where)."""
    at = [s for e, s in per_eps.items() if not focus or any(same_eps(e, f) for f in focus)]
    if not at or all(s == MISSING for s in at):
        return "no data"
    held, against = HOLDS in at or "mixed" in at, AGAINST in at or "mixed" in at
    if held and against:
        return "mixed"
    return "holds" if held else "does not hold" if against else "inconclusive"


OutcomeFn = Callable[[str, float], Outcomes | None]


def _each_pair_and_eps(pairs: Sequence[tuple[str, str]], eps_list: Sequence[float],
                       fetch: Callable[[str, float], Any], fill: Callable[[Comparison, Any, Any], None],
                       ) -> list[Comparison]:
    """A comparison per (pair, eps): both sides fetched, ``fill`` run where both exist, then Holm over all."""
    out = []
    for (left, right), eps in itertools.product(pairs, eps_list):
        a, b = fetch(left, eps), fetch(right, eps)
        c = Comparison(eps, left, right)
        out.append(c)
        if a is not None and b is not None:
            fill(c, a, b)
    _finish(out)
    return out


def paired_comparisons(pairs: Sequence[tuple[str, str]], eps_list: Sequence[float], outcomes: OutcomeFn,
                       need_ensemble: bool) -> list[Comparison]:
    """Every (pair, eps) compared by McNemar's exact test on the images both models were evaluated on; a side
    without an ensemble there is an upper bound (not tested: a stronger attack could reverse the comparison)."""
    def fill(c: Comparison, a: Outcomes, b: Outcomes) -> None:
        shared = a.robust.index.intersection(b.robust.index)
        if len(shared) == 0:
            return
        x, y = a.robust.loc[shared], b.robust.loc[shared]
        c.left_value, c.right_value, c.n = float(x.mean()), float(y.mean()), len(shared)
        if need_ensemble and not (a.ensemble and b.ensemble):
            c.status = UPPER
        elif not x.any() and not y.any():
            c.status = BOTH_ZERO
        else:
            c.p = mcnemar_p(torch.tensor(x.to_numpy()), torch.tensor(y.to_numpy()))

    return _each_pair_and_eps(pairs, eps_list, outcomes, fill)


def metric_comparisons(pairs: Sequence[tuple[str, str]], eps_list: Sequence[float],
                       side: Callable[[str, float], Side | None]) -> list[Comparison]:
    """Every (pair, eps) of metric means compared by a two-sided z-test on their 95% intervals (Welch's normal
    approximation: each half-width is 1.96 standard errors)."""
    def fill(c: Comparison, a: Side, b: Side) -> None:
        c.left_value, c.right_value, c.n = a.value, b.value, min(a.n, b.n)
        se = [(s.ci[1] - s.ci[0]) / (2 * Z_95) for s in (a, b)]
        if all(math.isfinite(v) for v in se) and se[0] + se[1] > 0:
            z = (a.value - b.value) / math.sqrt(se[0] ** 2 + se[1] ** 2)
            c.p = math.erfc(abs(z) / math.sqrt(2))

    return _each_pair_and_eps(pairs, eps_list, side, fill)


def smallest_p(n: int) -> float:
    """The smallest two-sided p-value a rank correlation of ``n`` distinct values can reach: 2 / n!."""
    return 2 / math.factorial(n)


def judge(claim: ClaimSpec, ev: Evidence) -> list[Judgement]:
    """The claim judged on every source that has models for it, at its eps on the evidence's dataset."""
    claim = claim.on(ev.dataset)
    if claim.test in ("worst-case", "attack"):
        return _paired(claim, ev)
    if claim.test == "metric":
        return _metric(claim, ev)
    if claim.test == "clean-cost":
        return [_clean_cost(claim, ev)]
    if claim.test == "correlation":
        return [_correlation(claim, ev)]
    return [_per_image_correlation(claim, ev)]


def _judgement(source: str, claim: ClaimSpec, comparisons: list[Comparison], label: Callable[[Comparison], str],
               ) -> Judgement:
    per_eps, text = eps_range(comparisons)
    show = sorted(comparisons, key=lambda c: (not math.isfinite(c.left_value), -c.eps if not claim.focus else
                                              -(c.eps in claim.focus), -c.eps))
    first = show[0] if show else None
    left = right = None
    if first is not None and math.isfinite(first.left_value):
        left = Side(f"{first.left} {label(first)}", first.left_value, first.n)
        right = Side(f"{first.right} {label(first)}", first.right_value, first.n)
    tested = sum(c.p is not None for c in comparisons)
    detail = (f"{tested} comparisons tested ({len({(c.left, c.right) for c in comparisons})} model pairs x "
              f"{len(per_eps)} eps), Holm-corrected at {ALPHA}")
    return Judgement(source, overall(per_eps, claim.focus), text, comparisons, left, right, detail)


def _label(template: str) -> Callable[[Comparison], str]:
    """A side's label from ``template`` with the comparison's eps in place of ``{eps}``."""
    return lambda c: template.format(eps=f"{c.eps:g}")


def _paired(claim: ClaimSpec, ev: Evidence) -> list[Judgement]:
    out = []
    protocol, sample = claim_protocol(claim)
    for source in ("rib", "authors"):
        pairs = claim.pairs(source)
        if not pairs:
            continue
        on = sample if source == "authors" and sample else DEFAULT_SAMPLE
        if claim.test == "attack":
            def fn(m: str, e: float, on: str = on) -> Outcomes | None:
                return ev.attack_outcomes(m, claim.attack, e, on)
            what = f"{claim.attack} robust acc"
        else:
            def fn(m: str, e: float, on: str = on) -> Outcomes | None:
                return ev.worst_outcomes(m, claim.norm, e, on)
            what = "worst-case robust acc"
        comps = paired_comparisons(pairs, claim.eps, fn, need_ensemble=claim.test == "worst-case")
        out.append(_judgement(source, claim, comps, _label(f"{what} ({claim.norm} {{eps}})")))
        if source == "authors" and protocol:
            comps = paired_comparisons(pairs, claim.eps, lambda m, e: ev.attack_outcomes(m, protocol, e, sample),
                                       need_ensemble=False)
            j = _judgement(PROTOCOL_SOURCE, claim, comps, _label(f"{protocol} robust acc ({claim.norm} {{eps}})"))
            j.verdict = PROTOCOL_VERDICTS[j.verdict]
            j.detail += ("; the authors' protocol is one weaker attack (an upper bound): it shows what the paper "
                         "measured, it does not decide the claim")
            out.append(j)
    return out


def claim_protocol(claim: ClaimSpec) -> tuple[str, str]:
    """The authors' protocol attack and image set of a worst-case claim whose paper file names them, else empty
    names."""
    if not claim.pairs("authors") or claim.test != "worst-case":
        return "", ""
    return claim.authors_protocol, claim.authors_sample


def _metric(claim: ClaimSpec, ev: Evidence) -> list[Judgement]:
    out = []
    eps_list = claim.eps or (0.0,)
    for source in ("rib", "authors"):
        pairs = claim.pairs(source)
        if not pairs:
            continue
        comps = metric_comparisons(pairs, eps_list, lambda m, e: ev.side(m, claim.source, claim.metric, e))
        on = "clean inputs" if claim.source == "clean" else f"{claim.source} @ {{eps}}"
        out.append(_judgement(source, claim, comps, _label(f"{claim.metric} on {on}")))
    return out


def _clean_cost(claim: ClaimSpec, ev: Evidence) -> Judgement:
    pairs = claim.pairs("rib")
    comps: list[Comparison] = []
    verdicts = []
    left = right = None
    for adv_model, std_model in pairs:
        adv = ev.side(adv_model, attack_for("reference", claim.norm), "clean_accuracy")
        std = ev.side(std_model, attack_for("reference", claim.norm), "clean_accuracy")
        c = Comparison(0.0, adv_model, std_model)
        comps.append(c)
        if adv is None or std is None:
            continue
        left, right = adv, std
        c.left_value, c.right_value, c.n = adv.value, std.value, min(adv.n, std.n)
        most, least = std.ci[1] - adv.ci[0], std.ci[0] - adv.ci[1]
        c.status = HOLDS if most <= claim.threshold else AGAINST if least > claim.threshold else UNTOLD
        c.detail = (f"cost {100 * (std.value - adv.value):.1f} points, between {100 * least:.1f} and "
                    f"{100 * most:.1f} by the 95% intervals (holds if surely at most {100 * claim.threshold:g})")
        verdicts.append(c.status)
    verdict = "no data" if not verdicts else "holds" if set(verdicts) == {HOLDS} else \
        "does not hold" if set(verdicts) == {AGAINST} else "inconclusive"
    return Judgement("rib", verdict, "; ".join(f"{c.left}: {c.status}" for c in comps if c.n), comps, left, right,
                     "; ".join(c.detail for c in comps if c.detail))


def _correlation(claim: ClaimSpec, ev: Evidence) -> Judgement:
    drop = {m for group in claim.duplicates for m in group[1:]}
    models = [m for m in claim.left.models.get("rib", ()) if m not in drop]
    points = []
    for m in models:
        a, d = ev.side(m, "clean", "alignment"), ev.boundary_distance(m)
        if a is not None and d is not None and math.isfinite(d.value):
            points.append((m, a.value, d.value))
    if len(points) < 3:
        return Judgement("rib", "no data", "no data", [], None, None,
                         "needs clean alignment and minimum-norm L2 distances of 3+ models")
    xs, ys = [p[1] for p in points], [p[2] for p in points]
    n = len(points)
    rho, p = rank_correlation(xs, ys)
    if not (math.isfinite(rho) and math.isfinite(p)):
        return Judgement("rib", "no data", "no order", [], None, None, "a constant alignment or distance")
    limit = smallest_p(n) if n <= 12 else 0.0
    verdict = "inconclusive" if not p < ALPHA else "holds" if rho > 0 else "does not hold"
    notes = [f"Spearman rho = {rho:.3f}, two-sided p = {p:.3g} over {n} models"
             + (" (exact permutation test)" if n <= 8 else "")]
    if limit >= ALPHA:
        notes.append(f"with {n} models no rank correlation can reach p < {ALPHA}: the smallest two-sided p is "
                     f"2/{n}! = {limit:.3f}, so this test cannot decide the claim")
    if drop:
        notes.append(f"counted once: {'; '.join(' = '.join(g) for g in claim.duplicates)} (the same objective "
                     f"and weight)")
    order = ", ".join(m for m, _, _ in sorted(points, key=lambda t: t[2]))
    comps = [Comparison(0.0, m, "", a, d, 0) for m, a, d in points]
    left = Side("Spearman rho(clean alignment, median smallest L2 boundary distance)", rho, n)
    return Judgement("rib", verdict, f"rho {rho:+.2f}, p {p:.3g}", comps, left, Side("no association", 0.0, n),
                     "; ".join(notes) + f"; by distance: {order}")


def _per_image_correlation(claim: ClaimSpec, ev: Evidence) -> Judgement:
    comps = []
    for m in claim.left.models.get("rib", ()):
        a, d = ev.metric_values(m, "alignment"), ev.boundary_distances(m)
        shared = a.index.intersection(d.index)
        c = Comparison(0.0, m, "")
        comps.append(c)
        pts = pd.DataFrame({"a": a.loc[shared], "d": d.loc[shared]}).replace([math.inf, -math.inf], math.nan)
        pts = pts.dropna()
        if len(pts) < 10:
            continue
        rho, p = spearmanr(pts["a"], pts["d"])
        c.left_value, c.right_value, c.n, c.p = float(rho), 0.0, len(pts), float(p)
    _finish(comps)
    tested = [c for c in comps if c.p is not None]
    if not tested:
        return Judgement("rib", "no data", "no data", comps, None, None,
                         "needs per-image clean alignment and minimum-norm L2 distances")
    pos = [c.left for c in tested if c.status == HOLDS]
    neg = [c.left for c in tested if c.status == AGAINST]
    verdict = "holds" if len(pos) == len(tested) else "does not hold" if len(neg) == len(tested) else \
        "mixed" if pos and neg else "inconclusive"
    text = f"positive in {len(pos)} of {len(tested)} models, negative in {len(neg)}"
    detail = "per model, Spearman rho over images (Holm across models): " + ", ".join(
        f"{c.left} {c.left_value:+.2f} (n={c.n})" for c in tested)
    return Judgement("rib", verdict, text, comps, None, None, detail)


def evidence_json(j: Judgement) -> str:
    """Every comparison behind a judgement, as JSON (stored with the claim)."""
    return json.dumps([c.record() for c in j.comparisons], sort_keys=True)
