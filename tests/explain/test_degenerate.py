"""No model reaches a metric's best value by being dead, saturated or constant: such examples are NaN with a reason.

Three degenerate networks per metric: constant logits (every weight 0, positive biases: a spatially constant, non-zero
CAM), all-zero CAMs (the last map ReLU'd to 0), and the trained tiny network with its logits scaled by 1e4
(saturated: float32 CE is 0). Scale-free metrics must give the scaled network exactly the trained one's values.
"""

from __future__ import annotations

import copy

import pytest
import torch
from rib import load_dataset
from rib.explain.degenerate import REASONS, Values, constant_maps, topk_tied, zero_maps
from rib.explain.metrics import METRICS, MetricInputs, compute_metric_values
from rib.zoo import build_model
from torch import nn

from tests.helpers import trained_tiny_state

SCALE = 1e4


def _tiny(state: dict[str, torch.Tensor] | None = None) -> nn.Module:
    model = build_model("tiny", "mnist-5k")
    if state is not None:
        model.net.load_state_dict(state)
    return model.eval()


def constant_logits() -> nn.Module:
    model = _tiny()
    with torch.no_grad():
        for conv in (model.net.conv1, model.net.conv2):
            conv.weight.zero_()
            conv.bias.fill_(0.5)
    return model


def zero_cams() -> nn.Module:
    model = _tiny(trained_tiny_state())
    with torch.no_grad():
        model.net.conv2.weight.zero_()
        model.net.conv2.bias.fill_(-1.0)
    return model


def scaled(model: nn.Module) -> nn.Module:
    out = copy.deepcopy(model)
    with torch.no_grad():
        out.net.classifier.weight.mul_(SCALE)
    return out


@pytest.fixture(scope="module")
def data() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    x, y = load_dataset("mnist-5k", "test")
    x, y = x[:10], y[:10]
    gen = torch.Generator().manual_seed(0)
    return x, y, (x + 0.1 * torch.randn(x.shape, generator=gen)).clamp(0, 1)


def _values(model: nn.Module, data, name: str) -> dict[str, Values]:
    x, y, xa = data
    return compute_metric_values([name], MetricInputs(model, x, y, xa if METRICS.get(name).pairwise else None),
                                 baselines=False)


@pytest.mark.parametrize("name", METRICS.names())
@pytest.mark.parametrize("make", [constant_logits, zero_cams])
def test_dead_and_constant_models_are_flagged_not_scored(name: str, make, data) -> None:
    for output, v in _values(make(), data, name).items():
        assert v.value.isnan().all(), output
        assert all(r in REASONS for r in v.reason), output
        assert v.mostly_degenerate(), f"{output}: {v.summary()}"


@pytest.mark.parametrize("name", METRICS.names())
def test_a_saturated_model_scores_what_the_trained_one_does_or_is_flagged(name: str, data) -> None:
    trained = _tiny(trained_tiny_state())
    ours, big = _values(trained, data, name), _values(scaled(trained), data, name)
    for output, v in big.items():
        base = ours[output]
        assert not base.value.isnan().all(), output  # the trained network itself is measured
        if output == "grad-norm":  # the CE of a saturated network is float32 rounding: flagged, never 0
            assert v.mostly_degenerate() and "degenerate: CE saturated" in v.reason
        elif output == "interp-discrepancy-raw":  # the paper's D grows with the logits' scale: never better
            assert (v.value > base.value).all()
        elif output == "interp-discrepancy":  # the class weights sharpen; the true-class term is unchanged
            assert torch.isfinite(v.value).all() and (v.value > 0).all()
        else:
            assert torch.allclose(v.value, base.value, rtol=1e-4, atol=1e-6, equal_nan=True), output
            assert v.reason == base.reason, output


def test_degenerate_checks_by_hand() -> None:
    maps = torch.tensor([[0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0], [1e-9, 0.0, 0.0, 0.0], [3.0, 2.0, 2.0, 1.0]])
    assert constant_maps(maps).tolist() == [True, True, False, False]
    # l1 mass 1e-9 against a logit of 1: below float32 eps (1.2e-7) times the logit, so rounding
    assert zero_maps(maps, torch.ones(4)).tolist() == [True, False, True, False]
    assert zero_maps(maps, torch.zeros(4)).tolist() == [True, False, False, False]
    assert topk_tied(maps, 1).tolist() == [True, True, False, False]
    assert topk_tied(maps, 2).tolist() == [True, True, True, True]  # 2.0 and 2.0 share the second place
    v = Values.of(torch.arange(4.0)).mark(torch.tensor([True, False, False, False]), "excluded: input not moved")
    v.mark(torch.tensor([True, True, True, False]), "degenerate: constant CAM")
    assert v.reason[0] == "excluded: input not moved"  # the first reason stays (metrics mark degenerate first)
    assert v.summary() == {"degenerate": 2, "excluded": 1, "reasons": {"degenerate: constant CAM": 2,
                                                                      "excluded: input not moved": 1}}
    assert v.mostly_degenerate()  # 2 of the 3 compared examples
    with pytest.raises(ValueError, match="undocumented"):
        v.mark(torch.ones(4, dtype=torch.bool), "degenerate: because")
