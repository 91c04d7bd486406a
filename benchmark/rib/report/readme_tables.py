"""The README's number tables, rendered from the result store and the cards: each trained zoo's headline table and
the authors' networks' table. ``python -m rib.report.readme_tables`` rewrites them in place (``--check`` only says
whether they are current), so no number in the README is typed by hand."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rib.data import headline_eps
from rib.recipe_files import recipe_file
from rib.report.tables import StoreView, best_known, headline, protocol_comparison
from rib.zoo import list_cards

NOT_MEASURED = "not measured"
PROTOCOL_EPS = (0.3, 0.35, 0.4)
AUTHORS_HEADER = ("| authors' network | clean (10,000 images) | the authors' protocol, linf 0.3 / 0.35 / 0.4 | "
                  "rib's worst case, same images, linf 0.3 / 0.35 / 0.4 | linf 0.3 on rib's sample |")
LISTED_PREFIX = "Listed, not in the grid (the Integrated-Gradients trainings), clean accuracy on 10,000 images: "
NOT_GRIDDED = ("-ig", "-igsum", "-intig", "-intigadv")


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def _eps_text(eps: float) -> str:
    """0.3 → "0.3", 2.0 → "2.0" (as the README writes eps)."""
    return f"{eps:.1f}" if float(eps).is_integer() else f"{eps:g}"


def headline_text(view: StoreView, dataset: str, model: str, norm: str) -> str:
    """A model's headline at its dataset's headline eps with its 95% interval, or "not measured"."""
    row = headline(best_known(view, dataset), model, norm, headline_eps(dataset, norm))
    if row is None:
        return NOT_MEASURED
    return f"{100 * row['value']:.1f}% [{100 * row['ci_low']:.1f}, {100 * row['ci_high']:.1f}]"


def zoo_header(dataset: str) -> str:
    """The header line of a dataset's zoo table (its headline eps per norm in the column names)."""
    return (f"| model | clean (10,000 images) | linf {_eps_text(headline_eps(dataset, 'linf'))} | "
            f"l2 {_eps_text(headline_eps(dataset, 'l2'))} | epochs | training |")


def zoo_table(view: StoreView, dataset: str) -> list[str]:
    """A dataset's zoo table (header, rule, one row per recipe with a committed card, in the recipe file's order)."""
    lines = [zoo_header(dataset), "|---|---|---|---|---|---|"]
    committed = {c.id: c for c in list_cards(dataset) if not c.from_release}
    for model in recipe_file(dataset).get("models", {}):
        if model not in committed:
            continue
        prov = committed[model].provenance
        lines.append(f"| `{model}` | {100 * prov['test_accuracy']:.2f}% | "
                     f"{headline_text(view, dataset, model, 'linf')} | {headline_text(view, dataset, model, 'l2')} | "
                     f"{prov['epochs']} | {prov['wall_time_s']:,.0f} s |")
    return lines


def authors_table(view: StoreView) -> list[str]:
    """The authors' networks: clean accuracy, their protocol and rib's worst case on their images, the headline on
    rib's sample; the networks outside the grid listed with their clean accuracy below the table."""
    release = sorted((c for c in list_cards("mnist") if c.from_release), key=lambda c: c.id)
    lines = [AUTHORS_HEADER, "|---|---|---|---|---|"]
    listed = []
    for card in release:
        clean = f"{100 * card.provenance['test_accuracy']:.2f}%"
        if card.id.endswith(NOT_GRIDDED):
            listed.append(f"`{card.id}` {clean}")
            continue
        by_eps = {r["eps"]: r for r in protocol_comparison(view, "mnist", card.id)}
        at = [by_eps.get(e) for e in PROTOCOL_EPS]
        protocol = " / ".join(_pct(r["protocol"]) for r in at if r) if all(at) else NOT_MEASURED
        measured = all(at) and all(r["rib_n"] for r in at if r)
        rib = (" / ".join(("" if r["ensemble"] else "≤") + _pct(r["rib"]) for r in at if r)
               if measured else NOT_MEASURED)
        on_rib_sample = headline_text(view, "mnist", card.id, "linf")
        lines.append(f"| `{card.id}` | {clean} | {protocol} | {rib} | {on_rib_sample} |")
    return [*lines, "", LISTED_PREFIX + ", ".join(listed) + "."]


def _replace_block(text: str, header: str, new: list[str]) -> str:
    """``text`` with the table starting at ``header`` (and, for the authors' table, its "Listed" line) replaced."""
    start = text.index(header)
    lines = text[start:].split("\n")
    end = 0
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    if new[-1].startswith(LISTED_PREFIX):
        end += 1  # the blank line
        while end < len(lines) and not lines[end].startswith(LISTED_PREFIX):
            end += 1
        end += 1
    return text[:start] + "\n".join([*new, *lines[end:]])


def render(text: str, view: StoreView) -> str:
    """The README text with every number table regenerated (a dataset's zoo table only where the README has one)."""
    for dataset in ("mnist", "fashion-mnist", "cifar10"):
        header = zoo_header(dataset)
        if header in text:
            text = _replace_block(text, header, zoo_table(view, dataset))
    if AUTHORS_HEADER in text:
        text = _replace_block(text, AUTHORS_HEADER, authors_table(view))
    return text


def main(argv: list[str] | None = None) -> int:
    """Rewrite (or with --check, compare) the README's number tables from the store and the cards."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--readme", default="README.md")
    parser.add_argument("--results", default="results")
    parser.add_argument("--check", action="store_true", help="exit 1 if the README's tables are not current")
    args = parser.parse_args(argv)
    path = Path(args.readme)
    text = path.read_text("utf-8")
    new = render(text, StoreView.load(Path(args.results)))
    if args.check:
        if new != text:
            print(f"{path}: its number tables differ from the store (python -m rib.report.readme_tables)")
            return 1
        return 0
    if new != text:
        path.write_text(new, "utf-8")
        print(f"{path}: number tables regenerated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
