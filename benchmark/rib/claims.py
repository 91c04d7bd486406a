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
from scipy.stats import spearmanr

from rib.attacks import ATTACKS
from rib.data import DATASETS, DEFAULT_DATASET
from rib.ensemble import paired, robustness_cells, worst_case, worst_case_examples
from rib.runtime import provenance
from rib.stats import mcnemar_p, wilson_interval
from rib.store import ResultStore, write_table_atomic
from rib.table import NBSP, TERMINAL_WIDTH, format_table

CLAIMS_SCHEMA = pa.schema([
    ("dataset", pa.string()), ("claim", pa.string()), ("paper", pa.string()), ("statement", pa.string()),
    ("paper_numbers", pa.string()), ("left", pa.string()), ("left_value", pa.float64()), ("left_n", pa.int64()),
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
    ensemble: bool = True  # False: a worst case over attacks weaker than an ensemble, an upper bound


MIN_NORM_L2 = ("fmn-l2", "deepfool-l2", "cw-l2")  # minimum-norm attacks whose distances bound the boundary


class Results:
    """Lookup of stored summary rows of one dataset, and of their per-example worst cases."""

    def __init__(self, frame: pd.DataFrame, dataset: str, examples: pd.DataFrame | None = None) -> None:
        self.df = frame[frame["dataset"] == dataset]
        self.dataset = dataset
        self.examples = examples if examples is not None else pd.DataFrame(columns=["cell_id", "index", "eps",
                                                                                   "robust", "distance"])
        self.per_example = worst_case_examples(self.examples, robustness_cells(self.df))
        self.worst = worst_case(self.examples, robustness_cells(self.df))

    def worst_side(self, model: str, norm: str, eps: float) -> Side | None:
        """The model's worst case over attacks at (norm, eps): at ensemble strength (AutoAttack included) where an
        ensemble ran there, else over the attacks that did (the label says which)."""
        w = self.worst
        hit = w[(w["model"] == model) & (w["norm"] == norm) & ((w["eps"] - eps).abs() < 1e-9)]
        if hit.empty:
            return None
        r = hit.iloc[0]
        how = f"{' and '.join(self.ensembles(model, norm, eps))} included" if bool(r["ensemble"]) else \
            "no ensemble at this eps: an upper bound"
        return Side(f"{model} worst-case robust acc ({norm} {eps:g}, {how})", float(r["value"]), int(r["n"]),
                    (float(r["ci_low"]), float(r["ci_high"])), bool(r["ensemble"]))

    def ensembles(self, model: str, norm: str, eps: float) -> list[str]:
        """The ensemble attacks (AutoAttack, the APGD pair) stored for the model at (norm, eps)."""
        d = self.df
        hit = d[(d["model"] == model) & (d["norm"] == norm) & ((d["eps"] - eps).abs() < 1e-9)
                & (d["metric"] == "robust_accuracy")]
        return sorted(a for a in hit["attack"].unique() if a in ATTACKS and ATTACKS.get(a).kind == "ensemble")

    def boundary_distance(self, model: str) -> Side | None:
        """Median over correctly classified examples of the smallest L2 distance any minimum-norm attack found."""
        cells = self.df[(self.df["model"] == model) & self.df["attack"].isin(MIN_NORM_L2)]["cell_id"].unique()
        ex = self.examples[self.examples["cell_id"].isin(cells) & self.examples["clean_correct"].astype(bool)]
        if ex.empty:
            return None
        per_example = ex.groupby("index")["distance"].min()
        return Side(f"{model} median smallest L2 distance over {', '.join(MIN_NORM_L2)}",
                    float(per_example.median()), len(per_example))

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

    def models(self) -> list[str]:
        return sorted(self.df["model"].unique())


VERDICTS = ("holds", "does not hold", "inconclusive", "no data")


@dataclass(frozen=True)
class Verdict:
    """A claim's outcome: ``holds`` / ``does not hold`` only where the evidence is significant (non-overlapping
    95% intervals, or p < 0.05 for a rank correlation), else ``inconclusive``; ``no data`` where a side is missing."""

    left: Side | None
    right: Side | None
    verdict: str
    detail: str = ""


@dataclass(frozen=True)
class Claim:
    """A claim from papers.md and how to evaluate it on stored results."""

    id: str
    paper: str
    statement: str
    evaluate: Callable[[Results], Verdict]
    paper_numbers: str = ""  # the paper's own numbers for the two sides (papers.md), where it reports them


def _separated(left: Side, right: Side) -> bool | None:
    """Whether the two 95% intervals are disjoint (None when a side has no interval)."""
    if not all(map(math.isfinite, (*left.ci, *right.ci))):
        return None
    return left.ci[0] > right.ci[1] or right.ci[0] > left.ci[1]


def _greater(left: Side | None, right: Side | None) -> Verdict:
    """Claim: ``left`` exceeds ``right``, judged on their 95% intervals."""
    if left is None or right is None:
        return Verdict(left, right, "no data", "no data")
    diff = f"difference {left.value - right.value:+.4f}"
    separated = _separated(left, right)
    if separated is None:
        return Verdict(left, right, "inconclusive", f"{diff}; no interval to judge it by")
    if not separated:
        return Verdict(left, right, "inconclusive", f"{diff}; the 95% intervals overlap")
    return Verdict(left, right, "holds" if left.value > right.value else "does not hold",
                   f"{diff}; the 95% intervals are disjoint")


def _cells(left: tuple[Any, ...], right: tuple[Any, ...]) -> Callable[[Results], Verdict]:
    """Claim: the stored number ``Results.side(*left)`` exceeds ``Results.side(*right)``."""
    return lambda r: _greater(r.side(*left), r.side(*right))


def _paired_greater(r: Results, left: str, right: str, norm: str, eps: float) -> Verdict:
    """Claim: model ``left`` has the higher worst-case robust accuracy than ``right`` at (norm, eps), judged by
    McNemar's exact test on the images both were evaluated on (a tie unless p < 0.05)."""
    a, b = paired(r.per_example, left, right, norm, eps)
    sides = [r.worst_side(m, norm, eps) for m in (left, right)]
    weak = [m for m, s in zip((left, right), sides, strict=True) if s is not None and not s.ensemble]
    if weak and None not in sides:  # a stronger attack could lower either side and reverse the comparison
        return Verdict(sides[0], sides[1], "inconclusive", f"no ensemble at {norm} {eps:g} for "
                       f"{' and '.join(weak)}: the worst case is an upper bound, which a stronger attack could lower")
    if len(a) == 0:
        return _greater(sides[0], sides[1])
    lhs, rhs = (Side(s.label, float(v.mean()), len(v), wilson_interval(int(v.sum()), len(v))) if s else None
                for s, v in zip(sides, (a, b), strict=True))
    p = mcnemar_p(torch.tensor(a.to_numpy()), torch.tensor(b.to_numpy()))
    diff = f"difference {float(a.mean()) - float(b.mean()):+.4f} on {len(a)} shared images"
    only = f"{int((a & ~b).sum())} robust only under {left}, {int((b & ~a).sum())} only under {right}"
    if not p < 0.05:
        return Verdict(lhs, rhs, "inconclusive", f"{diff}; McNemar p = {p:.3g} ({only}): a tie")
    return Verdict(lhs, rhs, "holds" if a.mean() > b.mean() else "does not hold",
                   f"{diff}; McNemar p = {p:.3g} ({only})")


def _worst(left: str, right: str, norm: str, eps: float) -> Callable[[Results], Verdict]:
    """Claim: model ``left`` has the higher worst-case robust accuracy than ``right`` at (norm, eps)."""
    return lambda r: _paired_greater(r, left, right, norm, eps)


def _alignment_vs_distance(r: Results) -> Verdict:
    pairs = []
    for model in r.models():
        a = r.side(model, "clean", "alignment")
        d = r.boundary_distance(model)
        if a is not None and d is not None and math.isfinite(d.value):
            pairs.append((model, a.value, d.value))
    if len(pairs) < 3:
        return Verdict(None, None, "no data", "no data (needs clean alignment and minimum-norm L2 distances of 3+ "
                       "models)")
    rho, p = spearmanr([a for _, a, _ in pairs], [d for _, _, d in pairs])
    left = Side("Spearman rho(alignment, median smallest L2 boundary distance)", float(rho), len(pairs))
    right = Side("no association (rho = 0)", 0.0, len(pairs))
    order = ", ".join(m for m, _, _ in sorted(pairs, key=lambda t: t[2]))
    verdict = "inconclusive" if not p < 0.05 else "holds" if rho > 0 else "does not hold"
    return Verdict(left, right, verdict, f"p = {p:.3f} over {len(pairs)} models (significant if < 0.05); "
                   f"by distance: {order}")


def _clean_cost(r: Results) -> Verdict:
    adv, std = r.side("adv-linf", "pgd-linf", "clean_accuracy"), r.side("standard", "pgd-linf", "clean_accuracy")
    if adv is None or std is None:
        return Verdict(adv, std, "no data", "no data")
    cost, most, least = std.value - adv.value, std.ci[1] - adv.ci[0], std.ci[0] - adv.ci[1]
    verdict = "holds" if most <= 0.02 else "does not hold" if least > 0.02 else "inconclusive"
    return Verdict(adv, std, verdict, f"cost {100 * cost:.1f} points, between {100 * least:.1f} and {100 * most:.1f} "
                   "by the 95% intervals (holds if surely at most 2)")


# Ross & Doshi-Velez's white-box FGSM accuracies on MNIST (256 test images; papers.md), double backprop vs normal
ROSS_FGSM = {eps: f"double backprop {dbp} vs normal {normal} (white-box FGSM, 256 MNIST test images, their CNN with "
             "batch norm)" for eps, dbp, normal in ((0.1, "0.922", "0.727"), (0.2, "0.652", "0.277"),
                                                   (0.3, "0.277", "0.113"))}


def default_claims(dataset: str) -> list[Claim]:
    """The claims of papers.md, at the eps of ``dataset`` (its registry entry's eps lists and headline eps)."""
    spec = DATASETS.get(dataset)
    linf, l2 = spec.eps["linf"], spec.eps["l2"]
    top = spec.headline["linf"]
    claims = [
        Claim("gini-adv-vs-standard", "Chalasani et al. 2020",
              "adversarial training gives sparser attributions (higher Gini of IG) than standard training",
              _cells(("adv-linf", "clean", "gini-ig"), ("standard", "clean", "gini-ig")),
              "adversarial 0.983 vs natural 0.954 (Gini of IG on single MNIST test images, their repository)"),
        Claim("gini-adv-vs-l1", "Chalasani et al. 2020",
              "adversarial training gives higher Gini of IG than L1-regularized training",
              _cells(("adv-linf", "clean", "gini-ig"), ("l1", "clean", "gini-ig")),
              "adversarial 0.983 vs L1 0.958 (Gini of IG on single MNIST test images, their repository)"),
        Claim("adv-clean-cost", "Chalasani et al. 2020",
              "adversarial training costs little clean accuracy (at most 2 points below standard)", _clean_cost,
              "Madry et al.'s model 0.9853 clean (AutoAttack's README, 10,000 images) vs the papers' natural models "
              "0.992-0.994"),
        Claim("alignment-vs-distance", "Etmann et al. 2019",
              "across models, alignment grows with the median distance to the decision boundary",
              _alignment_vs_distance),
    ]
    fgsm_eps = [e for e in linf if e <= 0.3 + 1e-9] if spec.family == "mnist" else linf[:3]
    claims += [Claim(f"gradient-reg-fgsm-{eps:g}", "Ross & Doshi-Velez 2018",
                     f"gradient regularization beats standard training under FGSM at linf {eps:g} (the paper's claim "
                     "is about FGSM itself, so FGSM's own number is read)",
                     _cells(("gradient-reg", "fgsm-linf", "robust_accuracy", eps),
                            ("standard", "fgsm-linf", "robust_accuracy", eps)), ROSS_FGSM.get(round(eps, 9), ""))
               for eps in fgsm_eps]
    claims += [
        Claim("gradient-reg-smoother", "Ross & Doshi-Velez 2018",
              "gradient regularization gives smoother input gradients (SmoothGrad cosine) than standard",
              _cells(("gradient-reg", "clean", "smoothgrad-cosine"), ("standard", "clean", "smoothgrad-cosine"))),
        Claim("ir-vs-standard-linf", "Noack et al. 2019",
              f"IR is more robust than standard training at linf {spec.headline['linf']:g} (worst case over attacks)",
              _worst("ir", "standard", "linf", spec.headline["linf"])),
        Claim("ir-vs-standard-l2", "Noack et al. 2019",
              f"IR is more robust than standard training at l2 {spec.headline['l2']:g} (worst case over attacks)",
              _worst("ir", "standard", "l2", spec.headline["l2"])),
        Claim("ir-cross-norm", "Noack et al. 2019",
              "IR (l2 SmoothGrad targets) beats its l2 adversarially trained teacher in the cross-norm (linf) attack "
              f"at linf {spec.headline['linf']:g} (worst case over attacks)",
              _worst("ir", "adv-l2", "linf", spec.headline["linf"])),
        Claim("ir-large-eps", "Noack et al. 2019",
              f"IR beats its l2 adversarially trained teacher at the largest l2 eps ({l2[-1]:g}; worst case over the "
              "attacks run there)", _worst("ir", "adv-l2", "l2", l2[-1])),
    ]
    for model in ("proper-int", "proper-int2"):
        claims += [
            Claim(f"{model}-large-eps", "Boopathy et al. 2020",
                  f"{model} beats PGD adversarial training at the largest linf eps ({linf[-1]:g}; worst case over "
                  "the attacks run there)", _worst(model, "adv-linf", "linf", linf[-1])),
            Claim(f"{model}-kendall", "Boopathy et al. 2020",
                  f"{model} keeps interpretations more stable under the top-k attack (higher Kendall tau) "
                  "than PGD adversarial training",
                  _cells((model, "topk-cam-linf", "kendall-tau", top),
                         ("adv-linf", "topk-cam-linf", "kendall-tau", top))),
        ]
    return claims


def evaluate_claims(results: Path | str = "results", dataset: str = DEFAULT_DATASET, *,
                    frame: pd.DataFrame | None = None, examples: pd.DataFrame | None = None) -> list[dict[str, Any]]:
    """Every default claim evaluated on the store at ``results`` (or on its rows and per-example outcomes already
    loaded as ``frame`` and ``examples``), as rows of ``CLAIMS_SCHEMA``."""
    store = ResultStore(results)
    frame = frame if frame is not None else store.scan().to_pandas()
    examples = examples if examples is not None else store.examples(dataset=dataset).to_pandas()
    r = Results(frame, dataset, examples)
    prov = provenance(torch.device("cpu"))  # claims use no device; only version, sha and time
    rows = []
    for claim in default_claims(dataset):
        v = claim.evaluate(r)
        overlap = None
        if v.left and v.right and all(map(math.isfinite, (*v.left.ci, *v.right.ci))):
            overlap = v.left.ci[0] <= v.right.ci[1] and v.right.ci[0] <= v.left.ci[1]
        verdict = v.verdict
        rows.append({
            "dataset": dataset, "claim": claim.id, "paper": claim.paper, "statement": claim.statement,
            "paper_numbers": claim.paper_numbers if DATASETS.get(dataset).family == "mnist" else "",
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


def format_value(v: float) -> str:
    """A claim side's value as every claims table shows it: four decimals, ``-`` where there is none."""
    return "-" if not math.isfinite(v) else f"{v:.4f}"


def reproduction_table(rows: list[dict[str, Any]]) -> str:
    """The claims whose paper reports its own numbers: those numbers beside rib's two sides and the verdict."""
    body = [[r["claim"], r["paper_numbers"], f"{format_value(r['left_value'])} vs {format_value(r['right_value'])}",
             f"{r['left_n']} / {r['right_n']}", r["verdict"]] for r in rows if r.get("paper_numbers")]
    if not body:
        return "no claim with the paper's own numbers on this dataset"
    return format_table(["claim", "the paper's numbers", "rib's (left vs right)", "n", "verdict"], body,
                        width=TERMINAL_WIDTH, wrap=[1])


def claims_table(rows: list[dict[str, Any]], *, wide: bool = False) -> str:
    """The claims as a text table, the verdict first: both sides with n and whether their intervals overlap. It fits
    ``TERMINAL_WIDTH`` columns (the sides wrap inside their cells); ``wide``: every column on one line per claim,
    with the paper."""
    def side(label: str, value: float, n: int) -> str:
        return f"{label}: {format_value(value)}{NBSP}(n={n})"

    body = [[r["verdict"], r["claim"], *([r["paper"]] if wide else []),
             side(r["left"], r["left_value"], r["left_n"]), side(r["right"], r["right_value"], r["right_n"]),
             "-" if r["intervals_overlap"] is None else "yes" if r["intervals_overlap"] else "no"] for r in rows]
    held = sum(r["verdict"] == "holds" for r in rows)
    against = sum(r["verdict"] == "does not hold" for r in rows)
    tested = sum(r["verdict"] != "no data" for r in rows)
    if wide:
        table = format_table(["verdict", "claim", "paper", "left", "right", "CIs overlap"], body)
    else:
        table = format_table(["verdict", "claim", "left", "right", "CIs overlap"], body, width=TERMINAL_WIDTH,
                             wrap=(1, 2, 3, 4), keep=2)
    return table + f"\n{held} of {tested} claims with data hold, {against} do not, " \
        f"{tested - held - against} are inconclusive ({len(rows) - tested} without data)"
