"""``rib.evaluate``: any module of [0, 1] pixels through the runner's cells, with the numbers ``rib run`` stores for
the same weights; CAM metrics not applicable without a CAM; bad modules refused before anything is stored."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import rib
import rib.workflows.evaluate
import torch
from rib.engine import RunOptions, Sampling, plan_run
from rib.errors import ConfigError, WeightsError
from rib.executors import execute
from rib.store import ResultStore
from rib.workflows.evaluate import module_card, state_sha256
from rib.zoo import build_model
from torch import nn

from tests.helpers import make_card, trained_tiny_state

KEY = ["attack", "metric", "eps", "n"]


def _tiny() -> nn.Module:
    model = build_model("tiny", "mnist-5k")
    model.net.load_state_dict(trained_tiny_state())
    return model.eval()


def test_evaluate_gives_the_numbers_rib_run_stores_for_the_same_weights(tmp_path: Path) -> None:
    assert rib.evaluate is rib.workflows.evaluate.evaluate and "evaluate" in rib.__all__
    results = tmp_path / "results"
    got = rib.evaluate(_tiny(), "mnist", attacks="fgsm-linf,pgd-l2", metrics=["alignment", "kendall-tau"], n=20,
                       results=results, name="mine")
    # the same weights as a zoo card, planned and run by `rib run`'s own functions
    zoo = tmp_path / "models"
    make_card(zoo, "tiny-zoo", state=trained_tiny_state())
    cells = plan_run("tiny-zoo", "fgsm-linf,pgd-l2", "mnist", models_dir=zoo, metrics=["alignment", "kendall-tau"],
                     sampling=Sampling(n=20))
    outcomes = execute(cells, ResultStore(tmp_path / "zoo-results"), options=RunOptions(device="cpu", models_dir=zoo))
    want = pd.DataFrame([r for o in outcomes for r in o.rows])
    admission = got[got["attack"] == "admission"]  # the module is an outside model: its admission checks lead
    assert len(admission) == 6 and (admission["value"] == 0.0).all() and admission.index.tolist() == list(range(6))
    cells = got[got["attack"] != "admission"]
    merged = cells.merge(want, on=KEY, suffixes=("", "_run"))
    assert len(merged) == len(cells) == len(want) > 10
    assert ((merged["value"] == merged["value_run"]) | (merged["value"].isna() & merged["value_run"].isna())).all()
    assert set(got["model"]) == {"mine"} and set(got["weights_sha256"]) == {state_sha256(_tiny())}
    assert (got["not_applicable"] == "").all()  # the tiny net has a CAM head: kendall-tau is measured
    assert len(got[got["metric"] == "kendall-tau"]) >= 2  # measured on each attack's inputs (n: what the filters kept)
    stored = ResultStore(results).scan().to_pandas()
    assert sorted(stored["cell_id"].unique()) == sorted(got["cell_id"].unique())
    again = rib.evaluate(_tiny(), "mnist", attacks="fgsm-linf,pgd-l2", metrics=["alignment", "kendall-tau"],
                         n=20, results=results, name="mine")  # read back from the store
    assert again["run_id"].tolist() == got["run_id"].tolist()


class Plain(nn.Module):
    """A module without a CAM head: conv features → mean → linear."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.act = nn.ReLU()
        self.fc = nn.Linear(4, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.act(self.conv(x)).mean(dim=(2, 3)))


def test_cam_metrics_are_not_applicable_without_a_cam_and_measured_with_grad_cam() -> None:
    torch.manual_seed(0)
    plain = Plain()
    df = rib.evaluate(plain, "mnist-5k", attacks="pgd-linf,topk-cam-linf", metrics="alignment,kendall-tau", n=8,
                      eps=[0.1])
    na = df[df["not_applicable"] != ""]
    base = na["metric"].str.split(":").str[0]  # a metric's baselines (``alignment:random``) share its reason
    assert set(zip(na["attack"], base, strict=True)) == {
        ("topk-cam-linf", "robust_accuracy"), ("pgd-linf", "kendall-tau"), ("topk-cam-linf", "alignment"),
        ("topk-cam-linf", "alignment-normalized"), ("topk-cam-linf", "kendall-tau")}
    assert na["value"].isna().all() and (na["n"] == 0).all()
    assert na["not_applicable"].str.contains("the model has no CAM").all()
    measured = df[df["not_applicable"] == ""]
    assert measured["value"].notna().all() and {"clean_accuracy", "robust_accuracy", "alignment"} <= set(
        measured["metric"])
    with_cam = rib.evaluate(plain, "mnist-5k", attacks="topk-cam-linf", metrics="alignment,kendall-tau", n=8,
                            eps=[0.1], cam_layer="act")
    assert (with_cam["not_applicable"] == "").all()
    assert with_cam[with_cam["metric"] == "robust_accuracy"]["n"].iloc[0] == 8
    assert module_card(plain, "mnist-5k").outside


class Broken(nn.Module):
    def __init__(self, out: int = 10, detach: bool = False) -> None:
        super().__init__()
        self.fc = nn.Linear(784, out)
        self.detach = detach

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.fc(x.flatten(1))
        return z.detach() if self.detach else z


def test_bad_modules_and_arguments_are_refused_before_anything_is_stored(tmp_path: Path) -> None:
    results = tmp_path / "results"
    with pytest.raises(WeightsError, match=r"returns \[2, 5\], rib needs \[N, classes\] = \[2, 10\]"):
        rib.evaluate(Broken(5), "mnist-5k", n=4, results=results)
    with pytest.raises(WeightsError, match="no gradient with respect to the input"):
        rib.evaluate(Broken(detach=True), "mnist-5k", n=4, results=results)
    with pytest.raises(ConfigError, match="give either grid or those"):
        rib.evaluate(Broken(), "mnist-5k", n=4, grid="default", results=results)
    with pytest.raises(ConfigError, match="cam layer 'nope' is not a module"):
        rib.evaluate(Broken(), "mnist-5k", n=4, cam_layer="nope", results=results)
    assert not results.exists()


def test_eps_is_given_per_norm_and_a_linf_eps_beyond_the_image_space_is_refused() -> None:
    from rib.engine import eps_per_norm

    assert eps_per_norm({"linf": [0.3], "l2": [2.0]}, ["l2", "linf"], "mnist") == {"l2": (2.0,), "linf": (0.3,)}
    assert eps_per_norm({"l2": [2.0]}, ["linf"], "mnist") == {"linf": (0.1, 0.2, 0.3, 0.4)}  # the dataset's
    with pytest.raises(ConfigError, match=r"linf eps 2 outside \[0, 1\].*give eps per norm"):
        eps_per_norm([0.3, 2.0], ["linf", "l2"], "mnist")
    with pytest.raises(ConfigError, match="l2 eps 40 outside"):
        eps_per_norm({"l2": [40.0]}, ["l2"], "mnist")  # beyond sqrt(784) = 28
    with pytest.raises(ConfigError, match="unknown norm l1"):
        eps_per_norm({"l1": [1.0]}, ["linf"], "mnist")
    with pytest.raises(ConfigError, match="linf eps 2"):
        rib.evaluate(_tiny(), "mnist", attacks="pgd-linf,pgd-l2", eps=[0.3, 2.0], n=10)


def test_card_fields_reach_the_stored_rows(tmp_path: Path) -> None:
    got = rib.evaluate(_tiny(), "mnist", attacks="fgsm-linf", eps={"linf": [0.1]}, n=10, results=tmp_path,
                       name="mine", defense="adv-linf", trained_on="mnist-5k", paper="Me et al. 2026",
                       threat_model=("linf", 0.3), progress=False)
    rows = got[got["attack"] == "fgsm-linf"]
    assert set(rows["defense"]) == {"adv-linf"} and set(rows["trained_norm"]) == {"linf"}
    assert set(rows["trained_eps"]) == {0.3} and set(rows[rows["metric"] == "robust_accuracy"]["eps"]) == {0.1}
    card = module_card(_tiny(), "mnist", "x", defense="adv-linf", trained_on="mnist-5k", paper="Me et al. 2026")
    assert (card.defense, card.trained_on, card.paper) == ("adv-linf", "mnist-5k", "Me et al. 2026")
    with pytest.raises(ConfigError, match="unknown defense 'adv-lnf'; did you mean 'adv-linf'"):
        module_card(_tiny(), "mnist", defense="adv-lnf")


def test_metrics_on_an_attack_s_inputs_reuse_them_with_the_same_numbers(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from rib.attacks import gradient

    calls: list[int] = []
    attack_batch = gradient._PGD.attack_batch

    def counted(self, *args, **kw):  # type: ignore[no-untyped-def]
        calls.append(1)
        return attack_batch(self, *args, **kw)

    monkeypatch.setattr(gradient._PGD, "attack_batch", counted)
    kw = {"attacks": "pgd-linf", "eps": {"linf": [0.3]}, "metrics": ["alignment"], "n": 20, "name": "mine"}
    reused = rib.evaluate(_tiny(), "mnist", results=tmp_path / "a", **kw)
    with_reuse = len(calls)
    monkeypatch.setattr("rib.engine.evaluate.reused_inputs", lambda cells: set())  # reuse off
    calls.clear()
    again = rib.evaluate(_tiny(), "mnist", results=tmp_path / "b", **kw)
    assert len(calls) == with_reuse + 1  # without reuse the metric cell runs PGD (one batch of 20) once more
    on_adv = [frame[(frame["attack"] == "pgd-linf") & (frame["metric"] == "alignment")] for frame in (reused, again)]
    assert len(on_adv[0]) == 1 and on_adv[0]["value"].tolist() == on_adv[1]["value"].tolist()
