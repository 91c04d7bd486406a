"""The papers' claims (papers.md), evaluated on rib's stored results: ``rib claims``.

Each claim compares two stored numbers (or, for the alignment claim, ranks across models) and says whether it
holds on this dataset, with both sides, their sample sizes and whether their 95% intervals overlap. Nothing is
recomputed: a claim whose numbers are not in the store says so ("no data").
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import torch

from rib.data import DATASETS
from rib.runtime import provenance
from rib.store import ResultStore, write_table_atomic
from rib.table import format_table

CLAIMS_SCHEMA = pa.schema([
    ("dataset", pa.string()), ("claim", pa.string()), ("paper", pa.string()), ("statement", pa.string()),
    ("left", pa.string()), ("left_value", pa.float64()), ("left_n", pa.int64()),
    ("right", pa.string()), ("right_value", pa.float64()), ("right_n", pa.int64()),
    ("verdict", pa.string()), ("intervals_overlap", pa.bool_()), ("detail", pa.string()),
    ("rib_version", pa.string()), ("git_sha", pa.string()), ("created_at", pa.string()),
])


@dataclass(frozen=True)
class Side:
    """One side of a comparison: a label, a value, its sample size and (where known) its 95% interval."""

    label: str
    value: float
    n: int
    ci: tuple[float, float] = (math.nan, math.nan)


class Results:
    """Lookup of stored summary rows of one dataset."""

    def __init__(self, frame: pd.DataFrame, dataset: str) -> None:
        self.df = frame[frame["dataset"] == dataset]
        self.dataset = dataset

    def side(self, model: str, attack: str, metric: str, eps: float = 0.0, label: str = "") -> Side | None:
        """The stored number for (model, attack, metric, eps); the largest-n cell when several exist."""
        d = self.df
        hit = d[(d["model"] == model) & (d["attack"] == attack) & (d["metric"] == metric)
                & ((d["eps"] - eps).abs() < 1e-9)]
        if hit.empty or not math.isfinite(float(hit.sort_values("n").iloc[-1]["value"])):
            return None
        r = hit.sort_values("n").iloc[-1]
        return Side(label or f"{model} {metric} ({attack}{f' @ {eps:g}' if eps else ''})", float(r["value"]),
                    int(r["n"]), (float(r["ci_low"]), float(r["ci_high"])))

    def curve_mean(self, model: str, attack: str) -> Side | None:
        """Robust accuracy averaged over the eps the cell holds (the area under its accuracy-vs-eps curve)."""
        d = self.df
        hit = d[(d["model"] == model) & (d["attack"] == attack) & (d["metric"] == "robust_accuracy")]
        if hit.empty:
            return None
        hit = hit[hit["n"] == hit["n"].max()]
        return Side(f"{model} mean robust acc over {attack} eps {', '.join(f'{e:g}' for e in sorted(hit['eps']))}",
                    float(hit["value"].mean()), int(hit["n"].iloc[0]))

    def models(self) -> list[str]:
        return sorted(self.df["model"].unique())


@dataclass(frozen=True)
class Verdict:
    left: Side | None
    right: Side | None
    holds: bool | None
    detail: str = ""


@dataclass(frozen=True)
class Claim:
    """A claim from papers.md and how to evaluate it on stored results."""

    id: str
    paper: str
    statement: str
    evaluate: Callable[[Results], Verdict]


def _greater(left: Side | None, right: Side | None) -> Verdict:
    if left is None or right is None:
        return Verdict(left, right, None, "no data")
    return Verdict(left, right, left.value > right.value, f"difference {left.value - right.value:+.4f}")


def _cells(left: tuple[Any, ...], right: tuple[Any, ...]) -> Callable[[Results], Verdict]:
    """Claim: the stored number ``Results.side(*left)`` exceeds ``Results.side(*right)``."""
    return lambda r: _greater(r.side(*left), r.side(*right))


def _curves(left: tuple[str, str], right: tuple[str, str]) -> Callable[[Results], Verdict]:
    """Claim: (model, attack) ``left`` has the higher mean robust accuracy over the eps of its cell."""
    return lambda r: _greater(r.curve_mean(*left), r.curve_mean(*right))


def _alignment_vs_distance(r: Results) -> Verdict:
    from scipy.stats import spearmanr

    pairs = []
    for model in r.models():
        a = r.side(model, "clean", "alignment")
        d = r.side(model, "fmn-l2", "median_distance")
        if a is not None and d is not None:
            pairs.append((model, a.value, d.value))
    if len(pairs) < 3:
        return Verdict(None, None, None, "no data (needs clean alignment and fmn-l2 distances of 3+ models)")
    rho, p = spearmanr([a for _, a, _ in pairs], [d for _, _, d in pairs])
    left = Side("Spearman rho(alignment, median L2 boundary distance)", float(rho), len(pairs))
    right = Side("no association (rho = 0)", 0.0, len(pairs))
    order = ", ".join(m for m, _, _ in sorted(pairs, key=lambda t: t[2]))
    return Verdict(left, right, bool(rho > 0), f"p = {p:.3f} over {len(pairs)} models; by distance: {order}")


def _clean_cost(r: Results) -> Verdict:
    adv, std = r.side("adv-linf", "pgd-linf", "clean_accuracy"), r.side("standard", "pgd-linf", "clean_accuracy")
    if adv is None or std is None:
        return Verdict(adv, std, None, "no data")
    return Verdict(adv, std, std.value - adv.value <= 0.02, f"cost {100 * (std.value - adv.value):.1f} points "
                   "(holds if at most 2)")


def default_claims(dataset: str) -> list[Claim]:
    """The claims of papers.md, at the eps of ``dataset`` (its registry entry's eps lists and headline eps)."""
    spec = DATASETS.get(dataset)
    linf, l2 = spec.eps["linf"], spec.eps["l2"]
    top = spec.headline["linf"]
    claims = [
        Claim("gini-adv-vs-standard", "Chalasani et al. 2020",
              "adversarial training gives sparser attributions (higher Gini of IG) than standard training",
              _cells(("adv-linf", "clean", "gini-ig"), ("standard", "clean", "gini-ig"))),
        Claim("gini-adv-vs-l1", "Chalasani et al. 2020",
              "adversarial training gives higher Gini of IG than L1-regularized training",
              _cells(("adv-linf", "clean", "gini-ig"), ("l1", "clean", "gini-ig"))),
        Claim("adv-clean-cost", "Chalasani et al. 2020",
              "adversarial training costs little clean accuracy (at most 2 points below standard)", _clean_cost),
        Claim("alignment-vs-distance", "Etmann et al. 2019",
              "across models, alignment grows with the median distance to the decision boundary",
              _alignment_vs_distance),
    ]
    fgsm_eps = [e for e in linf if e <= 0.3 + 1e-9] if spec.family == "mnist" else linf[:3]
    claims += [Claim(f"gradient-reg-fgsm-{eps:g}", "Ross & Doshi-Velez 2018",
                     f"gradient regularization beats standard training under FGSM at linf {eps:g}",
                     _cells(("gradient-reg", "fgsm-linf", "robust_accuracy", eps),
                            ("standard", "fgsm-linf", "robust_accuracy", eps))) for eps in fgsm_eps]
    claims += [
        Claim("gradient-reg-smoother", "Ross & Doshi-Velez 2018",
              "gradient regularization gives smoother input gradients (SmoothGrad cosine) than standard",
              _cells(("gradient-reg", "clean", "smoothgrad-cosine"), ("standard", "clean", "smoothgrad-cosine"))),
        Claim("ir-vs-standard-linf", "Noack et al. 2019", "IR beats standard training under PGD linf",
              _curves(("ir", "pgd-linf"), ("standard", "pgd-linf"))),
        Claim("ir-vs-standard-l2", "Noack et al. 2019", "IR beats standard training under PGD l2",
              _curves(("ir", "pgd-l2"), ("standard", "pgd-l2"))),
        Claim("ir-cross-norm", "Noack et al. 2019",
              "IR (l2 SmoothGrad targets) beats its l2 adversarially trained teacher in the cross-norm (linf) attack",
              _curves(("ir", "pgd-linf"), ("adv-l2", "pgd-linf"))),
        Claim("ir-large-eps", "Noack et al. 2019",
              f"IR beats its l2 adversarially trained teacher at the largest l2 eps ({l2[-1]:g})",
              _cells(("ir", "pgd-l2", "robust_accuracy", l2[-1]), ("adv-l2", "pgd-l2", "robust_accuracy", l2[-1]))),
    ]
    for model in ("proper-int", "proper-int2"):
        claims += [
            Claim(f"{model}-large-eps", "Boopathy et al. 2020",
                  f"{model} beats PGD adversarial training at the largest linf eps ({linf[-1]:g})",
                  _cells((model, "pgd-linf", "robust_accuracy", linf[-1]),
                         ("adv-linf", "pgd-linf", "robust_accuracy", linf[-1]))),
            Claim(f"{model}-kendall", "Boopathy et al. 2020",
                  f"{model} keeps interpretations more stable under the top-k attack (higher Kendall tau) "
                  "than PGD adversarial training",
                  _cells((model, "topk-cam-linf", "kendall-tau", top),
                         ("adv-linf", "topk-cam-linf", "kendall-tau", top))),
        ]
    return claims


def evaluate_claims(results: Path | str = "results", dataset: str = "mnist-5k", *,
                    frame: pd.DataFrame | None = None) -> list[dict[str, Any]]:
    """Every default claim evaluated on the store at ``results`` (or on its rows already loaded as ``frame``), as
    rows of ``CLAIMS_SCHEMA``."""
    r = Results(frame if frame is not None else ResultStore(results).scan().to_pandas(), dataset)
    prov = provenance(torch.device("cpu"))  # claims use no device; only version, sha and time
    rows = []
    for claim in default_claims(dataset):
        v = claim.evaluate(r)
        overlap = None
        if v.left and v.right and all(map(math.isfinite, (*v.left.ci, *v.right.ci))):
            overlap = v.left.ci[0] <= v.right.ci[1] and v.right.ci[0] <= v.left.ci[1]
        verdict = "no data" if v.holds is None else "holds" if v.holds else "does not hold"
        rows.append({
            "dataset": dataset, "claim": claim.id, "paper": claim.paper, "statement": claim.statement,
            "left": v.left.label if v.left else "", "left_value": v.left.value if v.left else math.nan,
            "left_n": v.left.n if v.left else 0, "right": v.right.label if v.right else "",
            "right_value": v.right.value if v.right else math.nan, "right_n": v.right.n if v.right else 0,
            "verdict": verdict, "intervals_overlap": overlap, "detail": v.detail,
            "rib_version": prov["rib_version"], "git_sha": prov["git_sha"], "created_at": prov["created_at"],
        })
    return rows


def write_claims(rows: list[dict[str, Any]], results: Path | str, dataset: str) -> Path:
    """Store the claims table atomically at ``<results>/<dataset>/claims.parquet``."""
    path = Path(results) / dataset / "claims.parquet"
    write_table_atomic(pa.Table.from_pylist(rows, schema=CLAIMS_SCHEMA), path)
    return path


def claims_table(rows: list[dict[str, Any]]) -> str:
    """The claims as a text table: claim, both sides with n, verdict."""
    def fmt(v: float) -> str:
        return "-" if not math.isfinite(v) else f"{v:.4f}"

    body = [[r["claim"], r["paper"], f"{r['left']}: {fmt(r['left_value'])} (n={r['left_n']})",
             f"{r['right']}: {fmt(r['right_value'])} (n={r['right_n']})", r["verdict"],
             "-" if r["intervals_overlap"] is None else "yes" if r["intervals_overlap"] else "no"] for r in rows]
    held = sum(r["verdict"] == "holds" for r in rows)
    tested = sum(r["verdict"] != "no data" for r in rows)
    return format_table(["claim", "paper", "left", "right", "verdict", "CIs overlap"], body) + \
        f"\n{held} of {tested} claims with data hold ({len(rows) - tested} without data)"
