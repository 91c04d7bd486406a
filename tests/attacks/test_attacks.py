"""Every registered attack: admissible adversarials (inside the eps ball and [0, 1]) and consistent results."""

from pathlib import Path

import pytest
import torch
from rib.attacks import ATTACKS, PGDSettings, create_attack, pgd_perturb
from rib.attacks.base import FixedEpsAttack
from rib.errors import ConfigError
from rib.norms import NORMS
from rib.zoo import RobustModel, create_model, find_card, model_resolver

from tests.helpers import make_card, trained_tiny_state

FAST_PARAMS = {
    "pgd-linf": {"steps": 10}, "pgd-l2": {"steps": 10},
    "transfer-pgd-linf": {"steps": 5, "surrogate": "tiny-std"},
    "transfer-pgd-l2": {"steps": 5, "surrogate": "tiny-std"},
    "cw-l2": {"steps": 20, "binary_search_steps": 2}, "deepfool-linf": {"steps": 10}, "deepfool-l2": {"steps": 10},
    "fmn-linf": {"steps": 10}, "fmn-l2": {"steps": 10}, "square-linf": {"n_queries": 50},
    "square-l2": {"n_queries": 50}, "topk-cam-linf": {"steps": 10},
}
EPS = {"linf": [0.05, 0.1, 0.3], "l2": [0.5, 1.0, 2.0]}


@pytest.fixture(scope="module")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("zoo")
    make_card(folder, "tiny-std", state=trained_tiny_state())
    make_card(folder, "tiny-other", state=trained_tiny_state(seed=1))
    return folder


@pytest.fixture(scope="module")
def data() -> tuple[torch.Tensor, torch.Tensor]:
    from rib import load_dataset
    from rib.stats import stratified_indices

    x, y = load_dataset("mnist", "test")
    idx = stratified_indices(y, 24)
    return x[idx], y[idx]


@pytest.mark.parametrize("name", ATTACKS.names())
def test_every_attack_gives_admissible_adversarials(name: str, zoo: Path, data: tuple) -> None:
    x, y = data
    model = create_model("tiny-other", models_dir=zoo)
    attack = create_attack(name, **FAST_PARAMS.get(name, {}))
    attack.bind(model_resolver("mnist", zoo))  # a no-op unless the attack needs another model
    eps = EPS[attack.norm_name]
    result = attack(model, x, y, eps, seed=0, batch_size=16)
    norm = NORMS.get(attack.norm_name)
    assert result.x_adv.shape == x.shape
    assert result.x_adv.min() >= 0 and result.x_adv.max() <= 1
    assert (norm.distance(result.x_adv, x) <= eps[-1] * (1 + 1e-5) + 1e-6).all()
    assert result.clean_correct.sum() >= 5  # the tiny model is trained: there is something to attack
    assert result.robust.shape == (len(y), len(eps))
    assert not (result.robust & ~result.clean_correct[:, None]).any()
    # fooled examples stay fooled at larger eps
    assert (result.robust[:, 1:] <= result.robust[:, :-1]).all()
    with torch.no_grad():
        pred = model(result.x_adv).argmax(1)
    fooled_at_max = result.clean_correct & ~result.robust[:, -1]
    assert (pred[fooled_at_max] != y[fooled_at_max]).all(), "every counted success is a real misclassification"
    found = torch.isfinite(result.distance) & result.clean_correct
    assert (result.distance[found] <= eps[-1] * (1 + 1e-5) + 1e-6).all() or attack.minimum_norm


def test_pgd_matches_a_plain_loop_and_early_stopping_keeps_successes(zoo: Path, data: tuple) -> None:
    x, y = data
    model = create_model("tiny-other", models_dir=zoo)
    ours = create_attack("pgd-linf", steps=20)(model, x, y, [0.1], seed=0)
    plain = pgd_perturb(model, x, y, NORMS.get("linf"), 0.1, PGDSettings(20),
                        generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        plain_robust = (model(plain).argmax(1) == y).float().mean().item()
    assert abs(ours.robust_accuracy()[0] - plain_robust) <= 2 / len(y) + 1e-9


def test_restarts_take_the_worst_case(zoo: Path, data: tuple) -> None:
    x, y = data
    model = create_model("tiny-other", models_dir=zoo)
    one = create_attack("pgd-l2", steps=3, restarts=1)(model, x, y, [0.5, 1.0], seed=0)
    three = create_attack("pgd-l2", steps=3, restarts=3)(model, x, y, [0.5, 1.0], seed=0)
    assert (three.robust <= one.robust).all()


def test_minimum_norm_distances_define_robustness(zoo: Path, data: tuple) -> None:
    x, y = data
    model = create_model("tiny-other", models_dir=zoo)
    result = create_attack("fmn-l2", steps=10)(model, x, y, [0.5, 1.0, 2.0], seed=0)
    for e, eps in enumerate(result.eps):
        expected = result.clean_correct & (result.distance > eps)
        assert torch.equal(result.robust[:, e], expected)


def test_attack_input_validation(zoo: Path, data: tuple) -> None:
    x, y = data
    model = create_model("tiny-other", models_dir=zoo)
    attack = create_attack("fgsm-linf")
    with pytest.raises(ConfigError, match="ascending"):
        attack(model, x, y, [0.3, 0.1])
    with pytest.raises(ConfigError, match=r"\[0, 1\]"):
        attack(model, x * 2, y, [0.1])
    with pytest.raises(ConfigError, match="finite"):
        attack(model, x.masked_fill(torch.zeros_like(x, dtype=torch.bool).index_fill_(0, torch.tensor([0]), True),
                                    float("nan")), y, [0.1])
    with pytest.raises(ConfigError, match="expected x"):
        attack(model, x[:, 0], y, [0.1])
    with pytest.raises(ConfigError, match="has no parameter"):
        create_attack("pgd-linf", stepz=3)


def test_every_attack_is_listed() -> None:
    assert len(ATTACKS) == 21  # boopathy-pgd-linf: the authors' protocol
    assert ATTACKS.get("apgd-linf").kind == ATTACKS.get("autoattack-l2").kind == "ensemble"
    assert {ATTACKS.get(n).norm_name for n in ATTACKS.names()} == {"linf", "l2"}
    assert issubclass(ATTACKS.get("pgd-linf"), FixedEpsAttack)
    assert ATTACKS.get("square-l2").kind == "black-box"
    assert ATTACKS.get("transfer-pgd-l2").kind == "transfer"
    assert ATTACKS.get("topk-cam-linf").kind == "interpretation"


def test_transfer_attack_takes_its_surrogate_from_the_resolver(zoo: Path) -> None:
    asked: list[str] = []
    resolve = model_resolver("mnist", zoo)

    def spy(name: str) -> RobustModel:
        asked.append(name)
        return resolve(name)

    attack = create_attack("transfer-pgd-linf", surrogate="tiny-std")
    attack.bind(spy)
    assert asked == ["tiny-std"] and attack.surrogate is not None
    assert attack.surrogate_sha == find_card("tiny-std", "mnist", zoo).weights_sha256
    create_attack("pgd-linf").bind(spy)  # the base class's bind loads nothing
    assert asked == ["tiny-std"]
