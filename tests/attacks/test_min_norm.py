"""Minimum-norm attacks (foolbox): as strong as PGD, and a failed search is never counted as an adversarial."""

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from rib.attacks import create_attack
from rib.attacks.foolbox_attacks import FMNL2, CarliniWagnerL2
from rib.zoo import create_model
from torch import nn

from tests.helpers import make_card, trained_tiny_state

# The attacks that meet the rule on the zoo model `standard` at n=500; DeepFool (+8 points in L2, +10 in Linf)
# cannot, whatever its settings (issue 13), so it is not held to it here.
MIN_NORM = ["cw-l2", "fmn-linf", "fmn-l2"]
EPS = {"linf": [0.05, 0.1, 0.15], "l2": [0.5, 1.0, 1.5]}
TOLERANCE = 0.03  # issue 13: within 3 points of PGD-40's robust accuracy, or below it


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> nn.Module:
    folder: Path = tmp_path_factory.mktemp("zoo")
    make_card(folder, "tiny-std", state=trained_tiny_state())
    return create_model("tiny-std", models_dir=folder)


@pytest.fixture(scope="module")
def data() -> tuple[torch.Tensor, torch.Tensor]:
    from rib import load_dataset
    from rib.stats import stratified_indices

    x, y = load_dataset("mnist", "test")
    idx = stratified_indices(y, 100)
    return x[idx], y[idx]


@pytest.fixture(scope="module")
def pgd_accuracy() -> dict[str, list[float]]:
    """PGD-40's robust accuracy per norm on the module's images, filled once per norm."""
    return {}


@pytest.mark.parametrize("name", MIN_NORM)
def test_min_norm_attack_is_as_strong_as_pgd(name: str, model: nn.Module, data: tuple,
                                             pgd_accuracy: dict[str, list[float]]) -> None:
    x, y = data
    attack = create_attack(name)  # the defaults the grid runs
    eps = EPS[attack.norm_name]
    if attack.norm_name not in pgd_accuracy:
        pgd_accuracy[attack.norm_name] = create_attack(f"pgd-{attack.norm_name}")(model, x, y, eps).robust_accuracy()
    pgd = pgd_accuracy[attack.norm_name]
    assert pgd[0] > 0.1 and pgd[-1] < 0.9 * pgd[0], "the eps leave PGD something to win and to lose"
    ours = attack(model, x, y, eps).robust_accuracy()
    for e, (mine, reference) in enumerate(zip(ours, pgd, strict=True)):
        assert mine <= reference + TOLERANCE, f"{name} at eps {eps[e]}: robust {mine:.2f}, PGD {reference:.2f}"


def test_a_failed_cw_search_is_no_adversarial(model: nn.Module, data: tuple) -> None:
    """C&W's first step only evaluates the input: one step finds nothing, and foolbox's all-zero placeholder
    (which the model may well misclassify) is never counted."""
    x, y = data
    with torch.no_grad():
        zero_class = int(model(torch.zeros_like(x[:1])).argmax(1))
    result = create_attack("cw-l2", steps=1, binary_search_steps=1)(model, x, y, [1.0, 2.0])
    assert (result.clean_correct & (y != zero_class)).any(), "the zero image would have fooled some examples"
    assert torch.isinf(result.distance[result.clean_correct]).all()
    assert torch.equal(result.robust, result.clean_correct[:, None].expand(-1, 2))
    assert CarliniWagnerL2().failed(x, torch.zeros_like(x)).all()
    assert not CarliniWagnerL2().failed(x, x).any()


class _Fake:
    """Stands in for a foolbox attack: returns chosen points and success flags."""

    def __init__(self, points: Callable[[torch.Tensor], torch.Tensor], flag: bool) -> None:
        self.points, self.flag = points, flag

    def __call__(self, fmodel: object, x: torch.Tensor, y: torch.Tensor, *, epsilons: None) -> tuple:
        points = self.points(x)
        return points, points, torch.full((len(x),), self.flag)


def _pgd_points(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """Real adversarials (PGD at a large L2 eps), looked up by the attacked rows' content."""
    adv = create_attack("pgd-l2")(model, x, y, [6.0]).x_adv

    def points(xb: torch.Tensor) -> torch.Tensor:
        return adv[[int((x == row).flatten(1).all(1).nonzero()[0]) for row in xb]]

    return points


@pytest.mark.parametrize("case", ["zeros-unflagged", "adversarial-unflagged", "clean-flagged", "both"])
def test_found_needs_the_model_and_foolbox_to_agree(case: str, model: nn.Module, data: tuple,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    x, y = data
    adversarial = _pgd_points(model, x, y)
    fake = {"zeros-unflagged": _Fake(torch.zeros_like, False), "adversarial-unflagged": _Fake(adversarial, False),
            "clean-flagged": _Fake(torch.clone, True), "both": _Fake(adversarial, True)}[case]
    monkeypatch.setattr(FMNL2, "make", lambda self: fake)
    result = create_attack("fmn-l2")(model, x, y, [1.0, 6.0])
    correct = result.clean_correct
    if case != "both":
        assert torch.isinf(result.distance[correct]).all()
        assert torch.equal(result.robust, correct[:, None].expand(-1, 2))
        return
    with torch.no_grad():
        fooled = correct & (model(fake.points(x)).argmax(1) != y)
    assert fooled.sum() > correct.sum() // 2
    assert torch.isfinite(result.distance[fooled]).all() and torch.isinf(result.distance[correct & ~fooled]).all()
    assert torch.equal(result.robust[:, 1], correct & ~fooled)


class _FakeFMN:
    """Stands in for foolbox's FMN: from the input it lands ``from_input`` away from each row, from a start
    ``from_start`` away; rows whose offset is 0 count as not found."""

    def __init__(self, from_input: torch.Tensor, from_start: torch.Tensor, rows: torch.Tensor) -> None:
        self.from_input, self.from_start, self.rows = from_input, from_start, rows

    def __call__(self, fmodel: object, x: torch.Tensor, y: torch.Tensor, *, epsilons: None,
                 starting_points: object = None) -> tuple:
        which = torch.tensor([int((self.rows == r).flatten(1).all(1).nonzero()[0]) for r in x])
        offset = (self.from_input if starting_points is None else self.from_start)[which]
        points = x + offset.view(-1, 1, 1, 1)
        return points, points, offset > 0


def test_fmn_from_both_starts_keeps_the_nearer_adversarial() -> None:
    """With ``from_input``, each image PGD started keeps the nearer of FMN's two adversarials (one found beats
    none); an image PGD did not start runs from the input once."""
    from rib.attacks.foolbox_attacks import _AdversarialStart

    x = torch.rand(4, 1, 2, 2) * 0.5
    started = torch.tensor([True, True, True, False])
    pgd = lambda fmodel, xb, yb, *, epsilons: (xb, xb + 0.4, started)  # noqa: E731
    fmn = _FakeFMN(from_input=torch.tensor([0.1, 0.3, 0.0, 0.2]), from_start=torch.tensor([0.2, 0.15, 0.25, 9.0]),
                   rows=x)
    linf = lambda a, b: (a - b).flatten(1).abs().amax(1)  # noqa: E731
    raw, _, success = _AdversarialStart(fmn, pgd, 0.5, linf)(None, x, torch.zeros(4), epsilons=None)
    assert success.tolist() == [True, True, True, True]
    assert torch.allclose(linf(raw, x), torch.tensor([0.1, 0.15, 0.25, 0.2]))
    raw, _, _ = _AdversarialStart(fmn, pgd, 0.5)(None, x, torch.zeros(4), epsilons=None)  # the start only
    assert torch.allclose(linf(raw, x), torch.tensor([0.2, 0.15, 0.25, 0.2]))
