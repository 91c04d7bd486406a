"""The leaderboard site of the committed results in a real browser (Debian's /usr/bin/chromium driven by
playwright; skipped when either is missing), at a desktop and a phone width: no console errors, the filter, sorting
both ways, badges that explain themselves, collapsed number tables, and nothing but the tables' own containers
scrolling sideways on a phone.

The site is rendered from the committed ``results/`` into a temporary folder, never over ``reports/``. With
``RIB_SCREENSHOTS`` set (``tox -e browser`` sets it to ``reports/screenshots``), screenshots of the index, one model
page and the scatter page are written there at both widths.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rib.report import render_site

CHROMIUM = Path("/usr/bin/chromium")
REPO = Path(__file__).resolve().parents[2]
WIDTHS = (1400, 390)
BOARD = "#mnist-leaderboard-linf"

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (apt-get install -y chromium)")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The committed results rendered into a temporary folder (the pictures of reports/explain are not needed)."""
    return render_site(REPO / "results", tmp_path_factory.mktemp("site") / "reports", generated_at="test").parent


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        yield b
        b.close()


def _page(browser: Any, width: int) -> tuple[Any, list[str]]:
    page = browser.new_page(viewport={"width": width, "height": 900})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("requestfailed", lambda r: errors.append(f"failed to load {r.url}"))
    page.on("dialog", lambda d: (errors.append(f"dialog: {d.message}"), d.dismiss()))
    return page, errors


def _pages(site: Path) -> list[str]:
    return sorted(str(p.relative_to(site)) for p in site.rglob("*.html"))


@pytest.mark.parametrize("width", WIDTHS)
def test_every_page_loads_cleanly_and_only_tables_scroll_sideways(site: Path, browser: Any, width: int) -> None:
    page, errors = _page(browser, width)
    pages = _pages(site)
    assert {"index.html", "scatter.html", "methodology.html", "glossary.html", "claims.html",
            "cross-norm.html"} <= set(pages) and any(p.startswith("models/") for p in pages)
    shots = os.environ.get("RIB_SCREENSHOTS")
    for rel in pages:
        page.goto((site / rel).as_uri())
        page.wait_for_load_state("load")
        assert page.evaluate("document.documentElement.scrollWidth") <= width, rel
        broken = page.evaluate("Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0)"
                               ".map(i => i.src)")
        assert broken == [], (rel, broken)
        if shots and rel in ("index.html", "scatter.html", "models/mnist/ir.html"):
            Path(shots).mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(Path(shots) / f"{Path(rel).stem}-{width}.png"), full_page=True)
    assert errors == []
    page.close()


def _visible_models(page: Any) -> list[str]:
    return page.locator(f"{BOARD} tbody tr:not([hidden]) a.model-link").all_inner_texts()


@pytest.mark.parametrize("width", WIDTHS)
def test_filter_narrows_rows_and_clearing_restores_them(site: Path, browser: Any, width: int) -> None:
    page, errors = _page(browser, width)
    page.goto((site / "index.html").as_uri())
    everyone = _visible_models(page)
    assert len(everyone) >= 5
    page.fill("#filter", "LIPSCHITZ")  # case does not matter
    narrowed = _visible_models(page)
    assert 0 < len(narrowed) < len(everyone) and all("lipschitz" in m for m in narrowed)
    rows = "table.filterable tbody tr"  # the count covers every board on the page, every dataset and norm
    shown, total = page.locator(f"{rows}:not([hidden])").count(), page.locator(rows).count()
    assert shown < total and page.locator("#filter-count").inner_text().startswith(f"{shown} of {total}")
    page.fill("#filter", "cam-cnn standard")  # every word must match: architecture and defense
    assert _visible_models(page) == ["standard"]
    page.fill("#filter", "no such model")
    assert _visible_models(page) == [] and page.locator(".board .empty").first.is_visible()
    page.fill("#filter", "")
    assert _visible_models(page) == everyone and not page.locator(".board .empty").first.is_visible()
    assert errors == []
    page.close()


def _column(page: Any, header: str) -> list[str]:
    index = page.locator(f"{BOARD} thead th").all_inner_texts().index(header) + 1
    return [t.split("\n")[0] for t in page.locator(f"{BOARD} tbody tr td:nth-child({index})").all_inner_texts()]


def test_columns_sort_both_ways(site: Path, browser: Any) -> None:
    page, errors = _page(browser, 1400)
    page.goto((site / "index.html").as_uri())
    names = _column(page, "model")
    header = page.locator(f"{BOARD} thead th", has_text="model").first
    header.click()
    assert _column(page, "model") == sorted(names) and header.get_attribute("aria-sort") == "ascending"
    header.click()
    assert _column(page, "model") == sorted(names, reverse=True) and header.get_attribute("aria-sort") == "descending"
    clean = page.locator(f"{BOARD} thead th", has_text="clean %").first
    clean.click()  # a model without a clean accuracy on rib's sample ("–") sorts apart from the numbers
    up = [float(v) for v in _column(page, "clean %") if v != "–"]
    clean.click()
    down = [float(v) for v in _column(page, "clean %") if v != "–"]
    assert up == sorted(up) and down == sorted(up, reverse=True) and up[0] < up[-1]
    page.locator(f"{BOARD} thead th").first.click()  # rank: back to the ranking
    ranks = [int(r) for r in _column(page, "rank")]  # tied models (McNemar) share a rank
    assert ranks == sorted(ranks) and ranks[0] == 1 and len(ranks) == len(names)
    assert errors == []
    page.close()


def test_badges_explain_themselves_and_the_glossary_has_their_entries(site: Path, browser: Any) -> None:
    page, errors = _page(browser, 1400)
    page.goto((site / "index.html").as_uri())
    badges = page.locator(f"{BOARD} a.badge")
    assert badges.count() > 0
    anchors = set()
    for i in range(badges.count()):
        badge = badges.nth(i)
        title, href = badge.get_attribute("title") or "", badge.get_attribute("href") or ""
        assert len(title) > len(badge.inner_text()) and href.startswith("glossary.html#"), (title, href)
        anchors.add(href.split("#")[1])
    page.goto((site / "glossary.html").as_uri())
    for anchor in anchors:
        assert page.locator(f"[id='{anchor}']").count() == 1, anchor
    assert errors == []
    page.close()


def test_model_page_numbers_are_grouped_by_attack_and_collapsed(site: Path, browser: Any) -> None:
    page, errors = _page(browser, 1400)
    page.goto((site / "index.html").as_uri())
    page.locator(f"{BOARD} a.model-link", has_text="adv-linf").first.click()
    page.wait_for_load_state()
    assert page.url.endswith("/models/mnist/adv-linf.html")
    groups = page.locator("details.numbers")
    assert groups.count() > 3
    assert all(groups.nth(i).get_attribute("open") is None for i in range(groups.count()))
    first_table = groups.first.locator("table")
    assert not first_table.is_visible()
    groups.first.locator("summary").click()
    assert first_table.is_visible() and first_table.locator("tbody tr").count() > 0
    assert errors == []
    page.close()


DEFAULT_COLUMNS = ["rank", "model", "clean %", "worst case % @ 0.3", "95% CI", "n", "reliability", "alignment ↑",
                   "gini-ig ↑", "kendall-tau (topk-cam-linf) ↑"]


def _visible_headers(page: Any) -> list[str]:
    heads = page.locator(f"{BOARD} thead th")
    return [heads.nth(i).inner_text().strip() for i in range(heads.count()) if heads.nth(i).is_visible()]


@pytest.mark.parametrize(("width", "height"), [(1400, 900), (390, 844)])
def test_the_leaderboard_is_in_the_first_screen(site: Path, browser: Any, width: int, height: int) -> None:
    page, errors = _page(browser, width)
    page.set_viewport_size({"width": width, "height": height})
    page.goto((site / "index.html").as_uri())
    first = page.locator(f"{BOARD} tbody tr").first
    box = first.bounding_box()
    assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= height, box
    for cell in (first.locator("a.model-link"), first.locator("td.strong")):  # the model and its headline
        b = cell.bounding_box()
        assert cell.is_visible() and b is not None and b["x"] >= 0 and b["x"] + b["width"] <= width, b
    assert errors == []
    page.close()


def test_default_columns_and_the_more_columns_switch(site: Path, browser: Any) -> None:
    page, errors = _page(browser, 1400)
    page.goto((site / "index.html").as_uri())
    every = [t.strip() for t in page.locator(f"{BOARD} thead th").all_inner_texts()]
    assert _visible_headers(page) == DEFAULT_COLUMNS  # nothing hidden beyond the default set
    assert len(every) > len(DEFAULT_COLUMNS) + 8
    page.check("#more-columns")
    assert _visible_headers(page) == every
    extra_cell = page.locator(f"{BOARD} tbody tr td.extra").first
    assert extra_cell.is_visible()
    page.uncheck("#more-columns")
    assert _visible_headers(page) == DEFAULT_COLUMNS and not extra_cell.is_visible()
    assert errors == []
    page.close()


def test_the_model_column_stays_put_when_the_table_scrolls_sideways(site: Path, browser: Any) -> None:
    page, errors = _page(browser, 1400)
    page.goto((site / "index.html").as_uri())
    page.check("#more-columns")  # wide enough to scroll
    wrap = page.locator(f"{BOARD}").locator("xpath=ancestor::div[contains(@class, 'table-wrap')]")
    scrolled = wrap.evaluate("w => { w.scrollLeft = w.scrollWidth; return w.scrollLeft; }")
    assert scrolled > 200
    frame = wrap.bounding_box()
    for i in range(page.locator(f"{BOARD} tbody tr").count()):
        cell = page.locator(f"{BOARD} tbody tr").nth(i).locator("td").nth(1)
        cell.evaluate("c => c.scrollIntoView({block: 'center', inline: 'nearest'})")  # a long board runs below
        assert wrap.evaluate("w => w.scrollLeft") == scrolled  # still scrolled fully right
        box = cell.bounding_box()
        assert box is not None and frame["x"] - 1 <= box["x"] and box["x"] + box["width"] <= frame["x"] + frame["width"]
        hit = page.evaluate("([x, y]) => document.elementFromPoint(x, y).closest('td')?.cellIndex",
                            [box["x"] + 8, box["y"] + box["height"] / 2])
        assert hit == 1, i  # the model cell itself is on top, not a scrolled cell under it
    assert errors == []
    page.close()


def test_the_sticky_header_sits_below_the_site_header(site: Path, browser: Any) -> None:
    page, errors = _page(browser, 1400)
    page.goto((site / "index.html").as_uri())
    header_bottom = page.evaluate("document.querySelector('header.site').getBoundingClientRect().bottom")
    table_top = page.evaluate(f"document.querySelector('{BOARD}').getBoundingClientRect().top + window.scrollY")
    page.evaluate(f"window.scrollTo(0, {table_top - header_bottom + 120})")  # 120 px of the table under the header
    page.wait_for_function(f"document.querySelector('{BOARD} thead th').getBoundingClientRect().top >= "
                           f"{header_bottom - 1}")
    th = page.locator(f"{BOARD} thead th").nth(2)
    box = th.bounding_box()
    assert box is not None and abs(box["y"] - header_bottom) <= 2, (box, header_bottom)
    hit = page.evaluate("([x, y]) => !!document.elementFromPoint(x, y).closest('thead')",
                        [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2])
    assert hit  # not covered by the site header
    assert errors == []
    page.close()


def test_the_filter_finds_papers_and_flags_and_every_paper_is_linked(site: Path, browser: Any) -> None:
    page, errors = _page(browser, 1400)
    page.goto((site / "index.html").as_uri())
    rows = page.locator(f"{BOARD} tbody tr")
    for i in range(rows.count()):
        model = rows.nth(i).locator("a.model-link").inner_text()
        links = rows.nth(i).locator("td:nth-child(2) a.paper")
        if model != "standard":  # the baseline cites no paper
            assert links.count() == 1 and links.first.get_attribute("href").startswith("https://arxiv.org/abs/"), model
    page.fill("#filter", "Doshi-Velez")  # an author
    assert _visible_models(page) == ["gradient-reg"]
    page.fill("#filter", "boopathy")
    found = _visible_models(page)
    assert {"proper-int", "proper-int2"} <= set(found) and "standard" not in found
    badge = page.locator(f"{BOARD} tbody td.extra a.badge-flag").first  # a flag's badge text, as the board shows it
    text = badge.text_content().strip()
    flagged = badge.locator("xpath=ancestor::tr").locator("a.model-link").inner_text()
    page.fill("#filter", text)
    assert flagged in _visible_models(page) and len(_visible_models(page)) < rows.count()
    assert errors == []
    page.close()


def test_the_trained_for_the_norm_switch_keeps_only_those_models(site: Path, browser: Any) -> None:
    page, errors = _page(browser, 1400)
    page.goto((site / "index.html").as_uri())
    everyone = _visible_models(page)
    page.check("#trained-only")
    trained = _visible_models(page)
    assert "adv-linf" in trained and "standard" not in trained and 0 < len(trained) < len(everyone)
    page.uncheck("#trained-only")
    assert _visible_models(page) == everyone
    assert errors == []
    page.close()
