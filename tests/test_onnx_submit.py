"""End to end: a PyTorch model exported to ONNX is submitted (verified, added, its grid run, the site re-rendered)
and its stored numbers equal those of the same module evaluated through ``rib.evaluate`` (same cells, same seed)."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import rib
from rib.report.facts import format_count
from rib.store import ResultStore
from rib.verify import verify_card
from rib.workflows.submit import SubmitOptions, submit
from rib.zoo import build_model, read_card

from tests.helpers import export_onnx, trained_tiny_state, write_onnx_card

GRID = """
[datasets.mnist]
models = "*"
n = 30
seed = 0
batch_size = 500

[[datasets.mnist.attacks]]
names = ["pgd-linf", "fgsm-l2"]
eps = "headline"

[[datasets.mnist.metrics]]
sources = ["clean"]
names = ["alignment", "grad-norm"]
n = 20

[[datasets.mnist.metrics]]
sources = ["topk-cam-linf"]
names = ["kendall-tau"]
n = 20
"""
KEY = ["attack", "metric", "eps", "n"]


def test_an_onnx_submission_lands_with_the_numbers_of_the_same_module(tmp_path: Path) -> None:
    module = build_model("tiny", "mnist-5k")
    module.net.load_state_dict(trained_tiny_state())
    module.eval()
    sub = tmp_path / "sub"
    export_onnx(module, sub / "tiny-onnx.onnx")
    claim = '\n[[claims]]\nattack = "clean"\nmetric = "clean_accuracy"\nvalue = {}\nn = 100\n'
    card_path = write_onnx_card(sub, "tiny-onnx", sub / "tiny-onnx.onnx", dataset="mnist", extra=claim.format(0.5))
    measured = verify_card(read_card(card_path))[0].measured  # the card claims what rib measures
    write_onnx_card(sub, "tiny-onnx", sub / "tiny-onnx.onnx", dataset="mnist", extra=claim.format(round(measured, 4)))
    grid = tmp_path / "grid.toml"
    grid.write_text(GRID)
    models, results, reports = tmp_path / "models", tmp_path / "results", tmp_path / "reports"

    done = submit(sub, SubmitOptions(models_root=models, results=results, reports=reports, grid=str(grid),
                                     device="cpu"))

    assert done.card.outside and (models / "mnist" / "tiny-onnx.onnx").is_file()
    stored = ResultStore(results).scan().to_pandas()
    stored = stored[stored["model"] == "tiny-onnx"]
    direct = rib.evaluate(module, "mnist", grid=str(grid), device="cpu")
    # the module has a CAM head, its ONNX export names no cam_layer: the top-k CAM source differs by design
    na = stored[stored["attack"] == "topk-cam-linf"]  # not applicable, with the reason
    assert set(na["metric"]) == {"kendall-tau", "kendall-tau:random", "kendall-tau:randomized"}  # with baselines
    assert na["value"].isna().all() and na["params"].str.contains("the model has no CAM").all()
    assert direct[direct["attack"] == "topk-cam-linf"]["value"].notna().all()
    stored, direct = stored[stored["attack"] != "topk-cam-linf"], direct[direct["attack"] != "topk-cam-linf"]
    # a randomized-model baseline re-initializes the network's own layers: the converted graph's are other modules
    stored, direct = (d[~d["metric"].str.endswith(":randomized")] for d in (stored, direct))
    merged = stored.merge(direct, on=KEY, suffixes=("", "_direct"))
    assert len(merged) == len(stored) == len(direct) >= 8
    # accuracies (counts of examples) and flags are equal; continuous metrics up to float rounding: the converted
    # graph computes the same function in another order of float operations (MatMul for Linear, ReduceMean …)
    exact = merged["metric"].str.endswith("accuracy") | merged["metric"].str.startswith("flag:")
    assert (merged["value"] == merged["value_direct"])[exact].all(), merged[[*KEY, "value", "value_direct"]]
    close = ((merged["value"] - merged["value_direct"]).abs() <= 1e-5 * merged["value_direct"].abs())[~exact]
    assert exact.sum() >= 4 and close.all(), merged[[*KEY, "value", "value_direct"]]
    print("\n" + merged[[*KEY, "value", "value_direct"]].to_string())  # the closing note's numbers (pytest -s)

    with (reports / "csv" / "mnist-leaderboard-linf.csv").open() as fh:
        rows = {r["model"]: r for r in csv.DictReader(fh)}
    row = rows["tiny-onnx"]
    count = sum(p.numel() for p in module.net.parameters()) + 2  # + the exported normalization constants
    assert (row["architecture"], row["params"]) == ("onnx", format_count(count))
    assert row["trained on"] == "mnist-5k" and row["source"] == "outside" and row["verification"] == "clean-only"
    html = (reports / "models" / "mnist" / "tiny-onnx.html").read_text()
    assert "onnx" in html and "mnist-5k" in html and format_count(count) in html
    assert isinstance(direct, pd.DataFrame)
