"""The docs pages: the repository's docs/*.md rendered into the site (escaped, linked from the navigation, every
link resolving inside the site), left out with no error where there is no docs/ folder; and the README and the
docs point at nothing outside the repository."""

import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from rib.engine import RunOptions, Sampling, plan_run, run_cells
from rib.report import docs, render_site
from rib.store import ResultStore

from tests.helpers import make_card

REPO = Path(__file__).resolve().parents[2]
DATASET = "mnist-5k"  # embedded: the docs do not depend on the official MNIST files


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One tiny untrained model, FGSM in both norms on 20 images."""
    root = tmp_path_factory.mktemp("docs-site")
    zoo = root / "zoo"
    make_card(zoo, "tiny-a", dataset=DATASET)
    run_cells(plan_run("tiny-a", "fgsm-linf,fgsm-l2", DATASET, eps=[0.1], models_dir=zoo, sampling=Sampling(n=20)),
              ResultStore(root / "results"),
              options=RunOptions(models_dir=zoo, progress=False))
    return root


class _Links(HTMLParser):
    """The hrefs, ids and h1 texts of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.ids: set[str] = set()
        self.h1: list[str] = []
        self._in_h1 = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(str(a["id"]))
        if tag == "a" and a.get("href"):
            self.hrefs.append(str(a["href"]))
        if tag == "h1":
            self._in_h1 = True
            self.h1.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "h1":
            self._in_h1 = False

    def handle_data(self, data: str) -> None:
        if self._in_h1:
            self.h1[-1] += data


def _parse(path: Path) -> _Links:
    p = _Links()
    p.feed(path.read_text("utf-8"))
    return p


def _first_heading(md: Path) -> str:
    line = next(line for line in md.read_text("utf-8").splitlines() if line.startswith("# "))
    return line[2:].strip()


def _render(store: Path, out: Path) -> Path:
    return render_site(store / "results", out, models_dir=store / "zoo", generated_at="2026-01-01")


def test_docs_are_pages_of_the_site_linked_from_every_page(store: Path, tmp_path: Path) -> None:
    folder = docs.docs_dir()
    assert folder == REPO / "docs", "run from a clone: the docs come from its docs/ folder"
    sources = docs.doc_files(folder)
    assert {"methodology", "zoo", "metrics", "submissions", "cost", "design", "papers"} <= {p.stem for p in sources}
    site = _render(store, tmp_path / "site").parent
    index = site / "docs" / "index.html"
    listing = _parse(index)
    for md in sources:
        page = site / "docs" / f"{md.stem}.html"
        assert page.is_file(), page
        assert _parse(page).h1 == [_first_heading(md)], md.name  # its heading, rendered once, as the title
        assert f"{md.stem}.html" in listing.hrefs
        assert _first_heading(md) in index.read_text("utf-8")
    for rel, href in (("index.html", "docs/index.html"), ("glossary.html", "docs/index.html"),
                      ("docs/zoo.html", "../docs/index.html")):
        assert href in _parse(site / rel).hrefs, rel  # the navigation's "Docs"


def test_every_link_of_the_docs_pages_resolves_inside_the_site(store: Path, tmp_path: Path) -> None:
    site = _render(store, tmp_path / "site").parent
    for page in sorted((site / "docs").glob("*.html")):
        for href in _parse(page).hrefs:
            parts = urlsplit(href)
            if parts.scheme in ("http", "https"):
                continue
            assert not parts.scheme, (page.name, href)
            target = (page.parent / parts.path).resolve() if parts.path else page
            assert target.is_file(), (page.name, href)
            if parts.fragment:
                assert parts.fragment in _parse(target).ids, (page.name, href)


def test_without_a_docs_folder_the_site_has_no_docs_and_no_link(store: Path, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "site"
    _render(store, out)
    assert (out / "docs" / "index.html").is_file()
    monkeypatch.setattr(docs, "docs_dir", lambda: None)  # as from an installed wheel: no docs/ beside the package
    _render(store, out)  # into the same folder: the earlier docs pages are removed with the other generated parts
    assert not (out / "docs").exists()
    assert not any("docs/" in href for href in _parse(out / "index.html").hrefs)


def test_markdown_is_rendered_escaped_and_links_stay_inside_the_site() -> None:
    html, title, summary = docs.render_markdown(
        "# Title <b>x</b>\n\nFirst *para* of `rib <cmd>`.\n\n<script>alert(1)</script>\n\n"
        "[a](javascript:alert(1)) [b](zoo.md#training) [c](../README.md) [d](https://example.org) "
        "[e](docs/zoo.md) ![pic](https://example.org/x.png)\n\n| a | b |\n|---|---|\n| 1 | <i>2</i> |\n",
        {"zoo"})
    assert "<script" not in html and "&lt;script&gt;" in html and "<i>" not in html and "<b>" not in html
    assert 'href="zoo.html#training"' in html and 'href="https://example.org"' in html
    assert html.count('href="zoo.html') == 2 and "javascript" not in html and "README" not in html
    assert "<img" not in html and "pic" in html  # nothing fetched: an image is its alt text
    assert '<div class="table-wrap"><table>' in html
    assert title == "Title <b>x</b>" and summary == "First para of rib <cmd>."


def test_readme_and_docs_point_only_inside_the_repository() -> None:
    texts = {p: p.read_text("utf-8") for p in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]}
    for path, text in texts.items():
        assert "shared/" not in text, path
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"https?://", target):
                continue
            file, _, _ = target.partition("#")
            assert not file or (path.parent / file).resolve().is_file(), (path.name, target)
            assert (path.parent / file).resolve().is_relative_to(REPO), (path.name, target)
    readme = texts[REPO / "README.md"]
    assert len(readme.splitlines()) <= 260  # short, though it carries one table row per zoo model (12 + 12 + 16)
    first = re.search(r"^```bash\n(.*?)\n```", readme, re.S | re.M)
    assert first is not None
    lines = first.group(1).splitlines()
    assert lines[:2] == ["python -m pip install -e . && rib ls models && rib run --model ir --attack pgd-linf",
                         "python -m pip install -e '.[test]' && python -m pytest"]
