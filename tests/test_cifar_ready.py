"""CIFAR-10 ready for users with the data and a GPU: the papers' crop-and-flip augmentation in the shared training
loop, a recipe stating every defense's CIFAR-10 setting, the grid section as complete as MNIST's at the papers' eps,
and one training epoch, an attack cell and a metric cell end to end on fabricated files in CIFAR-10's format."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from rib.defenses.loop import TrainConfig, crop_flip
from rib.engine import RunOptions, Sampling, plan_grid, plan_run, run_cells
from rib.errors import ConfigError
from rib.store import ResultStore, load_results
from rib.training import TrainOptions, train_model
from rib.zoo.recipes import recipes

from tests.helpers import write_cifar_folder


def test_crop_flip_moves_images_and_their_maps_together() -> None:
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).view(2, 3, 8, 8)
    maps = {"target": x.clone() * 2, "other": torch.zeros(2, 5)}
    gen = torch.Generator().manual_seed(0)
    out, moved = crop_flip(x, 2, gen, maps)
    assert out.shape == x.shape and moved["other"] is maps["other"]
    torch.testing.assert_close(moved["target"], out * 2)  # the same crop and flip on the per-image map
    assert not torch.equal(out, x)
    # without padding a crop is the image itself, flipped or not
    same, _ = crop_flip(x, 0, torch.Generator().manual_seed(3))
    for i in range(2):
        assert torch.equal(same[i], x[i]) or torch.equal(same[i], x[i].flip(-1))
    with pytest.raises(ConfigError, match="unknown augmentation 'mixup'"):
        TrainConfig(augment="mixup")
    assert "augment" not in TrainConfig().to_dict()  # cards and checkpoints of runs without it are unchanged


def test_the_cifar10_recipe_states_the_papers_settings() -> None:
    r = recipes("cifar10")
    assert r.get("standard").training["augment"] == "crop-flip"
    assert r.get("proper-int").params["eps"] == pytest.approx(8 / 255)
    assert r.get("proper-int").params["step_size"] == pytest.approx(2 / 255) and r.get("proper-int").params[
        "steps"] == 10
    assert (r.get("ir").params["lambda_cs"], r.get("ir").params["lambda_gm"]) == (0.75, 0.005)


def test_cifar10_end_to_end_on_fabricated_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RIB_DATA_DIR", str(tmp_path / "data"))
    write_cifar_folder(tmp_path / "data" / "cifar-10-batches-py", per_batch=4, n_test=20)
    zoo = tmp_path / "zoo"
    card = train_model("standard", "cifar10", TrainOptions(out_dir=zoo, epochs=1, device="cpu", progress=False))
    assert card.training["augment"] == "crop-flip" and card.provenance["epochs"] == 1
    cells = plan_run("standard", "pgd-linf", "cifar10", eps=[8 / 255], models_dir=zoo, metrics=["alignment"],
                     sampling=Sampling(n=8))
    run_cells(cells, ResultStore(tmp_path / "results"), options=RunOptions(device="cpu", models_dir=zoo))
    df = load_results(tmp_path / "results")
    robust = df[(df.attack == "pgd-linf") & (df.metric == "robust_accuracy")]
    assert len(robust) == 1 and robust.iloc[0]["n"] == 8 and robust.iloc[0]["dataset"] == "cifar10"
    assert {"alignment"} <= set(df.metric)
    # the standardized grid plans every group on it: cheap attacks, minimum-norm, the ensemble sweep, metrics
    grid = plan_grid("default", "cifar10", models_dir=zoo)
    kinds = {(c.kind, c.attack) for c in grid}
    for attack in ("fgsm-linf", "transfer-pgd-l2", "fmn-linf", "apgd-linf", "autoattack-linf"):
        assert ("attack", attack) in kinds, attack
    assert ("metrics", "topk-cam-linf") in kinds and ("metrics", "clean") in kinds
    pgd = next(c for c in grid if c.attack == "pgd-linf" and c.kind == "attack")
    assert any(abs(e - 9 / 255) < 1e-9 for e in pgd.eps)  # Boopathy et al.'s 9/255
