"""RobustBench interoperability: its zoo as rib models (offline, from a checkpoint in its layout) and the export of
rib's results as RobustBench model_info JSON."""

import importlib.util
import json
from pathlib import Path

import pytest
import torch

from tests.helpers import write_cifar_folder

if importlib.util.find_spec("robustbench") is None:  # the test extra installs it; a plain install may not
    pytest.skip("the robustbench extra is not installed", allow_module_level=True)

NAME = "Wong2020Fast"  # a PreAct ResNet-18: the smallest CIFAR-10 Linf model of RobustBench's zoo


def _write_cifar(folder: Path) -> None:
    write_cifar_folder(folder, per_batch=2, n_test=20)


def test_a_robustbench_checkpoint_runs_as_a_rib_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rib.engine import Sampling, plan_run, run_cells
    from rib.store import ResultStore, load_results
    from rib.zoo import create_model
    from rib.zoo.robustbench_models import _robustbench

    monkeypatch.setenv("RIB_ROBUSTBENCH_DIR", str(tmp_path / "rb"))
    monkeypatch.setenv("RIB_DATA_DIR", str(tmp_path / "data"))
    _write_cifar(tmp_path / "data" / "cifar-10-batches-py")
    _, model_dicts = _robustbench()
    from robustbench.model_zoo.enums import BenchmarkDataset, ThreatModel

    torch.manual_seed(0)
    net = model_dicts[BenchmarkDataset.cifar_10][ThreatModel.Linf][NAME]["model"]()
    ckpt = tmp_path / "rb" / "cifar10" / "Linf" / f"{NAME}.pt"
    ckpt.parent.mkdir(parents=True)
    torch.save({"state_dict": net.state_dict()}, ckpt)  # RobustBench's layout: nothing is downloaded

    model = create_model(f"robustbench:{NAME}", "cifar10")
    x = torch.rand(2, 3, 32, 32)
    assert torch.allclose(model(x), net.eval()(x), atol=1e-5)
    assert model.card.trained_norm == "linf" and len(model.card.weights_sha256) == 64
    cells = plan_run(f"robustbench:{NAME}", "fgsm-linf", "cifar10", eps=[8 / 255], sampling=Sampling(n=10,
                                                                                                     batch_size=10))
    run_cells(cells, ResultStore(tmp_path / "results"))
    df = load_results(tmp_path / "results")
    assert set(df["model"]) == {f"robustbench:{NAME}"} and (df["n"] == 10).all()

    from rib.errors import UnknownNameError

    with pytest.raises(UnknownNameError, match="did you mean 'robustbench:Wong2020Fast'"):
        create_model("robustbench:Wong2020Fst", "cifar10")


def test_export_as_robustbench_model_info(tmp_path: Path) -> None:
    from rib.engine import RunOptions, Sampling, plan_run, run_cells
    from rib.report.robustbench_json import export_robustbench_json
    from rib.store import ResultStore

    from tests.helpers import make_card, trained_tiny_state

    zoo = tmp_path / "zoo"
    make_card(zoo, "tiny-std", state=trained_tiny_state())
    run_cells(plan_run("tiny-std", "autoattack-linf", eps=[0.1, 0.3], models_dir=zoo, sampling=Sampling(n=20)),
              ResultStore(tmp_path / "results"),
              options=RunOptions(models_dir=zoo))
    (path,) = export_robustbench_json(tmp_path / "results", tmp_path / "rb", models_dir=zoo)
    assert path == tmp_path / "rb" / "mnist" / "Linf" / "tiny-std.json"
    info = json.loads(path.read_text())
    assert {"link", "name", "authors", "additional_data", "number_forward_passes", "dataset", "venue",
            "architecture", "eps", "clean_acc", "reported", "autoattack_acc", "footnote", "unreliable"} == set(info)
    assert info["eps"] == "0.3" and info["architecture"] == "tiny"  # the headline eps's number, never 0.1's
    assert float(info["autoattack_acc"]) <= float(info["clean_acc"]) and "." in info["clean_acc"]
