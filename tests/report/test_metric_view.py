"""The report's interpretability parts: a degenerate flag instead of a value, baselines beside each metric, and CAM
kinds never ranked or plotted together; the scatter page plots the faithfulness metric against robustness."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from rib.report.board import _key_cell
from rib.report.metric_view import by_cam_kind, key_metric, metric_baselines
from rib.report.site import _scatter_pages, _Site
from rib.report.tables import StoreView


def _row(model: str, metric: str, value: float, attack: str = "clean", **params: object) -> dict:
    return {"model": model, "dataset": "mnist", "metric": metric, "attack": attack, "eps": 0.0, "value": value,
            "n": 20, "created_at": "2026-01-01", "params": json.dumps(params)}


def _frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows)


def test_a_degenerate_cell_shows_a_flag_and_grad_cam_sorts_apart() -> None:
    rows = _frame([
        _row("dead", "grad-norm", float("nan"), flag="degenerate", degenerate=18,
             reasons={"degenerate: zero gradient": 18}),
        _row("ok", "grad-norm", 0.5, degenerate=1, reasons={"degenerate: CE saturated": 1}),
        _row("onnx", "kendall-tau", 0.41, attack="topk-cam-linf", cam="grad-cam"),
        _row("cam", "kendall-tau", 0.53, attack="topk-cam-linf", cam="cam-head"),
    ])
    dead = key_metric(rows, "dead", "grad-norm", "clean")
    assert dead.flagged and dead.text == "degenerate" and "18 examples degenerate" in dead.title
    cell = _key_cell(dead, "models/mnist/dead.html")  # the board: a flag badge, linked to the model's metrics
    assert not cell.num and cell.badges[0].kind == "flag" and cell.badges[0].href == "models/mnist/dead.html#metrics"
    ok = key_metric(rows, "ok", "grad-norm", "clean")
    assert (ok.text, ok.flagged) == ("0.500", False) and "CE saturated: 1" in ok.title
    onnx, cam = key_metric(rows, "onnx", "kendall-tau", "topk-cam-linf"), key_metric(rows, "cam", "kendall-tau",
                                                                                    "topk-cam-linf")
    assert onnx.sort.startswith("grad-cam") and not cam.sort  # text keys sort after every number: never interleaved
    assert key_metric(rows, "missing", "grad-norm", "clean").text == ""
    assert set(by_cam_kind(rows[rows.metric == "kendall-tau"])) == {"grad-cam", "cam-head"}


def test_each_metric_is_shown_against_its_baselines() -> None:
    rows = _frame([_row("m", "gini-ig", 0.92), _row("m", "gini-ig:random", 0.41, baseline="random"),
                   _row("m", "gini-ig:randomized", 0.88, baseline="randomized"),
                   _row("m", "gini-ig:input", 0.90, baseline="input"),
                   _row("m", "grad-norm", float("nan"), flag="degenerate", degenerate=20),
                   _row("m", "grad-norm:randomized", 0.01)])
    headers, table = metric_baselines(rows, "m")
    assert headers[:6] == ["inputs", "metric", "value", "random attribution", "randomized model", "the input itself"]
    by = {r[1]: r for r in table}
    assert by["gini-ig"][2:6] == ["0.9200", "0.4100", "0.8800", "0.9000"]
    assert by["grad-norm"][2:5] == ["degenerate", "", "0.0100"] and by["grad-norm"][7] == 20


def test_the_scatter_page_plots_faithfulness_against_robustness(tmp_path: Path) -> None:
    models = ("a", "b", "c")
    rows = [_row(m, "deletion-ig", 0.1 * (i + 1)) for i, m in enumerate(models)]
    rows += [_row(m, "kendall-tau", 0.5, attack="topk-cam-linf", cam="cam-head" if m != "c" else "grad-cam")
             for m in models]
    view = StoreView(_frame(rows), pd.DataFrame(), {})
    best = pd.DataFrame({"model": list(models), "norm": "linf", "eps": 0.3, "ensemble": True,
                         "value": [0.9, 0.5, 0.1]})
    plots = _scatter_pages(_Site(tmp_path, view, tmp_path, None, tmp_path, "default"), view, "mnist", best, "linf", 0.3)
    titles = [p["title"] for p in plots]
    assert any(t.startswith("deletion-ig (clean)") for t in titles)
    deletion = next(p for p in plots if p["title"].startswith("deletion-ig"))
    assert deletion["n"] == 3 and deletion["rho"] == -1.0  # the fixture's order: more faithful, more robust
    kendall = [p for p in plots if p["title"].startswith("kendall-tau")]
    assert [p["n"] for p in kendall] == [2] and "cam-head models" in kendall[0]["title"]  # one Grad-CAM model: no plot


def test_a_value_within_a_baselines_interval_is_marked_and_carries_its_interval_and_n() -> None:
    rows = _frame([_row("m", "gini-ig", 0.907), _row("m", "gini-ig:random", 0.41, baseline="random"),
                   _row("m", "gini-ig:randomized", 0.904, baseline="randomized")])
    rows["ci_low"], rows["ci_high"] = rows["value"] - 0.004, rows["value"] + 0.004
    cell = key_metric(rows, "m", "gini-ig", "clean")
    assert cell.text == "0.907 ≈" and cell.sort == "0.907"
    assert "[0.903, 0.911]" in cell.title and "n = 20" in cell.title
    assert "randomized model" in cell.title and "random attribution" not in cell.title
    _, table = metric_baselines(rows, "m")
    assert table[0][-3:] == ["[0.9030, 0.9110]", "↑", "≈ randomized model"]
    rows.loc[rows["metric"] == "gini-ig:randomized", ["ci_low", "ci_high"]] = [0.5, 0.6]
    assert key_metric(rows, "m", "gini-ig", "clean").text == "0.907"
    assert metric_baselines(rows, "m")[1][0][-1] == "distinct"
