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
    page.fill("#filter", "ADV")  # case does not matter
    narrowed = _visible_models(page)
    assert 0 < len(narrowed) < len(everyone) and all("adv" in m for m in narrowed)
    assert page.locator("#filter-count").inner_text().startswith(f"{2 * len(narrowed)} of {2 * len(everyone)}")
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
    return page.locator(f"{BOARD} tbody tr td:nth-child({index})").all_inner_texts()


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
    clean.click()
    up = [float(v) for v in _column(page, "clean %")]
    clean.click()
    down = [float(v) for v in _column(page, "clean %")]
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
