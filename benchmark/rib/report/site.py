"""``rib report``: the static leaderboard site, rendered with jinja2 (autoescape on) from the result store.

Nothing is recomputed: the pages are made from the stored summary rows and per-example outcomes (plus the model
cards and the attribution pictures where they exist). The same store gives the same bytes, except the one line
that says when the site was generated. The site works from file:// and from any static host: relative links,
no CDN, no fetch.
"""

from __future__ import annotations

import csv
import datetime as _dt
import hashlib
import io
import re
import shutil
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

from rib import __version__, ensemble
from rib.claims import REPRODUCTION_COLUMNS, across_datasets, evaluate_claims, format_value, reproduction_rows
from rib.claims.judge import SOURCE_LABELS
from rib.data import DATASETS, headline_eps
from rib.eps import at_eps
from rib.errors import RibError
from rib.files import atomic_write_bytes, atomic_write_text
from rib.report import docs, glossary, methodology, plots, verdict
from rib.report.board import Board, build_board, build_unranked_board
from rib.report.facts import format_count, model_facts
from rib.report.gating import fired_flags
from rib.report.metric_view import SCATTER_METRICS, arrow, by_cam_kind, metric_baselines, metric_direction
from rib.report.tables import (
    StoreView,
    best_known,
    cross_norm,
    for_norm,
    model_numbers,
    protocol_comparison,
    trained_norms,
)
from rib.runtime import git_sha
from rib.zoo import list_cards, zoo_dir

GENERATED_PREFIX = "Generated at "


def slug(text: str) -> str:
    """A file-name-safe form of a model id; ids with other characters get a short hash so names stay unique."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", text)
    if safe == text and safe not in ("", ".", ".."):
        return safe
    return f"{safe[:40]}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"


def _env() -> Any:
    import jinja2

    root = resources.files("rib").joinpath("report", "templates")
    env = jinja2.Environment(loader=jinja2.FunctionLoader(lambda name: root.joinpath(name).read_text("utf-8")),
                             autoescape=True, keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)
    env.filters["slug"] = slug
    env.tests["numeric"] = is_numeric
    return env


_NUMERIC = re.compile(r"-?\d[\d,.]*(e-?\d+)?%?|\[-?\d[\d.]*, -?\d[\d.]*\]", re.IGNORECASE)


def is_numeric(value: Any) -> bool:
    """Whether a table cell holds a number (right-aligned, tabular figures): a number, or text of one or of an
    interval."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return True
    return isinstance(value, str) and bool(_NUMERIC.fullmatch(value.strip()))


def _csv(headers: list[str], rows: list[list[Any]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(headers)
    writer.writerows(rows)
    return buf.getvalue()


PICTURES = Path("reports") / "explain"  # where `rib explain` writes its pictures by default


@dataclass
class _Site:
    """The site being rendered: where it goes (``out``), what it shows (the store ``view`` of ``results``, the cards
    of ``models_dir``, whose folder is ``zoo``, and the ``grid`` the methodology page describes), and its files."""

    out: Path
    view: StoreView
    results: Path | str
    models_dir: Any
    zoo: Path
    grid: str
    pictures: Path = PICTURES
    files: dict[str, str | bytes] = field(default_factory=dict)

    def add(self, rel: str, content: str | bytes) -> str:
        self.files[rel] = content
        return rel

    def table(self, key: str, title: str, headers: list[str], rows: list[list[Any]], depth: int = 0,
              links: list[str] | None = None) -> dict[str, Any]:
        """A table for a template, with its CSV written beside the pages."""
        csv_path = self.add(f"csv/{key}.csv", _csv(headers, rows))
        return {"id": key, "title": title, "headers": headers, "rows": rows, "csv": "../" * depth + csv_path,
                "links": links, "link_col": 1}

    def board(self, board: Board) -> dict[str, Any]:
        """A leaderboard for the template, with its CSV (the cells' text) written beside the pages."""
        headers, rows = board.plain()
        csv_path = self.add(f"csv/{slug(board.id)}.csv", _csv(headers, rows))
        trained = board.trained_for or [True] * len(board.rows)
        return {"id": slug(board.id), "title": board.title, "columns": board.columns,
                "rows": list(zip(board.filters, board.rows, trained, strict=True)), "csv": csv_path}


def _scatter_pages(site: _Site, view: StoreView, dataset: str, best: Any, norm: str, eps: float) -> list[dict]:
    metrics = view.metric_rows(dataset)
    b = best[(best["norm"] == norm) & (at_eps(best["eps"], eps)) & best["ensemble"].astype(bool)]
    b = b.set_index("model")
    out = []
    for metric, source, kind, hit in _scatter_sets(metrics, norm):  # CAM-head and Grad-CAM models apart
        pts = sorted((m, float(v), float(b.loc[m, "value"])) for m, v in zip(hit["model"], hit["value"], strict=True)
                     if m in b.index and v == v)
        if len(pts) < 2:
            continue
        rho, p = plots.spearman([x for _, x, _ in pts], [y for _, _, y in pts])
        svg = plots.scatter_svg([x for _, x, _ in pts], [100 * y for _, _, y in pts], [m for m, _, _ in pts],
                                f"{metric} on {source} inputs {arrow(metric_direction(metric))}".rstrip(),
                                f"worst-case robust acc. % ({norm} {eps:g}) ↑")
        rel = site.add(f"plots/{slug(dataset)}-scatter-{metric}{f'-{kind}' if kind else ''}-{norm}.svg", svg)
        stat = "ρ undefined with fewer than 3 models" if rho != rho else f"Spearman ρ = {rho:.2f}, p = {p:.2g}"
        of = f", {kind} models" if kind else ""
        out.append({"src": rel, "title": f"{metric} ({source}{of}) vs robust accuracy, {norm} {eps:g}",
                    "stats": f"n = {len(pts)} models · {stat}", "rho": rho, "n": len(pts)})
    return out


def _scatter_sets(metrics: Any, norm: str) -> list[tuple[str, str, str, Any]]:
    """(metric, source, CAM kind, rows) of every scatter plot of ``norm``: the key metrics and the faithfulness and
    sanity metrics, each on inputs of that norm (``for_norm``), the rows of CAM metrics split by the kind of CAM
    (never plotted together)."""
    return [(metric, source, kind, rows) for metric, source in for_norm(SCATTER_METRICS, norm) for kind, rows in
            by_cam_kind(metrics[(metrics["metric"] == metric) & (metrics["attack"] == source)]).items()]


STATIC = ("sort.js", "filter.js", "board.js", "style.css")


def render_site(results: Path | str = "results", out: Path | str = "reports", *, models_dir: Any = None,
                generated_at: str | None = None, grid: str = "default", pictures: Path | str = PICTURES) -> Path:
    """Write the site under ``out`` (index.html and the pages it links); returns the index path. ``grid`` is the
    grid file the methodology page describes. A model's attribution picture is ``out/explain/<dataset>/<id>.png``,
    or else the one ``rib explain`` wrote under ``pictures``, copied into ``out``: every page links only files of
    the site."""

    from rib import verify  # imported when rendering: the report's other modules do not need it

    view = StoreView.load(results, models_dir)
    if view.summary.empty:
        raise RibError(f"no results in {results}: run `rib run` first")
    out = Path(out)
    zoo = Path(models_dir) if isinstance(models_dir, (str, Path)) else zoo_dir()
    site = _Site(out, view, results, models_dir, zoo, grid, Path(pictures))
    env = _env()
    stamp = generated_at or _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()
    # the one line allowed to differ between two renders of the same results: time, and the rendering rib's commit
    common = {"generated": f"{GENERATED_PREFIX}{stamp} by rib {__version__} (git {git_sha()[:12]})"}
    common["docs"] = docs.add_pages(site.add, env, common)  # docs/*.md as pages, where the repository's docs/ is
    pages: dict[str, list[Any]] = {"index": [], "cross": [], "scatter": [], "claims": [], "claim_rows": [],
                                   "models": [], "method": []}
    for dataset in view.datasets():
        if not view.attack_rows(dataset).empty:
            _dataset_pages(site, dataset, pages)
    render: dict[str, tuple[str, dict[str, Any]]] = {"index.html": ("index.html", {"sections": pages["index"],
                                                                          "bootstrap": verdict.BOOTSTRAP}),
              "cross-norm.html": ("cross_norm.html", {"sections": pages["cross"]}),
              "scatter.html": ("scatter.html", {"sections": pages["scatter"]}),
              "claims.html": ("claims.html", {"sections": pages["claims"],
                                              "across": _across_datasets(site, dict(pages["claim_rows"]))}),
              "methodology.html": ("methodology.html", {
                  "sections": pages["method"], "grid": grid, "producers": methodology.producers(view),
                  "ensemble": methodology.docstring_html(ensemble.__doc__),
                  "verification": methodology.docstring_html(verify.__doc__), "flags": glossary.flag_terms()}),
              "glossary.html": ("glossary.html", {"flags": glossary.flag_terms(),
                                                  "statuses": glossary.verification_terms()})}
    for path, (template, context) in render.items():
        site.add(path, env.get_template(template).render(**context, **common))
    for page in pages["models"]:
        site.add(page["path"], env.get_template("model.html").render(page=page, **common))
    for name in STATIC:
        site.add(f"static/{name}", resources.files("rib").joinpath("report", "static", name).read_text("utf-8"))
    return _write(out, site.files)


def _dataset_pages(site: _Site, dataset: str, pages: dict[str, list[Any]]) -> None:
    """Add one dataset's part of every page to ``pages`` (its plots and CSVs go straight into ``site``)."""
    view, results, models_dir, zoo, grid = site.view, site.results, site.models_dir, site.zoo, site.grid
    cards = {c.id: c for c in list_cards(dataset, models_dir)} if dataset in DATASETS else {}
    best = best_known(view, dataset)
    other = view.other_samples
    ids = sorted({*view.summary[view.summary["dataset"] == dataset]["model"].unique(),  # a page for every model,
                  *(other[other["dataset"] == dataset]["model"].unique() if len(other) else ())})  # authors' too
    links = {m: f"models/{slug(dataset)}/{slug(m)}.html" for m in ids}
    boards, charts = [], []
    built: dict[str, list[Board]] = {}
    for norm in ("linf", "l2"):
        top = headline_eps(dataset, norm) if dataset in DATASETS else None
        ranked = build_board(view, dataset, norm, cards, zoo=zoo, links=links)
        boards.append(site.board(ranked))
        unranked = build_unranked_board(view, dataset, norm, cards, zoo=zoo, links=links)
        built[norm] = [ranked, unranked]
        if unranked.rows:  # failed admission checks, unresolved masking flags: listed apart, with the reason
            boards.append(site.board(unranked))
        chart = site.add(f"plots/{slug(dataset)}-models-{norm}.svg", plots.models_svg(best, norm, top))
        charts.append({"src": chart, "norm": norm, "headline": "" if top is None else f"{top:g}"})
    panels = _verdict_panels(site, dataset, best) if dataset in DATASETS else []
    pages["index"].append({"dataset": dataset, "boards": boards, "charts": charts, "verdicts": panels})
    h, r = cross_norm(view, dataset)
    pages["cross"].append({"dataset": dataset, "table": site.table(f"{slug(dataset)}-cross-norm",
                                                                   f"{dataset}: cross-norm", h, r)})
    plots_ = [p for norm in ("linf", "l2") for p in
              _scatter_pages(site, view, dataset, best, norm, headline_eps(dataset, norm))]
    pages["scatter"].append({"dataset": dataset, "plots": plots_, "verdicts": panels})
    claims = evaluate_claims(results, dataset, frame=pd.concat([view.summary, view.other_samples]),
                             examples=view.examples, values=view.values)
    ch = ["verdict", "claim", "source", "where (per eps, Holm-corrected)", "paper", "statement", "left",
          "left value", "left n", "right", "right value", "right n", "detail"]
    cr = [[c["verdict"], c["claim"], SOURCE_LABELS.get(c["source"], c["source"]), c["eps_range"], c["paper"],
           c["statement"], c["left"], format_value(c["left_value"]), c["left_n"], c["right"],
           format_value(c["right_value"]), c["right_n"], c["detail"]] for c in claims]
    rr = reproduction_rows(claims)
    pages["claim_rows"].append((dataset, claims))
    pages["claims"].append({"dataset": dataset, "table": site.table(f"{slug(dataset)}-claims",
                                                                    f"{dataset}: claims", ch, cr),
                            "reproduction": site.table(f"{slug(dataset)}-reproduction",
                                                       f"{dataset}: each claim from four sources",
                                                       ["claim", *REPRODUCTION_COLUMNS], rr) if rr else None})
    if dataset in DATASETS:
        pages["method"].append({"dataset": methodology.dataset_facts(dataset),
                                "attacks": methodology.attack_groups(grid, dataset),
                                "metrics": methodology.metric_groups(grid, dataset),
                                "stored": methodology.stored_n(view, dataset),
                                "trained_on": sorted({model_facts(c, dataset).trained_on for c in cards.values()})})
    rows = view.attack_rows(dataset)
    for model in ids:
        page = _model_page(site, dataset, model, (rows, best), cards.get(model))
        page["summary"] = model_summary(built, model, cards.get(model), sample_flags(other, dataset, model))
        pages["models"].append(page)


def _across_datasets(site: _Site, rows_by_dataset: dict[str, list[dict[str, Any]]]) -> dict[str, Any] | None:
    """The claims page's first table, where more than one dataset is judged: each claim on each dataset."""
    if len(rows_by_dataset) < 2:
        return None
    headers, rows = across_datasets(rows_by_dataset)
    return site.table("claims-across-datasets", "each claim on each dataset", headers, rows)


def sample_flags(other_samples: pd.DataFrame, dataset: str, model: str) -> list[str]:
    """The sanity flags that fired for a model on an authors' image set, in words ("AA: square beats gradient
    (flag) at linf 0.3 on boopathy2020"): the board's flags are those on rib's own sample."""
    if other_samples.empty:
        return []
    mine = other_samples[(other_samples["dataset"] == dataset) & (other_samples["model"] == model)]
    cell_eps = mine[mine["metric"] == "robust_accuracy"].groupby("cell_id")["eps"].max()  # a cell-wide flag's eps
    rows = fired_flags(mine)
    samples = ensemble.row_samples(rows)
    fired = {(str(r["metric"])[len("flag:"):], str(r["norm"]), float(r["eps"]) or float(cell_eps.get(r["cell_id"], 0)),
              str(samples[i])) for i, r in rows.iterrows()}
    return [f"{glossary.flag_words(f)} at {norm}" + (f" {eps:g}" if eps else "") + f" on {sample}"
            for f, norm, eps, sample in sorted(fired)]


def model_summary(boards: dict[str, list[Board]], model: str, card: Any,
                  other_flags: list[str] | None = None) -> dict[str, Any]:
    """What a model page says first: its clean accuracy on the whole test split, and per norm its rank (or why it
    is not ranked), its headline with interval and n, its reliability and flags in words, its verification, and
    the flags that fired on an authors' image set (``sample_flags``)."""
    per_norm, status = [], ""
    for norm, norm_boards in boards.items():
        row = next((r for b in norm_boards if (r := b.row_of(model)) is not None), None)
        if row is None:
            continue
        head = next((k for k in row if k.startswith("worst case %")), "")
        ranked = "rank" in row
        flags = [f.strip() for f in row.get("flags", "").split(",") if f.strip() and f.strip() != "none"]
        per_norm.append({
            "norm": norm, "eps": head.partition("@")[2].strip(),
            "rank": row["rank"] if ranked else "not ranked: " + row.get("not ranked because", ""),
            "headline": f"{row[head]}% {row.get('95% CI', '')} (n = {row.get('n', '')})" if row.get(head) else
                        f"not measured at ensemble strength (rib run --grid default --model {model} measures it)",
            "flags": "; ".join(glossary.flag_words(f) for f in flags) or "none fired",
        })
        status = row.get("verification", status)
    clean = card.test_accuracy if card is not None else None
    return {"clean": f"{100 * clean[0]:.2f}% " + (f"on all {clean[1]:,} test images" if clean[1] else
                                                   "on the whole test split") if clean else "",
            "norms": per_norm, "verification": status, "other_flags": "; ".join(other_flags or [])}


def _verdict_panels(site: _Site, dataset: str, best: Any) -> list[dict[str, Any]]:
    """Per norm: every metric's rank correlation with the headline worst case, among the models trained for that
    norm and among all (``rib.report.verdict``), as a table with its CSV and a one-line summary."""
    trained = trained_norms(site.view.attack_rows(dataset))
    panels = []
    for norm in ("linf", "l2"):
        eps = headline_eps(dataset, norm)
        found = verdict.verdicts(site.view.metric_rows(dataset), best, trained, norm, eps)
        if not found:
            continue
        table = site.table(f"{slug(dataset)}-verdict-{norm}", f"{dataset}, {norm} {eps:g}: each metric against "
                           "robustness", verdict.COLUMNS, [v.row() for v in found])
        panels.append({"norm": norm, "eps": f"{eps:g}", "table": table, "summary": verdict.summary(found),
                       "summary_trained": verdict.summary(found, "trained")})
    return panels


def _model_page(site: _Site, dataset: str, model: str, attacks_and_best: tuple[Any, Any],
                card: Any) -> dict[str, Any]:
    """One model's page: card, curves, picture and its stored numbers grouped by attack (``attacks_and_best``: the
    dataset's attack rows and worst cases)."""
    view, zoo, out = site.view, site.zoo, site.out
    rows, best = attacks_and_best
    h, r = model_numbers(view, dataset, model)
    table = site.table(f"{slug(dataset)}-{slug(model)}-numbers", f"{model}: every stored number", h, r, depth=2)
    mh, mr = metric_baselines(view.metric_rows(dataset), model)
    against = site.table(f"{slug(dataset)}-{slug(model)}-metrics", f"{model}: interpretability metrics against "
                         "their baselines", mh, mr, depth=2) if mr else None
    groups: dict[str, list[list[Any]]] = {}
    for row in r:
        groups.setdefault(str(row[0]), []).append(row[1:])
    curves = [site.add(f"plots/{slug(dataset)}-{slug(model)}-{norm}.svg", plots.curves_svg(rows, best, model, norm))
              for norm in ("linf", "l2")]
    picture = out / "explain" / dataset / f"{model}.png"
    elsewhere = site.pictures / dataset / f"{model}.png"
    if not picture.is_file() and elsewhere.is_file():  # `rib report --out` elsewhere: the picture comes along
        site.add(f"explain/{dataset}/{model}.png", elsewhere.read_bytes())
    return {
        "path": f"models/{slug(dataset)}/{slug(model)}.html", "dataset": dataset, "model": model,
        "table": table, "headers": h[1:], "groups": sorted(groups.items()), "baselines": against,
        "curves": ["../../" + c for c in curves],
        "picture": f"../../explain/{dataset}/{model}.png" if picture.is_file() or elsewhere.is_file() else None,
        "card": _card_fields(card, zoo) if card else [],
        "paper_url": model_facts(card, dataset).paper_url if card else "",
        "provenance": sorted((card.provenance if card else {}).items()),
        "downloads": _downloads(site, card, dataset) if card else None,
        "protocol": _protocol_section(site, view, dataset, model),
    }


def _pct_ci(value: float, ci: tuple[float, float], n: int) -> str:
    if not n or value != value:
        return "–"
    return f"{100 * value:.1f}% [{100 * ci[0]:.1f}, {100 * ci[1]:.1f}] (n={n})"


def _protocol_section(site: _Site, view: StoreView, dataset: str, model: str) -> dict[str, Any] | None:
    """What the authors' protocol measured beside rib's worst case on the same images, per eps, and the finding in
    words: the eps where rib's number lies below the protocol's by more than both 95% intervals."""
    rows = protocol_comparison(view, dataset, model)
    if not rows:
        return None
    headers = ["eps", "the authors' protocol", "rib's worst case, same images", "difference (points)",
               "beyond both intervals?"]
    body = [[f"{r['eps']:g}", _pct_ci(r["protocol"], r["protocol_ci"], r["protocol_n"]),
             _pct_ci(r["rib"], r["rib_ci"], r["rib_n"])
             + ("" if r["ensemble"] or not r["rib_n"] else " ≤ (no ensemble)"),
             "–" if not r["rib_n"] else f"{100 * (r['rib'] - r['protocol']):+.1f}",
             "yes: the protocol overstates robustness" if r["overstated"] else "no"] for r in rows]
    over = [r["eps"] for r in rows if r["overstated"]]
    finding = (f"At eps {', '.join(f'{e:g}' for e in over)}, rib's worst case on the authors' own images lies below "
               "what the authors' protocol measures by more than both 95% intervals: a stronger attack lowers the "
               "paper's number there." if over else
               "rib's worst case and the authors' protocol agree within their 95% intervals at every eps measured.")
    return {"table": site.table(f"{slug(dataset)}-{slug(model)}-protocol",
                                f"{model}: the authors' protocol beside rib's worst case on the same images",
                                headers, body, depth=2),
            "attack": rows[0]["attack"], "sample": rows[0]["sample"], "finding": finding}


def _downloads(site: _Site, card: Any, dataset: str) -> dict[str, Any] | None:
    """The card and weights file of a model, copied under ``downloads/<dataset>/<id>/`` with their own names (so the
    card still finds its weights beside it), and how the page links them; None where either file is not on disk or
    the weights file does not sit beside the card."""
    if not card.path or "/" in card.weights_file:
        return None
    if card.from_release:  # the authors' file is never copied: the page links it at its source
        rel = site.add(f"downloads/{slug(dataset)}/{slug(card.id)}/{Path(card.path).name}",
                       Path(card.path).read_bytes())
        return {"card": {"href": f"../../{rel}", "name": Path(card.path).name,
                         "size": format_bytes(Path(card.path).stat().st_size)},
                "weights": {"href": card.provenance.get("url", ""), "name": card.weights_file,
                            "size": "the authors' repository"}, "sha256": card.weights_sha256, "id": card.id,
                "release": card.weights_release}
    files = [Path(card.path), Path(card.weights_path)]
    if not all(f.is_file() for f in files):
        return None
    links = []
    for f in files:
        rel = site.add(f"downloads/{slug(dataset)}/{slug(card.id)}/{f.name}", f.read_bytes())
        links.append({"href": f"../../{rel}", "name": f.name, "size": format_bytes(f.stat().st_size)})
    return {"card": links[0], "weights": links[1], "sha256": card.weights_sha256, "id": card.id}


def format_bytes(size: int) -> str:
    """``900`` → ``900 B``; ``509_472`` → ``498 KiB``; ``3_300_000`` → ``3.1 MiB``."""
    if size < 1024:
        return f"{size} B"
    return f"{size / 1024:.0f} KiB" if size < 1024 ** 2 else f"{size / 1024 ** 2:.1f} MiB"


def _card_fields(card: Any, zoo: Path) -> list[tuple[str, str]]:
    facts = model_facts(card, card.dataset, zoo)
    params = "–" if facts.params is None else f"{facts.params:,} ({format_count(facts.params)})"
    release = [("trained and released by", f"the authors ({card.provenance.get('repository', '')}, commit "
                                           f"{card.provenance.get('commit', '')}, {card.provenance.get('file', '')}, "
                                           f"{card.provenance.get('license', '')} license)")] \
        if card.from_release else []
    return [("id", card.id), ("source", facts.origin), *release, ("evaluated on", card.dataset),
            ("trained on", facts.trained_on), ("architecture", card.arch), ("parameters", params),
            ("defense", card.defense),
            ("defense parameters", ", ".join(f"{k}={v}" for k, v in sorted(card.defense_params.items()))),
            ("trained against", f"{card.trained_norm} {card.trained_eps:g}"), ("paper", card.paper),
            ("weights sha256", card.weights_sha256), ("description", card.description)]


def _write(out: Path, files: dict[str, str | bytes]) -> Path:
    """Replace the generated parts of ``out`` (pages, csv, plots, static); other files there (explain/) stay."""
    for sub in ("models", "csv", "plots", "static", "docs", "downloads"):
        shutil.rmtree(out / sub, ignore_errors=True)
    for rel, content in sorted(files.items()):
        if isinstance(content, bytes):
            atomic_write_bytes(out / rel, content)
        else:
            atomic_write_text(out / rel, content)
    return out / "index.html"
