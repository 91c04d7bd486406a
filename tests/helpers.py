"""Helpers for tests: tiny model cards on disk and a briefly trained tiny network."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import torch
from rib import load_dataset
from rib.data import DEFAULT_DATASET, OFFLINE_DATASET
from rib.defenses import TrainContext, create_defense
from rib.defenses.loop import TrainConfig, fit
from rib.zoo import ModelCard, build_model, write_card
from rib.zoo.weights import save_weights


def make_card(folder: Path, model_id: str = "tiny-std", *, dataset: str = DEFAULT_DATASET, arch: str = "tiny",
              defense: str = "standard", seed: int = 0, state: dict[str, torch.Tensor] | None = None,
              trained_norm: str = "none", trained_eps: float = 0.0, trained_on: str | None = None) -> ModelCard:
    """Write a card and safetensors weights (fresh init, or ``state``) for a tiny model under ``folder/dataset``.

    Set up as the zoo is: evaluated on ``dataset`` (default mnist, MNIST's official test split) and, unless
    ``trained_on`` says otherwise, trained on mnist-5k for an mnist card (``trained_tiny_state``'s data), else on
    ``dataset`` itself.
    """
    if trained_on is None:
        trained_on = OFFLINE_DATASET if dataset == DEFAULT_DATASET else dataset
    torch.manual_seed(seed)
    model = build_model(arch, dataset)
    if state is not None:
        model.net.load_state_dict(state)
    out = folder / dataset
    out.mkdir(parents=True, exist_ok=True)
    sha = save_weights(model.weights_state(), out / f"{model_id}.safetensors")
    card = ModelCard(id=model_id, dataset=dataset, arch=arch, defense=defense,
                     mean=model.mean.flatten().tolist(), std=model.std.flatten().tolist(),
                     weights_file=f"{model_id}.safetensors", weights_sha256=sha,
                     trained_norm=trained_norm, trained_eps=trained_eps, trained_on=trained_on)
    write_card(card, out / f"{model_id}.toml")
    return card


@functools.lru_cache(maxsize=4)
def trained_tiny_state(seed: int = 0, epochs: int = 3) -> dict[str, torch.Tensor]:
    """Weights of the tiny test model after a few epochs of standard training on mnist-5k (seconds on a CPU)."""
    torch.manual_seed(seed)
    model = build_model("tiny", OFFLINE_DATASET)
    x, y = load_dataset(OFFLINE_DATASET, "train")
    ctx = TrainContext(OFFLINE_DATASET, torch.device("cpu"), torch.Generator().manual_seed(seed))
    fit(model, create_defense("standard"), x, y, TrainConfig(epochs=epochs, lr=1e-2, schedule="constant",
                                                               seed=seed), ctx)
    return {k: v.clone() for k, v in model.net.state_dict().items()}


def export_onnx(model: torch.nn.Module, path: Path, shape: tuple[int, ...] = (1, 28, 28)) -> str:
    """Export ``model`` (taking [0, 1] pixels) to ONNX with a free batch dimension; returns the file's sha256.

    The TorchScript exporter (``dynamo=False``) at opset 17: it works offline with torch 2.14 (the dynamo exporter
    needs onnxscript) and onnx2torch converts every operator it writes there.
    """
    import warnings

    from rib.files import sha256_file

    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():  # torch announces the TorchScript exporter's deprecation
        warnings.simplefilter("ignore")
        torch.onnx.export(model.eval(), (torch.rand(2, *shape),), str(path), dynamo=False, opset_version=17,
                          input_names=["pixels"], output_names=["logits"],
                          dynamic_axes={"pixels": {0: "n"}, "logits": {0: "n"}})
    return sha256_file(path)


def write_onnx_card(folder: Path, model_id: str, onnx_file: Path, *, dataset: str = DEFAULT_DATASET,
                    cam_layer: str = "", extra: str = "") -> Path:
    """Write the TOML card of an ONNX submission beside ``onnx_file`` (in ``folder``); ``extra`` (such as
    ``[[claims]]`` tables) is appended."""
    from rib.files import sha256_file

    card = folder / f"{model_id}.toml"
    cam = f'cam_layer = "{cam_layer}"\n' if cam_layer else ""
    card.write_text(f'id = "{model_id}"\ndataset = "{dataset}"\ntrained_on = "{OFFLINE_DATASET}"\n\n'
                    f'[arch]\nname = "onnx"\n{cam}\n[defense]\nname = "standard"\n\n'
                    f'[weights]\nfile = "{onnx_file.name}"\nsha256 = "{sha256_file(onnx_file)}"\n{extra}',
                    encoding="utf-8")
    return card


def write_cifar_folder(folder: Path, *, per_batch: int, n_test: int,
                       labels: Callable[[int], list[int]] | None = None, seed: int = 0) -> None:
    """Fabricated CIFAR-10 batch files in torchvision's layout (``cifar-10-batches-py``): five training batches of
    ``per_batch`` random images and a test batch of ``n_test``, labels ``i % 10`` unless ``labels`` says otherwise."""
    import pickle

    import numpy as np

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    for name, n in [(f"data_batch_{i}", per_batch) for i in range(1, 6)] + [("test_batch", n_test)]:
        batch = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                 b"labels": labels(n) if labels else [i % 10 for i in range(n)]}
        with (folder / name).open("wb") as fh:
            pickle.dump(batch, fh)


def assert_zoo_card_records_its_training(model_id: str, dataset: str) -> ModelCard:
    """Check that a committed zoo card records how its recipe trained it on all of ``dataset``'s training images and
    was evaluated on the official test split; returns the card."""
    from rib.zoo import find_card
    from rib.zoo.recipes import get_recipe

    card = find_card(model_id, dataset=dataset)
    recipe = get_recipe(model_id, dataset)
    prov = card.provenance
    assert (card.dataset, card.trained_on) == (dataset, dataset)
    assert (prov["test_split"], prov["n_train"], prov["n_test"]) == (f"{dataset} test", 60000, 10000)
    for key in ("rib_version", "git_sha", "torch_version", "device", "seed", "epochs", "wall_time_s",
                "train_accuracy", "test_accuracy"):
        assert key in prov, key
    assert prov["epochs"] == card.training["epochs"] == recipe.training["epochs"]
    assert card.defense == recipe.defense and card.arch == "cam-cnn"
    assert card.training["deviations"], "every zoo card records its deviations from the paper"
    return card
