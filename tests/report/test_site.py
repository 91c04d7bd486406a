"""`rib report`: a static site from the store alone, reproducible to the byte, hostile text shown as text,
checked in a real browser (headless Chromium through playwright) when one is installed."""

import re
import shutil
from pathlib import Path

import pytest
from rib.engine import RunOptions, Sampling, plan_run, run_cells
from rib.report import render_site
from rib.report.site import GENERATED_PREFIX, slug
from rib.store import ResultStore

from tests.helpers import make_card, trained_tiny_state

CHROMIUM = Path("/usr/bin/chromium")
HOSTILE = '<img src=x onerror="alert(1)">'
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three tiny models attacked in both norms; one stored under a hostile name and defense."""
    root = tmp_path_factory.mktemp("site")
    zoo = root / "zoo"
    for i, name in enumerate(("tiny-a", "tiny-b")):
        make_card(zoo, name, state=trained_tiny_state(seed=i))
    results = ResultStore(root / "results")
    run_cells(plan_run("tiny-*", "fgsm-linf,pgd-l2", eps=[0.05, 0.1], models_dir=zoo, metrics=["alignment"],
                       sampling=Sampling(n=30)), results, options=RunOptions(models_dir=zoo))
    src = next(p for p in results.summary_files() if "tiny-a" in str(p) and p.name.startswith("fgsm-linf")
               and p.with_name(p.stem + ".examples.parquet").is_file())
    import pyarrow.parquet as pq

    rows = pq.read_table(src).to_pylist()
    examples = pq.read_table(src.with_name(src.stem + ".examples.parquet")).to_pydict()
    for r in rows:
        r.update(model=HOSTILE, defense="<script>alert(2)</script>", cell_id="f" * 64)
    examples["cell_id"] = ["f" * 64] * len(examples["cell_id"])
    results.write(rows, examples)
    return root


def _without_stamp(text: str) -> str:
    return re.sub(re.escape(GENERATED_PREFIX) + r"[^<\n]*", "", text)


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_results_give_the_same_site_but_for_one_line(store: Path, tmp_path: Path) -> None:
    a = render_site(store / "results", tmp_path / "a", models_dir=store / "zoo", generated_at="2026-01-01")
    b = render_site(store / "results", tmp_path / "b", models_dir=store / "zoo", generated_at="2026-02-02")
    ta, tb = _tree(a.parent), _tree(b.parent)
    assert ta.keys() == tb.keys()
    differing = [k for k in ta if ta[k] != tb[k]]
    assert differing and all(k.endswith(".html") for k in differing)
    for k in differing:
        assert _without_stamp(ta[k].decode()) == _without_stamp(tb[k].decode())
    assert {"index.html", "cross-norm.html", "scatter.html", "claims.html", "static/sort.js"} <= set(ta)
    assert any(k.startswith("csv/") and k.endswith("leaderboard-linf.csv") for k in ta)
    assert any(k.startswith("plots/") and k.endswith(".svg") for k in ta)


def test_hostile_text_is_shown_as_text(store: Path, tmp_path: Path) -> None:
    index = render_site(store / "results", tmp_path / "site", models_dir=store / "zoo")
    html = index.read_text()
    assert HOSTILE not in html and "<script>alert(2)" not in html
    assert "&lt;img src=x onerror=" in html and "&lt;script&gt;alert(2)&lt;/script&gt;" in html
    page = tmp_path / "site" / "models" / "mnist" / f"{slug(HOSTILE)}.html"
    assert page.is_file() and "/" not in slug(HOSTILE) and slug(HOSTILE) != slug(HOSTILE + " ")


def test_a_site_written_elsewhere_brings_the_attribution_pictures_it_links(store: Path, tmp_path: Path) -> None:
    pictures = tmp_path / "pictures" / "mnist"
    pictures.mkdir(parents=True)
    (pictures / "tiny-a.png").write_bytes(b"\x89PNG fake picture")
    out = tmp_path / "elsewhere"
    render_site(store / "results", out, models_dir=store / "zoo", pictures=tmp_path / "pictures")
    assert (out / "explain" / "mnist" / "tiny-a.png").read_bytes() == b"\x89PNG fake picture"
    assert "../../explain/mnist/tiny-a.png" in (out / "models" / "mnist" / "tiny-a.html").read_text()
    assert "explain/" not in (out / "models" / "mnist" / "tiny-b.html").read_text()  # none made: none linked
    bare = render_site(store / "results", tmp_path / "bare", models_dir=store / "zoo", pictures=tmp_path / "none")
    assert not (bare.parent / "explain").exists()


def test_the_committed_index_answers_with_a_verdict_table_per_norm() -> None:
    """The board's question answered on the committed site (re-rendered from the committed store by
    ``test_committed_reports_match_the_committed_results``): one verdict table per norm, with its CSV."""
    index = (REPO / "reports" / "index.html").read_text()
    assert "Do more robust models explain better?" in index and "Holm" in index
    for norm in ("linf", "l2"):
        csv = (REPO / "reports" / "csv" / f"mnist-verdict-{norm}.csv").read_text().splitlines()
        assert csv[0] == "population,metric,better,models,rho,interval,p,p (Holm),answer"
        assert any(line.startswith("all,gini-ig (clean),↑,") for line in csv[1:])
    # MNIST, the first registered dataset, leads the page; Fashion-MNIST follows it, not the alphabet
    assert index.index('id="mnist-leaderboard-linf"') < index.index('id="fashion-mnist-leaderboard-linf"')


def test_a_model_page_starts_with_its_summary(store: Path, tmp_path: Path) -> None:
    render_site(store / "results", tmp_path / "site", models_dir=store / "zoo")
    page = (tmp_path / "site" / "models" / "mnist" / "tiny-a.html").read_text()
    start = page.index('id="summary"')
    assert start < page.index('class="card"')  # before the card, the downloads and every table
    summary = page[start:page.index("</section>", start)]
    for norm in ("linf", "l2"):
        assert f"<strong>{norm}" in summary
    assert "rank " in summary and "flags: " in summary
    assert "not measured at ensemble strength" in summary  # no AutoAttack stored in this store: said so
    assert "flags on the authors' images" not in summary  # tiny-a has no cell on an authors' image set


def test_a_model_page_says_the_flags_fired_on_an_authors_image_set() -> None:
    """The committed authors' networks whose AutoAttack raised a flag on the authors' 200 images say so at the
    top of their page, though the board's flags (rib's own sample) have none."""
    page = (REPO / "reports" / "models" / "mnist" / "boopathy-smallgap-adv.html").read_text()
    summary = page[page.index('id="summary"'):]
    summary = summary[:summary.index("</section>")]
    assert "flags on the authors' images" in summary and "square_beats_gradient" in summary
    assert "boopathy2020" in summary


def test_empty_store_is_one_clear_error(tmp_path: Path) -> None:
    from rib.errors import RibError

    with pytest.raises(RibError, match="no results"):
        render_site(tmp_path / "none", tmp_path / "out")


def test_committed_reports_match_the_committed_results(tmp_path: Path) -> None:
    committed = REPO / "reports"
    if not (committed / "index.html").is_file():
        pytest.fail("reports/index.html is not committed: run `rib report`")
    out = tmp_path / "reports"
    if (committed / "explain").is_dir():
        shutil.copytree(committed / "explain", out / "explain")
    render_site(REPO / "results", out)
    mine = _tree(out)
    theirs = {k: v for k, v in _tree(committed).items() if not k.startswith("screenshots/")}  # tox -e browser's
    assert mine.keys() == theirs.keys()
    for k in mine:
        if mine[k] != theirs[k]:
            assert k.endswith(".html") and _without_stamp(mine[k].decode()) == _without_stamp(theirs[k].decode()), k


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (apt-get install -y chromium)")
def test_site_in_a_real_browser(store: Path, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    index = render_site(store / "results", tmp_path / "site", models_dir=store / "zoo")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        page = browser.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("dialog", lambda d: (errors.append(f"dialog: {d.message}"), d.dismiss()))
        page.goto(index.as_uri())
        for norm in ("linf", "l2"):
            assert page.locator(f"#mnist-leaderboard-{norm} tbody tr").count() == 3  # two models + the hostile one
        table = "#mnist-leaderboard-linf"

        def column(i: int) -> list[str]:
            return page.locator(f"{table} tbody tr td:nth-child({i})").all_inner_texts()

        before = column(2)
        page.locator(f"{table} thead th:nth-child(2)").click()
        ascending = column(2)
        assert ascending == sorted(before, key=str.lower) or ascending == sorted(before)
        page.locator(f"{table} thead th:nth-child(2)").click()
        assert column(2) == ascending[::-1]
        page.locator(f"{table} thead th:nth-child(1)").click()
        ranks = [int(r) for r in column(1)]  # back to the ranking: tied models (McNemar) share a rank
        assert ranks == sorted(ranks) and ranks[0] == 1 and len(ranks) == 3
        page.screenshot(path=str(tmp_path / "index.png"), full_page=True)
        page.locator(f"{table} a.model-link", has_text="tiny-a").click()
        page.wait_for_load_state()
        assert page.url.endswith("/models/mnist/tiny-a.html")
        assert page.locator("h2").first.inner_text().startswith("tiny-a")
        assert page.locator("img[src$='.svg']").count() == 2
        for extra in ("cross-norm.html", "scatter.html", "claims.html"):
            page.goto((index.parent / extra).as_uri())
        browser.close()
    assert errors == []
    assert (tmp_path / "index.png").stat().st_size > 10_000


def test_each_model_page_offers_its_card_and_weights_and_the_download_loads(store: Path, tmp_path: Path) -> None:
    import html
    import os
    import subprocess
    import sys

    from rib import create_model

    render_site(store / "results", tmp_path / "site", models_dir=store / "zoo")
    page = (tmp_path / "site" / "models" / "mnist" / "tiny-a.html").read_text()
    hrefs = re.findall(r'href="\.\./\.\./(downloads/[^"]+)" download', page)
    assert sorted(hrefs) == ["downloads/mnist/tiny-a/tiny-a.safetensors", "downloads/mnist/tiny-a/tiny-a.toml"]
    for h in hrefs:  # the committed files, byte for byte
        assert (tmp_path / "site" / h).read_bytes() == (store / "zoo" / "mnist" / Path(h).name).read_bytes()
    mine = tmp_path / "elsewhere"  # what a reader does: both files into my-models/mnist/, then the page's commands
    (mine / "my-models" / "mnist").mkdir(parents=True)
    for h in hrefs:
        shutil.copy(tmp_path / "site" / h, mine / "my-models" / "mnist")
    commands = html.unescape(re.search(r"<pre><code>(.*?)</code></pre>", page, re.S).group(1)).splitlines()
    assert commands[0].startswith("rib run --model tiny-a --models-dir my-models") and "create_model" in commands[1]
    env = {**os.environ, "RIB_MODELS_DIR": str(tmp_path / "no-zoo-here")}  # the reader's machine: not this zoo
    run = subprocess.run([sys.executable, "-m", "rib.cli", *commands[0].split()[1:], "--n", "20", "--eps", "0.1",
                          "--results", str(mine / "res"), "--quiet"], cwd=mine, env=env, capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    assert "tiny-a" in run.stdout
    cwd = Path.cwd()
    try:
        os.chdir(mine)
        model = create_model("tiny-a", "mnist", models_dir="my-models")  # sha256 checked on load
    finally:
        os.chdir(cwd)
    assert model.card is not None and model.card.id == "tiny-a"
