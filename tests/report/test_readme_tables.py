"""The README's number tables regenerate from the store and the cards: a stale number is replaced, the text around
the tables is kept, and the committed README is current."""

from pathlib import Path

import pytest
from rib.report import readme_tables
from rib.report.tables import StoreView

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def view() -> StoreView:
    return StoreView.load(REPO / "results")


def test_committed_readme_is_current(view: StoreView) -> None:
    text = (REPO / "README.md").read_text("utf-8")
    assert readme_tables.zoo_header("mnist") in text and readme_tables.AUTHORS_HEADER in text
    assert readme_tables.render(text, view) == text


def test_a_stale_number_is_replaced_and_the_prose_kept(view: StoreView) -> None:
    fresh = readme_tables.zoo_table(view, "mnist")
    stale = [fresh[0], fresh[1], fresh[2].replace("| 12 |", "| 99 |"), "| `gone` | 1.00% | x | x | 1 | 1 s |"]
    text = "# intro\n\n" + "\n".join(stale) + "\n\nafter the table\n"
    out = readme_tables.render(text, view)
    assert out == "# intro\n\n" + "\n".join(fresh) + "\n\nafter the table\n"


def test_authors_table_lists_the_networks_outside_the_grid(view: StoreView) -> None:
    lines = readme_tables.authors_table(view)
    text = "before\n\n" + "\n".join(lines[:3]) + "\n\n" + readme_tables.LISTED_PREFIX + "`x` 1%.\n\nafter\n"
    out = readme_tables.render(text, view)
    assert out.startswith("before\n\n" + "\n".join(lines)) and out.endswith("\n\nafter\n")
    assert "`boopathy-pool-ig` " in lines[-1] and all("-ig`" not in line for line in lines[2:-2])


def test_check_exits_one_on_a_stale_readme(tmp_path: Path) -> None:
    text = (REPO / "README.md").read_text("utf-8")
    header = readme_tables.zoo_header("mnist")
    stale = tmp_path / "README.md"
    stale.write_text(text.replace(header + "\n|---|---|---|---|---|---|\n| `standard` | 99.24%",
                                  header + "\n|---|---|---|---|---|---|\n| `standard` | 12.34%"), "utf-8")
    assert readme_tables.main(["--readme", str(stale), "--results", str(REPO / "results"), "--check"]) == 1
    assert readme_tables.main(["--readme", str(stale), "--results", str(REPO / "results")]) == 0
    assert stale.read_text("utf-8") == text
