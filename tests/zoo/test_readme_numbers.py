"""The README's zoo table and docs/zoo.md's headline table say what the committed store and cards say: clean
accuracy from each card, the headline per norm from the stored cells (rib's worst case at ensemble strength), and
"not measured" only where no headline is stored. A number edited by hand, or a store regenerated without the
docs, fails here."""

import re
from pathlib import Path

import pytest
from rib.report.readme_tables import NOT_MEASURED, headline_text
from rib.report.tables import StoreView
from rib.zoo import find_card
from rib.zoo.recipes import recipes

REPO = Path(__file__).resolve().parents[2]


def _rows(path: Path, header: str) -> dict[str, list[str]]:
    """The table under ``header`` in ``path``, as model id → its cells."""
    text = path.read_text("utf-8")
    start = text.index(header)
    out = {}
    for line in text[start:].split("\n")[2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        out[cells[0].strip("`")] = cells[1:]
    return out


@pytest.fixture(scope="module")
def view() -> StoreView:
    return StoreView.load(REPO / "results")


@pytest.mark.parametrize(("dataset", "header"), [
    ("mnist", "| model | clean (10,000 images) | linf 0.3 | l2 2.0 | epochs | training |"),
    ("fashion-mnist", "| model | clean (10,000 images) | linf 0.1 | l2 1.0 | epochs | training |")])
def test_readme_zoo_table_matches_the_store_and_cards(view: StoreView, dataset: str, header: str) -> None:
    """Each dataset's zoo table lists every committed model of its zoo (MNIST's: every recipe)."""
    from rib.zoo import list_cards, zoo_dir

    rows = _rows(REPO / "README.md", header)
    committed = sorted(c.id for c in list_cards(dataset, [zoo_dir()]) if not c.from_release)
    assert sorted(rows) == committed and set(committed) <= set(recipes(dataset).names())
    if dataset == "mnist":
        assert committed == recipes("mnist").names()
    for model, (clean, linf, l2, epochs, training) in rows.items():
        card = find_card(model, dataset=dataset)
        assert clean == f"{100 * card.provenance['test_accuracy']:.2f}%", model
        assert int(epochs) == card.provenance["epochs"], model
        assert training == f"{card.provenance['wall_time_s']:,.0f} s", model
        assert (linf, l2) == (headline_text(view, dataset, model, "linf"),
                              headline_text(view, dataset, model, "l2")), model


def test_zoo_page_headline_table_matches_the_store(view: StoreView) -> None:
    rows = _rows(REPO / "docs" / "zoo.md", "| model | clean (10,000) | linf 0.3 | l2 2.0 | flags |")
    assert sorted(rows) == recipes("mnist").names()
    for model, (_, linf, l2, _) in rows.items():
        for cell, norm in ((linf, "linf"), (l2, "l2")):
            assert re.sub(r" \(clean [^)]*\)", "", cell) == headline_text(view, "mnist", model, norm), (model, norm)


AUTHORS_HEADER = ("| authors' network | clean (10,000 images) | the authors' protocol, linf 0.3 / 0.35 / 0.4 | "
                  "rib's worst case, same images, linf 0.3 / 0.35 / 0.4 | linf 0.3 on rib's sample |")


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def test_readme_authors_table_matches_the_cards_and_the_store(view: StoreView) -> None:
    """The authors' networks in the README: clean accuracy from each card (all 10,000 test images), what their
    protocol measures and rib's worst case on the same images from the stored cells, the headline from rib's
    sample where it is stored."""
    from rib.report.tables import protocol_comparison
    from rib.zoo import list_cards

    rows = _rows(REPO / "README.md", AUTHORS_HEADER)
    text = (REPO / "README.md").read_text("utf-8")
    listed = dict(re.findall(r"`(boopathy-[a-z0-9-]+)` ([0-9.]+%)", text[text.index("Listed, not in the grid"):]
                             .split("\n\n")[0]))
    release = {c.id: c for c in list_cards("mnist") if c.from_release}
    assert sorted([*rows, *listed]) == sorted(release)  # all 24: the gridded in the table, the rest listed
    for model, clean in listed.items():
        assert model.endswith(("-ig", "-igsum", "-intig", "-intigadv")), model
        assert clean == f"{100 * release[model].provenance['test_accuracy']:.2f}%", model
    for model, (clean, protocol, rib, headline_cell) in rows.items():
        assert clean == f"{100 * find_card(model).provenance['test_accuracy']:.2f}%", model
        by_eps = {r["eps"]: r for r in protocol_comparison(view, "mnist", model)}
        if model.endswith(("-ig", "-igsum", "-intig", "-intigadv")):  # listed, not in the grid
            assert not by_eps and protocol == rib == headline_cell == "not in the grid", model
            continue
        at = [by_eps.get(e) for e in (0.3, 0.35, 0.4)]
        assert protocol == (" / ".join(_pct(r["protocol"]) for r in at) if all(at) else NOT_MEASURED), model
        measured = all(at) and all(r["rib_n"] for r in at)  # type: ignore[index]
        # ≤: a worst case without an ensemble at that eps (an upper bound, a stronger attack could lower it)
        expected = " / ".join(("" if r["ensemble"] else "≤") + _pct(r["rib"]) for r in at) if measured else NOT_MEASURED  # type: ignore[index]
        assert rib == expected, model
        assert headline_cell == headline_text(view, "mnist", model, "linf"), model


def test_one_clean_accuracy_per_model_in_rib_ls_the_board_and_the_readme() -> None:
    """Every model's clean accuracy is the one on the whole test split: ``rib ls models``, the committed board's CSV
    (each norm) and the README's tables give the same number, to two decimals."""
    import csv
    import io

    from rib.lists import render

    ls = {}
    for line in render("models", dataset="mnist", wide=True).splitlines()[2:]:
        cells = re.split(r"\s{2,}", line.strip())
        found = [c for c in cells if re.fullmatch(r"\d+\.\d\d%", c)]
        if found:
            ls[cells[0]] = found[0].rstrip("%")
    readme = {m: cells[0].rstrip("%") for header in (
        "| model | clean (10,000 images) | linf 0.3 | l2 2.0 | epochs | training |", AUTHORS_HEADER)
        for m, cells in _rows(REPO / "README.md", header).items()}
    text = (REPO / "README.md").read_text("utf-8")
    readme.update({m: v.rstrip("%") for m, v in re.findall(r"`(boopathy-[a-z0-9-]+)` ([0-9.]+%)",
                                                          text[text.index("Listed, not in the grid"):])})
    assert readme and set(readme) <= set(ls)
    for model, value in readme.items():
        assert ls[model] == value, model
    for norm in ("linf", "l2"):
        board = list(csv.DictReader(io.StringIO((REPO / "reports" / "csv" / f"mnist-leaderboard-{norm}.csv")
                                                .read_text("utf-8"))))
        assert board
        for row in board:
            assert row["clean %"] == ls[row["model"]], (norm, row["model"])
