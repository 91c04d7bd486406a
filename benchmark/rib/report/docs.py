"""The site's documentation pages: the repository's ``docs/*.md`` rendered as ``docs/<name>.html``, with a
listing at ``docs/index.html`` and a "Docs" link in the site's navigation.

The docs are read from the ``docs/`` folder of the repository this package sits in (a clone installed with
``pip install -e .``). An installed wheel carries no ``docs/``: the site is then rendered without them (no pages,
no link, no error). Rendering is escaped: raw HTML in a page is shown as text; only http(s) links leave the
site; a link to another page's ``.md`` becomes its ``.html``; any other link (a file of the repository, another
scheme) is kept as plain text, so no page links to something the site does not hold. ``index.md`` is not a page
name (``index.html`` is the generated listing).
"""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as etree
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from markupsafe import Markup

# the order of the listing and of every page's contents line; any other page follows, by name
ORDER = ("methodology", "zoo", "metrics", "submissions", "cli", "cost", "design", "papers")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
_DOC_LINK = re.compile(r"(?:\./)?(?:docs/)?(?P<name>[A-Za-z0-9][A-Za-z0-9_-]*)\.md(?P<frag>#[^\s]*)?")


@dataclass(frozen=True)
class DocPage:
    """One rendered page: its file stem, first heading, first paragraph (plain text) and HTML body."""

    name: str
    title: str
    summary: str
    body: Markup


def docs_dir() -> Path | None:
    """The repository's ``docs/`` folder when this package is a clone's (``benchmark/rib`` beside it), else None."""
    root = Path(__file__).resolve().parents[3]
    docs = root / "docs"
    return docs if (root / "benchmark" / "rib").is_dir() and docs.is_dir() else None


def doc_files(folder: Path) -> list[Path]:
    """The folder's pages in listing order (``ORDER`` first, then by name)."""
    files = {p.stem: p for p in folder.glob("*.md") if _NAME.fullmatch(p.stem) and p.stem != "index"}
    known = [files.pop(name) for name in ORDER if name in files]
    return known + [files[name] for name in sorted(files)]


def render_markdown(text: str, names: set[str]) -> tuple[Markup, str, str]:
    """A page's HTML (escaped), its first heading and its first paragraph as text; ``names`` are the pages a
    ``.md`` link may point to."""
    import markdown
    from markdown.treeprocessors import Treeprocessor

    found: dict[str, str] = {}

    class _Rewrite(Treeprocessor):
        def run(self, root: etree.Element) -> None:
            _rewrite(root, names, found)

    md = markdown.Markdown(extensions=["tables", "fenced_code", "sane_lists", "toc"], output_format="html")
    md.preprocessors.deregister("html_block")  # raw HTML is text, escaped like any other
    md.inlinePatterns.deregister("html")
    md.treeprocessors.register(_Rewrite(md), "rib-rewrite", 1)  # after toc (5) has given headings their ids
    body = md.convert(text)
    return Markup(body), found.get("title", ""), found.get("summary", "")


def _rewrite(root: etree.Element, names: set[str], found: dict[str, str]) -> None:
    tables = [(parent, i, child) for parent in root.iter() for i, child in enumerate(parent) if child.tag == "table"]
    for parent, i, table in tables:  # tables scroll inside their own box, as everywhere on the site
        wrap = etree.Element("div", {"class": "table-wrap"})
        wrap.tail, table.tail = table.tail, None
        wrap.append(table)
        parent[i] = wrap
    for el in root.iter():
        if el.tag == "h1" and "title" not in found:  # code spans hold escaped text: unescape, the template escapes
            found["title"] = html.unescape("".join(el.itertext()).strip())
        elif el.tag == "p" and "summary" not in found and "title" in found:
            found["summary"] = html.unescape(" ".join("".join(el.itertext()).split()))
        elif el.tag == "a":
            href = _href(el.get("href", ""), names)
            if href is None:
                el.tag = "span"
                el.attrib.clear()
            else:
                el.set("href", href)
        elif el.tag == "img":  # nothing is fetched, and the site holds no pictures of the docs: the alt text
            alt = el.get("alt", "")
            el.tag = "span"
            el.attrib.clear()
            el.text = alt


def _href(href: str, names: set[str]) -> str | None:
    """Where a link goes on the site, or None when the site cannot serve it."""
    if re.match(r"https?://", href) or re.fullmatch(r"#[\w-]+", href):
        return href
    m = _DOC_LINK.fullmatch(href)
    if m and m["name"] in names:
        return f"{m['name']}.html{m['frag'] or ''}"
    return None


def load_docs(folder: Path) -> list[DocPage]:
    """Every page of ``folder``, rendered, in listing order."""
    files = doc_files(folder)
    names = {p.stem for p in files}
    pages = []
    for path in files:
        body, title, summary = render_markdown(path.read_text("utf-8"), names)
        pages.append(DocPage(path.stem, title or path.stem, summary, body))
    return pages


def add_pages(add: Callable[[str, str], Any], env: Any, common: dict[str, Any]) -> str:
    """Render the docs into the site through ``add`` (path, content); returns the navigation's link to their
    listing, or "" (and adds nothing) when there is no ``docs/`` folder with pages."""
    folder = docs_dir()
    pages = load_docs(folder) if folder is not None else []
    if not pages:
        return ""
    context = {**common, "docs": "docs/index.html", "pages": pages}
    template = env.get_template("doc.html")
    add("docs/index.html", template.render(page=None, **context))
    for page in pages:
        add(f"docs/{page.name}.html", template.render(page=page, **context))
    return "docs/index.html"
