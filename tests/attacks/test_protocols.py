"""The authors' protocol attack: Boopathy et al.'s PGD exactly (no random start, sign steps of 0.01, projection after
each step, accuracy on the final iterate, every eps from the clean image) on their own 200 images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
from rib.attacks import ATTACKS, create_attack
from rib.engine import Sampling, plan_cell, select_sample
from rib.ensemble import robustness_cells
from rib.grid import Cell
from rib.stats import sample_indices
from torch import nn

from tests.helpers import make_card


def _authors_pgd(w: np.ndarray, b: np.ndarray, x: np.ndarray, y: np.ndarray, eps: float, steps: int) -> np.ndarray:
    """Their eval.py's loop for a linear model, in numpy: x_adv += 0.01 * sign(grad of the CE), clipped to the eps
    box and to [0, 1]; returns whether each final iterate is classified correctly."""
    x_adv = x.copy()
    onehot = np.eye(w.shape[1])[y]
    for _ in range(steps):
        z = x_adv @ w + b
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        grad = (p - onehot) @ w.T  # d CE / d x for logits x @ w + b
        x_adv = np.clip(np.clip(x_adv + 0.01 * np.sign(grad), x - eps, x + eps), 0, 1)
    return (x_adv @ w + b).argmax(1) == y


class _Linear(nn.Module):
    def __init__(self, w: np.ndarray, b: np.ndarray) -> None:
        super().__init__()
        self.lin = nn.Linear(w.shape[0], w.shape[1])
        with torch.no_grad():
            self.lin.weight.copy_(torch.from_numpy(w.T))
            self.lin.bias.copy_(torch.from_numpy(b))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x.flatten(1))


def test_the_protocol_is_the_authors_pgd_on_a_hand_checkable_model() -> None:
    rng = np.random.RandomState(0)
    w, b = rng.randn(16, 3).astype(np.float32), rng.randn(3).astype(np.float32) * 0.1
    x = rng.rand(40, 16).astype(np.float32)
    y = (x @ w + b).argmax(1)  # every clean image correct
    model = _Linear(w, b)
    attack = create_attack("boopathy-pgd-linf", steps=30)
    result = attack(model, torch.from_numpy(x).view(40, 1, 4, 4), torch.from_numpy(y), [0.02, 0.05, 0.1])
    for e, eps in enumerate((0.02, 0.05, 0.1)):
        expected = _authors_pgd(w.astype(np.float64), b.astype(np.float64), x.astype(np.float64), y, eps, 30)
        assert result.robust[:, e].numpy().tolist() == expected.tolist(), eps
    assert result.robust[:, 0].sum() > result.robust[:, 2].sum()  # the attack does something


def test_the_protocol_declares_what_it_is() -> None:
    cls = ATTACKS.get("boopathy-pgd-linf")
    assert cls.kind == "protocol" and cls.sample == "boopathy2020" and cls.norm_name == "linf"
    assert cls.default_params() == {"steps": 200, "step_size": 0.01}


def test_the_authors_images_are_numpy_seed_99s_permutation() -> None:
    y = torch.zeros(10000, dtype=torch.long)
    np.random.seed(99)
    expected = np.random.permutation(10000)[:200]
    assert sample_indices(y, 200, "boopathy2020").tolist() == expected.tolist()
    assert sample_indices(y, 100, "boopathy2020").tolist() == expected[:100].tolist()  # nested


def test_cells_on_the_authors_images_stay_apart(tmp_path: Path) -> None:
    card = make_card(tmp_path / "models")
    protocol = plan_cell(card, "boopathy-pgd-linf", (0.1,), Sampling(n=20), models_dir=tmp_path / "models")
    own = plan_cell(card, "pgd-linf", (0.1,), Sampling(n=20), models_dir=tmp_path / "models")
    same_images = plan_cell(card, "pgd-linf", (0.1,), Sampling(n=20, sample="boopathy2020"),
                            models_dir=tmp_path / "models")
    assert protocol.sample == same_images.sample == "boopathy2020" and own.sample == ""
    assert len({own.cell_id, same_images.cell_id}) == 2
    assert own.cell_id == Cell(model=card.id, dataset="mnist", attack="pgd-linf", eps=(0.1,), n=20,
                               weights_sha256=card.weights_sha256).cell_id  # ids of rib's own sample unchanged
    assert select_sample([protocol, own, same_images], "boopathy2020") == [protocol, same_images]
    assert select_sample([protocol, own, same_images], "rib") == [own]
    rows = pd.DataFrame([{"cell_id": "a", "model": "m", "attack": "pgd-linf", "norm": "linf",
                          "metric": "robust_accuracy", "params": '{"sample": "boopathy2020"}'},
                         {"cell_id": "b", "model": "m", "attack": "pgd-linf", "norm": "linf",
                          "metric": "robust_accuracy", "params": "{}"}])
    assert robustness_cells(rows)["cell_id"].tolist() == ["b"]  # a worst case never mixes image sets
    assert robustness_cells(rows, "boopathy2020")["cell_id"].tolist() == ["a"]
