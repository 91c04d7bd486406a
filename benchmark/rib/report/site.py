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
from importlib import resources
from pathlib import Path
from typing import Any

from rib.claims import evaluate_claims
from rib.data import headline_eps
from rib.errors import RibError
from rib.files import atomic_write_bytes, atomic_write_text
from rib.report import plots
from rib.report.tables import (
    KEY_METRICS,
    StoreView,
    best_known,
    cross_norm,
    leaderboard,
    model_facts,
    model_numbers,
)
from rib.zoo import list_cards

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
    return env


def _csv(headers: list[str], rows: list[list[Any]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(headers)
    writer.writerows(rows)
    return buf.getvalue()


class _Site:
    def __init__(self, out: Path) -> None:
        self.out = out
        self.files: dict[str, str | bytes] = {}

    def add(self, rel: str, content: str | bytes) -> str:
        self.files[rel] = content
        return rel

    def table(self, key: str, title: str, headers: list[str], rows: list[list[Any]], depth: int = 0,
              links: list[str] | None = None) -> dict[str, Any]:
        """A table for a template, with its CSV written beside the pages."""
        csv_path = self.add(f"csv/{key}.csv", _csv(headers, rows))
        return {"id": key, "title": title, "headers": headers, "rows": rows, "csv": "../" * depth + csv_path,
                "links": links, "link_col": 1}


def _scatter_pages(site: _Site, view: StoreView, dataset: str, best: Any, norm: str, eps: float) -> list[dict]:
    metrics = view.metric_rows(dataset)
    b = best[(best["norm"] == norm) & ((best["eps"] - eps).abs() < 1e-9) & best["ensemble"].astype(bool)]
    b = b.set_index("model")
    out = []
    for metric, source in KEY_METRICS:
        hit = metrics[(metrics["metric"] == metric) & (metrics["attack"] == source)]
        pts = sorted((m, float(v), float(b.loc[m, "value"])) for m, v in zip(hit["model"], hit["value"], strict=True)
                     if m in b.index and v == v)
        if len(pts) < 2:
            continue
        rho, p = plots.spearman([x for _, x, _ in pts], [y for _, _, y in pts])
        title = (f"{metric} ({source}) vs robust acc, {norm} {eps:g}: "
                 f"Spearman ρ = {rho:.2f} (p = {p:.2f}, n = {len(pts)})")
        svg = plots.scatter_svg([x for _, x, _ in pts], [100 * y for _, _, y in pts], [m for m, _, _ in pts],
                                f"{metric} on {source} inputs", f"worst-case robust accuracy % ({norm} {eps:g})", title)
        rel = site.add(f"plots/{dataset}-scatter-{metric}-{norm}.svg", svg)
        out.append({"src": rel, "title": title, "rho": rho, "n": len(pts)})
    return out


def render_site(results: Path | str = "results", out: Path | str = "reports", *, models_dir: Any = None,
                generated_at: str | None = None) -> Path:
    """Write the site under ``out`` (index.html and the pages it links); returns the index path."""

    view = StoreView.load(results, models_dir)
    if view.summary.empty:
        raise RibError(f"no results in {results}: run `rib run` first")
    out = Path(out)
    site = _Site(out)
    env = _env()
    stamp = generated_at or _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()
    common = {"generated": f"{GENERATED_PREFIX}{stamp}"}
    sections, cross_sections, scatter_sections, claim_sections = [], [], [], []
    model_pages = []
    for dataset in view.datasets():
        if view.attack_rows(dataset).empty:
            continue
        boards = []
        for norm in ("linf", "l2"):
            headers, rows, ids = leaderboard(view, dataset, norm)
            links = [f"models/{slug(dataset)}/{slug(m)}.html" for m in ids]
            boards.append(site.table(f"{slug(dataset)}-leaderboard-{norm}", f"{dataset}: {norm} threat model",
                                     headers, rows, links=links))
        sections.append({"dataset": dataset, "boards": boards})
        h, r = cross_norm(view, dataset)
        cross_sections.append({"dataset": dataset, "table": site.table(f"{slug(dataset)}-cross-norm",
                                                                       f"{dataset}: cross-norm", h, r)})
        best = best_known(view, dataset)
        plots_ = [p for norm in ("linf", "l2") for p in
                  _scatter_pages(site, view, dataset, best, norm, headline_eps(dataset, norm))]
        scatter_sections.append({"dataset": dataset, "plots": plots_})
        claims = evaluate_claims(results, dataset, frame=view.summary, examples=view.examples)
        ch = ["claim", "paper", "statement", "left", "left value", "left n", "right", "right value", "right n",
              "verdict", "CIs overlap", "detail"]
        cr = [[c["claim"], c["paper"], c["statement"], c["left"], f"{c['left_value']:.4f}", c["left_n"],
               c["right"], f"{c['right_value']:.4f}", c["right_n"], c["verdict"],
               "" if c["intervals_overlap"] is None else str(c["intervals_overlap"]).lower(), c["detail"]]
              for c in claims]
        claim_sections.append({"dataset": dataset, "table": site.table(f"{slug(dataset)}-claims",
                                                                       f"{dataset}: claims", ch, cr)})
        cards = {c.id: c for c in list_cards(dataset, models_dir)}
        rows = view.attack_rows(dataset)
        for model in sorted(view.summary[view.summary["dataset"] == dataset]["model"].unique()):
            h, r = model_numbers(view, dataset, model)
            curves = [site.add(f"plots/{slug(dataset)}-{slug(model)}-{norm}.svg",
                               plots.curves_svg(rows, best, model, norm)) for norm in ("linf", "l2")]
            picture = out / "explain" / dataset / f"{model}.png"
            card = cards.get(model)
            model_pages.append({
                "path": f"models/{slug(dataset)}/{slug(model)}.html", "dataset": dataset, "model": model,
                "table": site.table(f"{slug(dataset)}-{slug(model)}-numbers", f"{model}: every stored number", h, r,
                                    depth=2),
                "curves": ["../../" + c for c in curves],
                "picture": f"../../explain/{dataset}/{model}.png" if picture.is_file() else None,
                "card": _card_fields(card) if card else [],
                "provenance": sorted((card.provenance if card else {}).items()),
            })
    site.add("index.html", env.get_template("index.html").render(sections=sections, **common))
    site.add("cross-norm.html", env.get_template("cross_norm.html").render(sections=cross_sections, **common))
    site.add("scatter.html", env.get_template("scatter.html").render(sections=scatter_sections, **common))
    site.add("claims.html", env.get_template("claims.html").render(sections=claim_sections, **common))
    for page in model_pages:
        site.add(page["path"], env.get_template("model.html").render(page=page, **common))
    site.add("static/sort.js", resources.files("rib").joinpath("report", "static", "sort.js").read_text("utf-8"))
    site.add("static/style.css", resources.files("rib").joinpath("report", "static", "style.css").read_text("utf-8"))
    return _write(out, site.files)


def _card_fields(card: Any) -> list[tuple[str, str]]:
    arch, trained_on, outside = model_facts(card)
    return [("id", card.id), ("dataset", card.dataset), ("architecture", arch), ("training data", trained_on),
            ("outside model", "yes" if outside else "no"), ("defense", card.defense),
            ("defense parameters", ", ".join(f"{k}={v}" for k, v in sorted(card.defense_params.items()))),
            ("trained against", f"{card.trained_norm} {card.trained_eps:g}"), ("weights sha256", card.weights_sha256),
            ("description", card.description)]


def _write(out: Path, files: dict[str, str | bytes]) -> Path:
    """Replace the generated parts of ``out`` (pages, csv, plots, static); other files there (explain/) stay."""
    for sub in ("models", "csv", "plots", "static"):
        shutil.rmtree(out / sub, ignore_errors=True)
    for rel, content in sorted(files.items()):
        if isinstance(content, bytes):
            atomic_write_bytes(out / rel, content)
        else:
            atomic_write_text(out / rel, content)
    return out / "index.html"
