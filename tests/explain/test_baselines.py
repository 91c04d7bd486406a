"""Baselines beside every metric: a random attribution's score, the score on a randomized network, Gini of the input."""

from __future__ import annotations

import math

import pytest
import torch
from rib import load_dataset
from rib.explain.inputs import MetricInputs
from rib.explain.metrics import METRICS, compute_metric_values, gini
from rib.explain.randomize import cascade, layers, randomized
from rib.zoo import build_model
from torch import nn

from tests.helpers import trained_tiny_state


@pytest.fixture(scope="module")
def tiny() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    model = build_model("tiny", "mnist-5k")
    model.net.load_state_dict(trained_tiny_state())
    x, y = load_dataset("mnist-5k", "test")
    return model.eval(), x[:16], y[:16]


def test_every_metric_stores_its_baselines(tiny) -> None:
    model, x, y = tiny
    xa = (x + 0.1 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    names = ["gini-ig", "kendall-tau", "topk-intersection", "smoothgrad-cosine", "mprt", "grad-norm"]
    v = compute_metric_values(names, MetricInputs(model, x[:8], y[:8], xa[:8]))
    assert set(v) == {o for n in names for o in METRICS.get(n).stored_outputs()}
    assert "grad-norm:random" not in v and "mprt-ig:randomized" not in v  # no scale to draw / it is the cascade
    assert torch.allclose(v["gini-ig:input"].value, gini(xa[:8]))  # the inputs measured: adversarial here
    # chance levels of a random map: Gini of |N(0, 1)| is sqrt(2) - 1, rank correlations 0, top-k k / (h w)
    assert v["gini-ig:random"].value.mean().item() == pytest.approx(math.sqrt(2) - 1, abs=0.02)
    assert abs(v["kendall-tau:random"].value.nanmean().item()) < 0.05
    assert abs(v["smoothgrad-cosine:random"].value.mean().item()) < 0.1
    assert v["topk-intersection:random"].value.nanmean().item() < 0.2  # 8 / 196 expected on 14 x 14 maps
    assert (v["mprt-saliency:random"].value == 1).all()  # a map that ignores the model fails the sanity check
    assert v["mprt-saliency"].value.mean().item() < 0.9  # saliency of the trained net does not
    # the randomized network explains differently, and is measured like the model itself
    assert not torch.allclose(v["gini-ig:randomized"].value, v["gini-ig"].value)


def test_random_maps_ignore_the_model_and_keep_the_sign_convention(tiny) -> None:
    from rib.cams import GradCamNet
    from rib.models import RobustModel

    model, x, y = tiny
    other = randomized(model, seed=3)
    a = MetricInputs(model, x, y).baseline("random").attribution("saliency")
    b = MetricInputs(other, x, y).baseline("random").attribution("saliency")
    assert torch.equal(a, b) and a.shape == x.shape and (a < 0).any()
    grad_cam = RobustModel(GradCamNet(model.net, "relu2"), [0.0], [1.0]).eval()
    maps = MetricInputs(grad_cam, x, y, x).baseline("random").cams("clean")
    assert (maps >= 0).all() and maps.shape == grad_cam.cam(x).shape  # ReLU'd Grad-CAM: non-negative chance maps


def test_cascade_randomizes_from_the_top_and_is_seeded(tiny) -> None:
    model = tiny[0]
    names = [n for n, _ in cascade(model, seed=0)]
    assert names == [n for n, _ in reversed(layers(model))] == ["net.classifier", "net.conv2", "net.conv1"]
    steps = [{k: v.clone() for k, v in net.state_dict().items()} for _, net in cascade(model, seed=0)]
    first = steps[0]
    assert not torch.equal(first["net.classifier.weight"], model.state_dict()["net.classifier.weight"])
    assert torch.equal(first["net.conv1.weight"], model.state_dict()["net.conv1.weight"])  # lower layers kept
    full = randomized(model, seed=0).state_dict()
    assert all(torch.equal(full[k], steps[-1][k]) for k in full)
    assert all(not torch.equal(full[k], model.state_dict()[k]) for k in full if k.endswith("weight"))
    assert not torch.equal(randomized(model, seed=1).state_dict()["net.conv1.weight"], full["net.conv1.weight"])
