"""Metric cells: planned with `--metrics` or a grid's metric groups, stored with per-example values, resumable."""

import json
import math
from pathlib import Path

import pytest
import torch
from rib.claims import claims_table, evaluate_claims, reproduction_rows, reproduction_table, write_claims
from rib.engine import RunOptions, Sampling, plan_grid, plan_run, run_cells
from rib.errors import ConfigError, UnknownNameError
from rib.metric_cells import is_metric_cell, metric_names
from rib.store import ResultStore, load_results

from tests.helpers import make_card, trained_tiny_state

GRID = """
[datasets.mnist]
models = "tiny-*"
n = 30
seed = 0
batch_size = 30
headline = { linf = 0.02, l2 = 1.0 }
eps = { linf = [0.02], l2 = [1.0] }

[[datasets.mnist.metrics]]
sources = ["clean"]
names = ["alignment", "grad-norm"]

[[datasets.mnist.metrics]]
sources = ["pgd-linf"]
names = ["gini-saliency", "kendall-tau"]
n = 20
"""


@pytest.fixture(scope="module")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("zoo")
    make_card(folder, "tiny-std", state=trained_tiny_state())
    return folder


def test_metric_names_resolve_wildcards_and_reject_unknown_ones() -> None:
    assert metric_names("gini-*,alignment") == ["gini-ig", "gini-saliency", "alignment"]
    with pytest.raises(UnknownNameError, match="did you mean 'kendall-tau'"):
        metric_names("kendal-tau")
    with pytest.raises(ConfigError):
        metric_names(" , ")


def test_plan_run_adds_clean_and_adversarial_metric_cells(zoo: Path) -> None:
    cells = plan_run("tiny-std", "pgd-linf,fgsm-l2", metrics=["alignment", "kendall-tau"], models_dir=zoo,
                     sampling=Sampling(n=20))
    metric_cells = [c for c in cells if is_metric_cell(c)]
    assert [(c.attack, c.eps) for c in metric_cells] == [("clean", (0.0,)), ("pgd-linf", (0.3,)), ("fgsm-l2", (2.0,))]
    assert metric_cells[0].metrics == ("alignment",)  # pairwise metrics need adversarial inputs
    assert metric_cells[1].metrics == ("alignment", "kendall-tau")
    assert all(c.kind == "metrics" and not c.params for c in metric_cells)
    with pytest.raises(ConfigError, match="pairwise metrics need an attack's adversarial inputs"):
        plan_run("tiny-std", "pgd-linf", metrics=["kendall-tau"], models_dir=zoo)
    with pytest.raises(ConfigError, match="cannot be a metric source"):
        plan_run("tiny-std", "transfer-pgd-linf", metrics=["alignment"], models_dir=zoo)


def test_metric_cells_store_means_and_per_example_values_and_resume(zoo: Path, tmp_path: Path) -> None:
    grid = tmp_path / "g.toml"
    grid.write_text(GRID)
    cells = plan_grid(str(grid), models_dir=zoo)
    assert [c.n for c in cells] == [30, 20]
    store = ResultStore(tmp_path / "res")
    first = run_cells(cells, store, options=RunOptions(models_dir=zoo))
    df = load_results(tmp_path / "res")
    own = {"alignment", "alignment-normalized", "grad-norm", "gini-saliency", "kendall-tau"}
    assert set(df["metric"]) == own | {f"{o}:{b}" for o in own for b in ("random", "randomized")} - {
        "grad-norm:random"} | {"gini-saliency:input"}
    assert set(df[df.attack == "clean"]["norm"]) == {"none"}
    adv = df[df.attack == "pgd-linf"]
    assert set(adv["eps"]) == {0.02} and set(adv["norm"]) == {"linf"}
    values = store.values(dataset="mnist").to_pandas()
    assert len(values[values.metric == "grad-norm"]) == 30
    for metric in ("grad-norm", "kendall-tau"):
        stored = df[df.metric == metric].iloc[0]
        v = torch.tensor(values[values.metric == metric]["value"].to_numpy())
        finite = v[torch.isfinite(v)]
        assert stored["n"] == len(finite)
        assert stored["value"] == pytest.approx(float(finite.mean()))
        assert stored["ci_low"] < stored["value"] < stored["ci_high"]
    assert store.examples(dataset="mnist").num_rows == 0  # metric cells have values, not attack outcomes
    again = run_cells(cells, store, options=RunOptions(models_dir=zoo))
    assert all(o.skipped for o in again)
    assert [o.rows for o in again] == [o.rows for o in first]


def test_metric_rows_say_what_computed_them_and_what_was_left_out(zoo: Path, tmp_path: Path) -> None:
    import json

    from rib.metric_cells import metrics_revision

    store = ResultStore(tmp_path / "res")
    cells = plan_run("tiny-std", "pgd-linf", metrics=["gini-ig", "kendall-tau", "deletion", "mprt"], models_dir=zoo,
                     sampling=Sampling(n=20))
    metric_cells = [c for c in cells if is_metric_cell(c)]
    assert all(c.revision == metrics_revision(c.metrics) for c in metric_cells)
    assert metric_cells[0].revision == 2  # gini-ig was revised once (deletion and mprt are new): the id moved
    run_cells(metric_cells, store, options=RunOptions(models_dir=zoo))
    df = load_results(tmp_path / "res")
    clean = df[df.attack == "clean"]
    for metric in ("deletion-ig", "deletion-ig:random", "deletion-ig:randomized", "mprt-saliency",
                   "mprt-saliency:random", "gini-ig:input"):
        assert len(clean[clean.metric == metric]) == 1, metric
    assert "kendall-tau" not in set(clean.metric) and len(df[df.metric == "kendall-tau:randomized"]) == 1
    row = df[(df.metric == "kendall-tau")].iloc[0]
    params = json.loads(row["params"])
    assert params["cam"] == "cam-head" and "scipy" in params["libraries"] and params["metric_revision"] == 2
    assert params["excluded"] + params["degenerate"] + row["n"] == 20
    assert json.loads(df[df.metric == "gini-ig:random"].iloc[0]["params"])["baseline"] == "random"
    values = store.values(dataset="mnist").to_pandas()
    tau = values[values.metric == "kendall-tau"]
    assert (tau["value"].isna() == tau["reason"].notna()).all()  # every NaN says why, every number has no reason


def test_a_mostly_degenerate_cell_stores_a_flag_instead_of_a_mean(tmp_path: Path) -> None:
    import json

    folder = tmp_path / "zoo"
    state = {k: torch.zeros_like(v) for k, v in trained_tiny_state().items()}  # a dead network: constant logits
    make_card(folder, "tiny-dead", state=state)
    store = ResultStore(tmp_path / "res")
    run_cells(plan_run("tiny-dead", "fgsm-linf", metrics=["grad-norm", "gini-saliency"], models_dir=folder,
                       sampling=Sampling(n=10))[1:2], store,
              options=RunOptions(models_dir=folder))
    df = load_results(tmp_path / "res")
    for metric in ("grad-norm", "gini-saliency"):
        row = df[df.metric == metric].iloc[0]
        params = json.loads(row["params"])
        assert math.isnan(row["value"]) and row["n"] == 0 and params["flag"] == "degenerate", metric
        assert params["degenerate"] == 10 and sum(params["reasons"].values()) == 10
    from rib.run_table import metrics_table

    printed = metrics_table(df.to_dict("records"))  # what `rib run` prints: the flag, not a number
    assert next(line for line in printed.splitlines() if " grad-norm " in line).split()[3] == "degenerate"


def test_claims_use_stored_numbers_and_say_when_data_is_missing(zoo: Path, tmp_path: Path) -> None:
    make_card(zoo, "standard", state=trained_tiny_state())
    make_card(zoo, "gradient-reg", state=trained_tiny_state(seed=1))
    store = ResultStore(tmp_path / "res")
    run_cells(plan_run("standard,gradient-reg", "fgsm-linf", models_dir=zoo, sampling=Sampling(n=40)), store,
              options=RunOptions(models_dir=zoo))
    rows = evaluate_claims(tmp_path / "res")
    by = {(r["claim"], r["source"]): r for r in rows}
    fgsm = by[("gradient-reg-fgsm", "rib")]
    evidence = json.loads(fgsm["evidence"])
    assert sorted(e["eps"] for e in evidence) == [0.1, 0.2, 0.3, 0.4]  # the paper's range, every eps judged
    df = load_results(tmp_path / "res")
    for e in evidence:
        hit = {m: df[(df.model == m) & (df.metric == "robust_accuracy") & (df.eps == e["eps"])].iloc[0]
               for m in ("gradient-reg", "standard")}
        assert e["left_value"] == round(hit["gradient-reg"]["value"], 6) and e["n"] == 40
        assert e["right_value"] == round(hit["standard"]["value"], 6)
        assert e["status"] in ("holds", "contradicted", "cannot tell", "both 0%")
        assert (e["p_holm"] is None) == (e["status"] == "both 0%")
        if e["p_holm"] is not None:
            assert e["p_holm"] >= e["p"]  # Holm never lowers a p-value
    assert by[("gini-adv-vs-standard", "rib")]["verdict"] == "no data"
    assert "judgements with data hold" in claims_table(rows)
    # the papers' own numbers come from a table of the paper, with the table named
    assert fgsm["paper_numbers"].startswith("0.1: 0.922 vs 0.727; 0.2: 0.652 vs 0.277")
    assert "white-box FGSM table" in fgsm["paper_numbers"]
    assert by[("gini-adv-vs-standard", "rib")]["paper_numbers"] == ""  # one notebook image is not a table
    [row] = [r for r in reproduction_rows(rows) if r[0] == "gradient-reg-fgsm"]
    assert row[1] == fgsm["paper_numbers"] and row[2] == row[3] == "-"  # no authors' networks for this claim
    assert row[4].startswith(fgsm["verdict"]) and fgsm["eps_range"] in row[4]
    assert "gradient-reg-fgsm" in reproduction_table(rows)
    path = write_claims(rows, tmp_path / "res", "mnist")
    assert path.is_file()
    assert len(load_results(tmp_path / "res")) == len(df)  # the claims table is not read as a cell


