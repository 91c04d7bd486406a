"""One threat model's leaderboard as rows of display cells: numbers, links and badges for the page, plain text for
the CSV and the terminal.

Ranked by the headline (``rib.ensemble.worst_case`` at the dataset's headline eps, at ensemble strength: AutoAttack
on every evaluated example), shown with its n and 95% Wilson interval; models without an ensemble there rank last.
Models with a failed admission check or an unresolved masking flag (``rib.report.gating``) are not ranked: they make
a board of their own (``build_unranked_board``), whose first column says why.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from rib.attacks import attack_for, has_role
from rib.data import DATASETS
from rib.eps import at_eps, same_eps
from rib.grid import ADMISSION_ATTACK
from rib.report import glossary
from rib.report.facts import MISSING, ModelFacts, format_count, model_facts, paper_short
from rib.report.gating import fired_flags, gated_status, unranked_reasons
from rib.report.metric_view import KeyMetric, arrow, key_metric, metric_direction
from rib.report.tables import (
    KEY_METRICS,
    StoreView,
    best_known,
    for_norm,
    headline,
    per_example_known,
    trained_norms,
)
from rib.stats import mcnemar_p
from rib.verify import FAILED
from rib.zoo import ModelCard


@dataclass(frozen=True)
class Badge:
    """A short label whose meaning shows on hover (``title``) and, with ``href``, in the glossary."""

    text: str
    title: str
    kind: str
    href: str = ""


@dataclass(frozen=True)
class BoardCell:
    """One table cell: its text (what the CSV holds and sorting reads), and how the page shows it; ``sub`` is a
    second, smaller line (linked to ``sub_href`` when given) that the CSV leaves out."""

    text: str
    num: bool = False
    href: str = ""
    title: str = ""
    badges: tuple[Badge, ...] = ()
    strong: bool = False
    sort: str = ""  # the key sorting reads, when not the text
    sub: str = ""
    sub_href: str = ""

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class Column:
    """A column header and what it means (shown on hover); an ``extra`` column is hidden until the reader asks for
    every column (the board's "more columns" switch)."""

    label: str
    title: str = ""
    num: bool = False
    extra: bool = False


@dataclass
class Board:
    """One leaderboard: columns, rows of cells, and the text each row is found by in the filter box."""

    id: str
    title: str
    columns: list[Column]
    rows: list[list[BoardCell]]
    filters: list[str] = field(default_factory=list)
    model_ids: list[str] = field(default_factory=list)
    trained_for: list[bool] = field(default_factory=list)  # per row: is the model trained against this norm?

    def plain(self) -> tuple[list[str], list[list[str]]]:
        """Headers and rows as text (the CSV)."""
        return [c.label for c in self.columns], [[c.text for c in row] for row in self.rows]

    def row_of(self, model: str) -> dict[str, str] | None:
        """``model``'s row as column label → text (None where the board does not list it)."""
        if model not in self.model_ids:
            return None
        return {c.label: cell.text for c, cell in zip(self.columns, self.rows[self.model_ids.index(model)],
                                                       strict=True)}


def _pct(value: Any) -> str:
    return "" if value is None or not math.isfinite(float(value)) else f"{100 * float(value):.1f}"


def _clean_text(facts: ModelFacts) -> str:
    """The clean accuracy on the whole test split, in percent with two decimals (as ``rib ls models`` gives it)."""
    return "" if facts.test_accuracy is None else f"{100 * facts.test_accuracy[0]:.2f}"


def _split_words(accuracy: tuple[float, int] | None) -> str:
    """Where a clean accuracy was measured, in words ("" where there is none)."""
    if accuracy is None:
        return ""
    return f"on all {accuracy[1]:,} test images" if accuracy[1] else "on the whole test split"


def _num(text: Any, **kw: Any) -> BoardCell:
    return BoardCell(str(text), num=True, **kw)


def _worst_at(per_eps: pd.DataFrame, eps: float) -> BoardCell:
    """A model's worst case at one eps (``per_eps``: its ``worst_case`` rows by eps), written ``≤v`` where no
    ensemble ran on its images: an upper bound, in the page and in the CSV alike."""
    if eps not in per_eps.index:
        return _num("")
    value = _pct(per_eps.loc[eps, "value"])
    if bool(per_eps.loc[eps, "ensemble"]):
        return _num(value)
    return _num(f"≤{value}", sort=value, title="an upper bound: no ensemble (AutoAttack or APGD-CE plus APGD-T) "
                "ran on these images at this eps")


def raised_flags(rows: pd.DataFrame) -> dict[str, set[str]]:
    """Flag name → the attacks (with eps, for cross-cell checks) that raised it, from ``flag:*`` rows > 0."""
    raised: dict[str, set[str]] = {}
    for r in fired_flags(rows).itertuples():
        where = str(r.attack) if float(r.eps) == 0.0 else f"{r.attack} @ {float(r.eps):g}"
        raised.setdefault(str(r.metric)[5:], set()).add(where)
    return raised


def flag_badges(raised: dict[str, set[str]], root: str = "") -> tuple[Badge, ...]:
    """One badge per raised flag, naming on hover what it means and which attacks (and eps) raised it."""
    return tuple(Badge(glossary.flag_short(f),
                       f"{f}: {glossary.flag_description(f)}. Raised by {', '.join(sorted(w))}.", "flag",
                       f"{root}glossary.html#{glossary.flag_anchor(f)}") for f, w in sorted(raised.items()))


def _verification_badge(status: str, root: str) -> Badge:
    meaning = glossary.verification_meanings().get(status, "")
    kind = {"verified": "ok", "failed": "bad"}.get(status, "muted")
    return Badge(status, f"{status}: {meaning}" if meaning else status, kind,
                 f"{root}glossary.html#{glossary.verification_anchor(status)}")


def _origin_badge(facts: ModelFacts, root: str) -> Badge:
    title = (f"authors: the paper's own network, trained and released by its authors ({facts.release}); rib reads "
             "their file and checks its sha256" if facts.release else
             "outside: submitted to rib, not trained by it from a shipped recipe" if facts.outside
             else "zoo: trained by rib from its shipped recipe; weights committed")
    return Badge(facts.origin, title, facts.origin, f"{root}glossary.html#origin")


# the interpretability metrics the default table shows: the ones the papers' claims read (Etmann et al.'s alignment,
# Chalasani et al.'s Gini of IG, Boopathy et al.'s CAM stability); the other key metrics sit behind "more columns"
DEFAULT_KEY_METRICS = (("alignment", "clean"), ("gini-ig", "clean"),
                       ("kendall-tau", attack_for("interpretation", "linf")))


def columns(eps_list: list[float], top: float | None, ensemble_eps: Collection[float] = (),
            norm: str = "linf") -> list[Column]:
    """The leaderboard's columns for a norm with eps ``eps_list`` and headline eps ``top``: the compact default set
    first (rank, model and paper, clean, the headline with its interval and n, the reliability mark, the key
    interpretability metrics), then the ``extra`` ones. ``ensemble_eps``: the eps where an ensemble (AutoAttack,
    or APGD-CE plus APGD-T) ran for some model; elsewhere a worst case is an upper bound."""
    at = f" @ {top:g}" if top is not None else ""
    return [
        Column("rank", "rank by the headline: 1 + the models significantly above (McNemar, p < 0.05, on the "
               "shared images); tied models share a rank and are listed by the headline, then by the median "
               "minimum-norm distance; models without a headline rank last", True),
        Column("model", "the model (its page) and the paper of its defense"),
        Column("clean %", "clean accuracy on the whole test split (10,000 images on MNIST), measured once per model "
               "when its card was made", True),
        Column(f"worst case %{at}", "the headline: share of the evaluated examples that survived every attack at "
               "this eps, AutoAttack included on each of them", True),
        Column("95% CI", "95% Wilson interval of the headline", True),
        Column("n", "examples behind the headline (each faced the full ensemble)", True),
        Column("reliability", "computed from the sanity flags and admission checks: ✓ none fired; ⚠ flags fired "
               "that the AutoAttack headline resolves (hover for which); models with an unresolved flag or a failed "
               "admission check are not ranked (see the glossary)"),
        *[Column((m if (m, src) in DEFAULT_KEY_METRICS and src == "clean" else f"{m} ({src})")
                 + (f" {arrow(metric_direction(m))}" if arrow(metric_direction(m)) else ""),
                 f"interpretability metric {m} on {src} inputs (mean); "
                 + {True: "↑: higher is more interpretable", False: "↓: lower is more interpretable",
                    None: "no better direction"}[metric_direction(m)],
                 True, (m, src) not in DEFAULT_KEY_METRICS)
          for m, src in for_norm(KEY_METRICS, norm)],  # a metric in the table of the norm it was computed at
        Column("paper", "the paper of the model's defense, as its card cites it", extra=True),
        Column("source", "zoo (trained by rib), authors (the paper's own released network) or outside "
               "(submitted)", extra=True),
        Column("verification", "did rib reproduce the card's claims? (see the glossary)", extra=True),
        Column("clean % (headline images)", "clean accuracy on the headline's own images: the share the worst "
               "case starts from", True, True),
        Column("median distance", "the median distance to the decision boundary found by a minimum-norm attack "
               "(FMN) in this norm, the smallest over those stored: orders the models the headline ties (at 0% "
               "too); larger is more robust", True, True),
        Column(f"AutoAttack %{at}", "the PGD → AutoAttack cascade's robust accuracy over "
               "its n images (those PGD fooled count as fooled)", True, True),
        Column("AutoAttack n", "images of the PGD → AutoAttack cascade cell", True, True),
        Column("flags", "sanity checks that fired for this norm (hover a badge; see the glossary)", extra=True),
        *[Column(f"worst % @ {e:g}", "worst case over the attacks run at this eps on one common set of images"
                 + (" (AutoAttack included)" if top is not None and same_eps(e, top) else
                    " (APGD-CE plus APGD-T included where it ran; an upper bound for a model where it did not)"
                    if any(same_eps(e, x) for x in ensemble_eps) else
                    " (no ensemble ran at this eps: an upper bound, never a rank)"), True, True)
          for e in eps_list],
        Column("defense", extra=True),
        Column("trained against", "the threat model (norm, eps) the defense trained against; - for none", extra=True),
        Column("architecture", extra=True),
        Column("params", "parameter count of the built architecture", True, True),
        Column("trained on", "the dataset the model was trained on", extra=True),
    ]


def reliability_badge(raised: dict[str, set[str]], reasons: list[str], status: str, *, headline: bool,
                      admitted: bool, root: str = "") -> Badge:
    """The reliability mark of a model under one norm, computed from its stored flags, admission checks and
    verification: ✗ where it is not ranked (``reasons``); ⚠ where its card's claims failed to reproduce, where no
    AutoAttack headline is stored (so nothing resolves its flags), or where flags fired that the headline resolves;
    ✓ where none of these holds. ``admitted``: whether admission checks ran (outside models) and passed."""
    href = f"{root}glossary.html#reliability"
    if reasons:
        return Badge("✗ unranked", "not ranked: " + "; ".join(reasons), "bad", href)
    if status == FAILED:
        return Badge("⚠ claims failed", "the card's claims did not reproduce when rib re-ran them (see verification)",
                     "bad", href)
    names = "; ".join(f"{f} ({', '.join(sorted(w))})" for f, w in sorted(raised.items()))
    if not headline:
        return Badge("⚠ no headline", "no AutoAttack ensemble is stored at the headline eps: the model ranks last, "
                     "and nothing resolves its flags" + (f": {names}" if names else ""), "flag", href)
    if raised:
        return Badge(f"⚠ {len(raised)} flag{'s' if len(raised) > 1 else ''}",
                     f"flags fired that the AutoAttack headline resolves (it ran on every counted image): {names}",
                     "flag", href)
    checks = ("every admission check passed" if admitted else
              "no admission checks needed (rib's own architecture, not a module or graph from outside)")
    return Badge("✓", f"no sanity flag fired for this norm; {checks}", "ok", href)


def _ensemble_eps(best: pd.DataFrame) -> set[float]:
    """The eps of a norm's worst cases at which some model faced an ensemble."""
    return {float(e) for e in best[best["ensemble"].astype(bool)]["eps"]} if len(best) else set()


@dataclass(frozen=True)
class _BoardInputs:
    """What every row of one board reads: the store, the dataset and norm, its attack rows, the worst cases under
    the norm with their eps and the headline eps, its metric rows, and the site's root (for links)."""

    view: StoreView
    dataset: str
    norm: str
    attacks: pd.DataFrame
    best: pd.DataFrame
    eps_list: list[float]
    top: float | None
    metrics: pd.DataFrame
    root: str


def _board_inputs(view: StoreView, dataset: str, norm: str, root: str) -> _BoardInputs:
    """What the rows of ``dataset``'s board under ``norm`` read."""
    spec = DATASETS.get(dataset) if dataset in DATASETS else None
    best = best_known(view, dataset)
    best = best[best["norm"] == norm]
    eps_list = sorted(float(e) for e in best["eps"].unique())
    top = spec.headline.get(norm) if spec else (eps_list[-1] if eps_list else None)
    return _BoardInputs(view, dataset, norm, view.attack_rows(dataset), best, eps_list, top,
                        view.metric_rows(dataset), root)


def build_board(view: StoreView, dataset: str, norm: str, cards: dict[str, ModelCard] | None = None, *,
                zoo: Path | None = None, links: dict[str, str] | None = None, root: str = "") -> Board:
    """The leaderboard of ``dataset`` under ``norm``: one row per model, ranked by the headline."""
    cards = cards or {}
    inputs = _board_inputs(view, dataset, norm, root)
    attacks, best, eps_list, top = inputs.attacks, inputs.best, inputs.eps_list, inputs.top
    entries = []
    for model in sorted(attacks["model"].unique()):
        mine = attacks[attacks["model"] == model]
        if unranked_reasons(mine, norm) or (mine["attack"] == ADMISSION_ATTACK).all():
            continue  # not ranked (``build_unranked_board``), or nothing but an admission record
        head = headline(best, model, norm, top)
        row, text = _row(inputs, model, mine, head, model_facts(cards.get(model), dataset, zoo),
                         (links or {}).get(model, ""))
        distance = median_distance(mine, norm)
        entries.append(((-(float(head["value"])) if head is not None else 1.0,
                         -distance if distance is not None else math.inf), model, row, text))
    ranked, known = [m for _, m, _, _ in entries], per_example_known(view, dataset)
    ranks = tied_ranks(ranked, known[known["model"].isin(ranked)], norm, top)  # unranked models compete with none
    # by rank; within a tie by the headline, then by the median minimum-norm distance (larger first)
    entries.sort(key=lambda e: (ranks[e[1]], *e[0], e[1]))
    rows = [[_num(ranks[m]), *row] for _, m, row, _ in entries]
    cols = columns(eps_list, top, _ensemble_eps(best), norm)
    if any(len(r) != len(cols) for r in rows):
        raise AssertionError("leaderboard rows and columns out of step")  # a programming error, never user input
    models = [m for _, m, _, _ in entries]
    return Board(f"{dataset}-leaderboard-{norm}", f"{dataset}: {norm} threat model", cols, rows,
                 [t for *_, t in entries], models, _trained_for(attacks, models, norm))


def tied_ranks(models: list[str], per_example: pd.DataFrame, norm: str, eps: float | None,
               alpha: float = 0.05) -> dict[str, int]:
    """Each model's rank: 1 + the number of models whose headline is significantly higher (McNemar's exact test on
    the images both faced, p < ``alpha``). Models that no test separates share a rank; a model without a headline
    ranks after every model with one."""
    at = per_example[(per_example["norm"] == norm) & per_example["ensemble"].astype(bool)]
    if eps is not None:
        at = at[at_eps(at["eps"], eps)]
    outcome = {m: rows.set_index("index")["robust"].astype(bool) for m, rows in at.groupby("model")}
    ranks = {}
    for m in models:
        if m not in outcome:
            ranks[m] = len(outcome) + 1
            continue
        better = 0
        for other, theirs in outcome.items():
            shared = outcome[m].index.intersection(theirs.index)
            mine, them = outcome[m].loc[shared], theirs.loc[shared]
            if other != m and len(shared) and them.mean() > mine.mean() and \
                    mcnemar_p(torch.tensor(them.to_numpy()), torch.tensor(mine.to_numpy())) < alpha:
                better += 1
        ranks[m] = better + 1
    return ranks


def _key_cell(key: KeyMetric, link: str) -> BoardCell:
    """A key metric's cell: its value, or a degenerate flag (linked to the model page's metrics) instead of one."""
    if key.flagged:
        return BoardCell(key.text, title=key.title, badges=(Badge(key.text, key.title, "flag", f"{link}#metrics"),))
    return _num(key.text, title=key.title, sort=key.sort)


def _row(inputs: _BoardInputs, model: str, mine: pd.DataFrame, head: pd.Series | None, facts: ModelFacts,
         link: str) -> tuple[list[BoardCell], str]:
    view, dataset, norm, root = inputs.view, inputs.dataset, inputs.norm, inputs.root
    metrics, best, eps_list, top = inputs.metrics, inputs.best, inputs.eps_list, inputs.top
    first = mine.iloc[0]
    trained = "-" if first["trained_norm"] == "none" else f"{first['trained_norm']} {first['trained_eps']:g}"
    clean = mine[mine["metric"] == "clean_accuracy"].sort_values("n")
    mb = best[best["model"] == model].set_index("eps")
    aa = mine[(mine["attack"] == attack_for("headline-ensemble", norm))
              & (mine["metric"] == "robust_accuracy")].sort_values("n")
    if top is not None:
        aa = aa[at_eps(aa["eps"], top)]
    keys = [_key_cell(key_metric(metrics, model, metric, source), link)
            for metric, source in for_norm(KEY_METRICS, norm)]
    reasons = unranked_reasons(mine, norm)
    status = gated_status(view.verification.get(dataset, {}).get(model, "unverified"), reasons)
    raised = raised_flags(mine[(mine["norm"] == norm) | (mine["attack"] == ADMISSION_ATTACK)])
    mark = reliability_badge(raised, reasons, status, headline=head is not None,
                             admitted=bool((mine["attack"] == ADMISSION_ATTACK).any()), root=root)
    ci = f"[{_pct(head['ci_low'])}, {_pct(head['ci_high'])}]" if head is not None else ""
    defense = str(first["defense"])
    paper = "" if paper_short(facts.paper) == "baseline" else paper_short(facts.paper)  # the baseline cites none
    cells = [
        BoardCell(model, href=link, sort=model, sub=paper, sub_href=facts.paper_url if paper else ""),
        # the one clean accuracy: on the whole test split, from the card (rib ls models and the README give it too)
        _num(_clean_text(facts), title=_split_words(facts.test_accuracy),
             sort=f"{facts.test_accuracy[0]:.6f}" if facts.test_accuracy else ""),
        _num(_pct(head["value"]) if head is not None else "", strong=True,
             title="" if head is not None else "no AutoAttack ensemble stored at the headline eps: not ranked"),
        _num(ci), _num(int(head["n"]) if head is not None else ""),
        BoardCell(mark.text, badges=(mark,), sort={"ok": "0", "flag": f"1{len(raised):03d}"}.get(mark.kind, "2")),
        *keys,
        BoardCell(facts.paper, href=facts.paper_url),
        BoardCell(facts.origin, badges=(_origin_badge(facts, root),)),
        BoardCell(status, badges=(_verification_badge(status, root),)),
        # context: clean accuracy on the headline's own images (the largest clean cell where there is no headline)
        _num(_pct(head["clean"]) if head is not None else _pct(clean["value"].iloc[-1]) if len(clean) else ""),
        _num(f"{d:.3f}" if (d := median_distance(mine, norm)) is not None else ""),
        _num(_pct(aa["value"].iloc[-1]) if len(aa) else ""), _num(int(aa["n"].iloc[-1]) if len(aa) else ""),
        BoardCell(", ".join(sorted(raised)) or "none", badges=flag_badges(raised, root)),
        *[_worst_at(mb, e) for e in eps_list],
        BoardCell(defense), BoardCell(trained), BoardCell(facts.arch),
        _num(format_count(facts.params), title=f"{facts.params:,} parameters" if facts.params else "",
             sort=str(facts.params or "")),
        BoardCell(facts.trained_on),
    ]
    flag_words = [w for f in raised for w in (f, glossary.flag_short(f))]
    words = [model, facts.origin, facts.arch, facts.trained_on, defense, trained, facts.paper, status, mark.text,
             *flag_words, *reasons]
    return cells, " ".join(words).lower()


def build_unranked_board(view: StoreView, dataset: str, norm: str, cards: dict[str, ModelCard] | None = None, *,
                         zoo: Path | None = None, links: dict[str, str] | None = None, root: str = "") -> Board:
    """The models of ``dataset`` kept off ``norm``'s ranking (``gating.unranked_reasons``): the leaderboard's
    columns, the first saying why instead of a rank; never ranked, never shown verified."""
    inputs = _board_inputs(view, dataset, norm, root)
    attacks, best, eps_list, top = inputs.attacks, inputs.best, inputs.eps_list, inputs.top
    rows, filters, models = [], [], []
    for model in sorted(attacks["model"].unique()):
        mine = attacks[attacks["model"] == model]
        reasons = unranked_reasons(mine, norm)
        if not reasons:
            continue
        head = headline(best, model, norm, top)
        row, text = _row(inputs, model, mine, head, model_facts((cards or {}).get(model), dataset, zoo),
                         (links or {}).get(model, ""))
        rows.append([BoardCell("; ".join(reasons), title="not ranked: " + "; ".join(reasons)), *row])
        filters.append(text)
        models.append(model)
    reason = Column("not ranked because", "a failed admission check or an unresolved masking flag (see the "
                    "glossary): shown with its numbers, never ranked or verified")
    cols = [reason, *columns(eps_list, top, _ensemble_eps(best), norm)[1:]]
    return Board(f"{dataset}-unranked-{norm}", f"{dataset}: {norm} threat model, not ranked", cols, rows, filters,
                 models, _trained_for(attacks, models, norm))


def _trained_for(attacks: pd.DataFrame, models: list[str], norm: str) -> list[bool]:
    """Per model: was it trained against ``norm`` (its stored ``trained_norm``)?"""
    trained = trained_norms(attacks)
    return [trained.get(m) == norm for m in models]


def median_distance(mine: pd.DataFrame, norm: str) -> float | None:
    """The smallest median distance to the decision boundary that a minimum-norm attack of ``norm`` found for the
    model (``mine``: its attack rows): robustness beyond the headline, continuous where the headline ties (e.g.
    at 0%); an upper bound on the true median distance, as every attack's is. None when none is stored."""
    rows = mine[(mine["metric"] == "median_distance") & (mine["norm"] == norm)]
    rows = rows[rows["attack"].map(lambda a: has_role(str(a), "minimum-norm")).astype(bool)]
    values = [float(v) for v in rows["value"] if math.isfinite(float(v))]
    return min(values) if values else None


__all__ = ["DEFAULT_KEY_METRICS", "MISSING", "Badge", "Board", "BoardCell", "Column", "build_board",
           "build_unranked_board", "columns", "flag_badges", "raised_flags", "reliability_badge"]
