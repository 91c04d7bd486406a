from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from rib.defenses import DEFENSES, TrainContext, create_defense
from rib.defenses.gradient_reg import ce_with_gradient_penalty
from rib.defenses.l1 import l1_of_weights
from rib.errors import ConfigError
from rib.explain import interpretation_discrepancy
from rib.zoo import build_model, model_resolver

from tests.helpers import make_card

FAST = {"adv-linf": {"steps": 3}, "adv-l2": {"steps": 3}, "proper-int": {"steps": 3}, "proper-int2": {"steps": 3}}


def _batch(n: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.rand(n, 1, 28, 28, generator=g), torch.arange(n) % 10


def test_every_defense_is_registered() -> None:
    assert DEFENSES.names() == ["adv-l2", "adv-linf", "gradient-reg", "ir", "l1", "lipschitz", "proper-int",
                                "proper-int2", "standard"]
    assert DEFENSES.canonical("at") == "adv-linf"
    assert DEFENSES.canonical("double-backprop") == "gradient-reg"


@pytest.mark.parametrize("name", sorted(set(DEFENSES.names()) - {"ir"}))
def test_loss_is_finite_and_reaches_every_parameter(name: str) -> None:
    torch.manual_seed(0)
    model = build_model("tiny", "mnist-5k").train()
    x, y = _batch()
    defense = create_defense(name, "mnist-5k", FAST.get(name, {}))
    loss, logs = defense.loss(model, x, y, {}, 0.5, torch.Generator().manual_seed(0))
    assert torch.isfinite(loss) and loss.dim() == 0
    assert all(isinstance(v, float) for v in logs.values())
    loss.backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, pname


def test_ir_prepare_caches_targets_and_trains(tmp_path: Path) -> None:
    make_card(tmp_path / "models", "adv-l2", defense="adv-l2", trained_norm="l2", trained_eps=1.5)
    x, y = _batch(6)
    defense = create_defense("ir", "mnist-5k", {"samples": 2})
    ctx = TrainContext("mnist-5k", torch.device("cpu"), torch.Generator().manual_seed(0),
                       resolve_model=model_resolver("mnist", tmp_path / "models"), cache_dir=tmp_path / "cache")
    model = build_model("tiny", "mnist-5k").train()
    aux = defense.prepare(model, x, y, ctx)
    target = aux["target"]
    assert target.shape == x.shape
    assert (target == 0).float().mean() > 0.5  # sparsified: most entries zeroed
    cached = list((tmp_path / "cache" / "ir-targets").glob("*.safetensors"))
    assert len(cached) == 1
    again = create_defense("ir", "mnist-5k", {"samples": 2}).prepare(model, x, y, ctx)
    torch.testing.assert_close(again["target"], target, rtol=0, atol=0)
    assert defense.threat_model() == ("l2", 1.5)
    assert defense.extra_provenance["teacher"] == "adv-l2"
    loss, logs = defense.loss(model, x, y, aux, 0.0, ctx.generator)
    loss.backward()
    assert torch.isfinite(loss) and -1.0 <= logs["cos"] <= 1.0
    assert model.net.conv1.weight.grad is not None


def test_ir_without_a_model_resolver_names_its_teacher() -> None:
    x, y = _batch(2)
    ctx = TrainContext("mnist-5k", torch.device("cpu"), torch.Generator().manual_seed(0))
    with pytest.raises(ConfigError, match="teacher 'adv-l2'"):
        create_defense("ir", "mnist-5k", {"samples": 1}).prepare(build_model("tiny", "mnist-5k"), x, y, ctx)


def test_ir_cosine_term_is_zero_when_gradient_matches_target() -> None:
    torch.manual_seed(0)
    model = build_model("tiny", "mnist-5k").train()
    x, y = _batch(4)
    xg = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(model(xg).gather(1, y.view(-1, 1)).sum(), xg)
    defense = create_defense("ir", "mnist-5k", {"lambda_gm": 0.0})
    loss, logs = defense.loss(model, x, y, {"target": g}, 0.0, torch.Generator())
    assert logs["cos"] == pytest.approx(1.0, abs=1e-5)
    assert loss.item() == pytest.approx(F.cross_entropy(model(x), y).item(), abs=1e-4)


def test_gradient_penalty_by_hand_on_a_linear_model() -> None:
    # logits = W x: ∇x CE = Wᵀ (softmax − onehot), computed in closed form
    torch.manual_seed(0)
    w = torch.randn(3, 5)
    lin = torch.nn.Linear(5, 3, bias=False)
    lin.weight.data = w.clone()
    x = torch.rand(4, 5)
    y = torch.tensor([0, 1, 2, 0])
    ce, penalty = ce_with_gradient_penalty(lin, x, y)  # type: ignore[arg-type]
    p = torch.softmax(x @ w.t(), dim=1)
    grad = (p - F.one_hot(y, 3).float()) @ w
    assert penalty.item() == pytest.approx(grad.pow(2).sum(dim=1).mean().item(), rel=1e-5)
    assert ce.item() == pytest.approx(F.cross_entropy(x @ w.t(), y).item(), rel=1e-6)


def test_l1_penalty_by_hand() -> None:
    model = build_model("tiny", "mnist-5k")
    expected = sum(p.abs().sum().item() for n, p in model.net.named_parameters() if n.endswith("weight"))
    assert l1_of_weights(model).item() == pytest.approx(expected, rel=1e-5)
    x, y = _batch(4)
    loss, logs = create_defense("l1", "mnist-5k").loss(model, x, y, {}, 0.0, torch.Generator())
    assert loss.item() == pytest.approx(logs["ce"] + 0.01 / 50 * expected, rel=1e-5)


def test_discrepancy_is_zero_without_change_and_positive_with_it() -> None:
    torch.manual_seed(0)
    model = build_model("tiny", "mnist-5k").eval()
    x, y = _batch(4)
    assert interpretation_discrepancy(model, x, x, y).abs().max().item() == 0.0
    d_full = interpretation_discrepancy(model, x, (x + 0.2).clamp(0, 1), y)
    d_one = interpretation_discrepancy(model, x, (x + 0.2).clamp(0, 1), y, one_class=True)
    assert (d_full > d_one).all() and (d_one > 0).all()


def test_adversarial_eps_ramp_and_threat_models() -> None:
    from rib.defenses.adversarial import ramped_eps

    assert ramped_eps(0.3, 0.0, 0.3) == 0.0
    assert ramped_eps(0.3, 0.15, 0.3) == pytest.approx(0.15)
    assert ramped_eps(0.3, 0.9, 0.3) == 0.3
    assert create_defense("adv-linf").threat_model() == ("linf", 0.3)
    assert create_defense("adv-l2").threat_model() == ("l2", 1.5)
    assert create_defense("adv-linf", "cifar10").threat_model() == ("linf", pytest.approx(8 / 255))
    assert create_defense("standard").threat_model() == ("none", 0.0)


def test_unknown_parameter_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="has no parameter gama"):
        create_defense("proper-int", params={"gama": 0.1})


def test_proper_int_needs_cam() -> None:
    model = build_model("mnist-cnn", "mnist").train()
    x, y = _batch(2)
    with pytest.raises(ConfigError, match="CAM-capable"):
        create_defense("proper-int", "mnist", {"steps": 1}).loss(model, x, y, {}, 0.5, torch.Generator())


def test_a_defense_module_registers_itself_with_no_list_to_edit() -> None:
    """Adding a defense is its module and a recipe entry: every module of ``rib.defenses`` is imported by the
    package, and each (but the interface and the loop) registers a defense."""
    import pkgutil
    import sys

    import rib.defenses as package
    from rib.defenses import DEFENSES

    modules = {m.name for m in pkgutil.iter_modules(package.__path__)} - {"base", "loop"}
    assert modules and all(f"rib.defenses.{m}" in sys.modules for m in modules)
    registered = {DEFENSES.get(n).__module__.rpartition(".")[2] for n in DEFENSES.names()}
    assert modules <= registered
