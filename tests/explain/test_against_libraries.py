"""rib's metrics against the libraries that implement them as their papers define them, on the same inputs.

Quantus 0.6 (``Sparseness``, ``MaxSensitivity``, ``PixelFlipping``, ``MPRT``) and captum 0.9 (``sensitivity_max``)
get the attributions rib computed (and, where they perturb, rib's own perturbations), so what is compared is the metric.
Tolerances: float32 attributions summed in float64 by rib and in float32 by Quantus differ by ~1e-6 relative; the
curves and rank correlations agree exactly (1e-9).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
import torch
from rib import load_dataset
from rib.explain.attributions import attribute
from rib.explain.gradient_metrics import MaxSensitivity
from rib.explain.inputs import MetricInputs
from rib.explain.metrics import compute_metrics
from rib.explain.randomize import cascade
from rib.explain.sanity_metrics import deletion_curve
from rib.explain.scores import curve_area, gini, spearman
from rib.zoo import build_model
from torch import nn

from tests.helpers import trained_tiny_state

quantus = pytest.importorskip("quantus")
GINI_TOL, SENS_TOL, EXACT = 1e-5, 1e-5, 1e-9


@pytest.fixture(scope="module")
def tiny() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    model = build_model("tiny", "mnist-5k")
    model.net.load_state_dict(trained_tiny_state())
    x, y = load_dataset("mnist-5k", "test")
    return model.eval(), x[:12], y[:12]


def _quiet(fn: Any, **kw: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(**kw)


def explainer(name: str) -> Any:
    """A Quantus ``explain_func`` that returns rib's attribution ``name``."""

    def explain(model: nn.Module, inputs: np.ndarray, targets: np.ndarray, **_: Any) -> np.ndarray:
        x, t = torch.as_tensor(inputs, dtype=torch.float32), torch.as_tensor(targets, dtype=torch.long)
        return attribute(name, model, x, t).numpy()

    return explain


def test_gini_of_ig_equals_quantus_sparseness(tiny) -> None:
    model, x, y = tiny
    a = attribute("ig", model, x, y)
    ours = compute_metrics(["gini-ig"], MetricInputs(model, x, y))["gini-ig"]
    theirs = _quiet(quantus.Sparseness(abs=True, normalise=False, disable_warnings=True), model=model,
                    x_batch=x.numpy(), y_batch=y.numpy(), a_batch=a.numpy(), device="cpu")
    assert np.allclose(ours.numpy(), theirs, rtol=0, atol=GINI_TOL)
    assert torch.allclose(ours, gini(a))


def test_max_sensitivity_equals_quantus_and_captum(tiny) -> None:
    from captum.metrics import sensitivity_max

    model, x, y = tiny
    metric = MaxSensitivity()
    ours = compute_metrics(["max-sensitivity"], MetricInputs(model, x, y))["max-sensitivity-saliency"]
    noisy = metric.perturbations(x, 0)  # [samples, N, ...]: rib's draws, replayed to both libraries
    base = attribute("saliency", model, x, y)

    draws = iter(noisy)

    def replay(arr: np.ndarray, **_: Any) -> np.ndarray:
        return next(draws).reshape(arr.shape).numpy()

    q = quantus.MaxSensitivity(nr_samples=len(noisy), perturb_func=replay, abs=False, normalise=False,
                               disable_warnings=True)
    theirs = np.asarray(_quiet(q, model=model, x_batch=x.numpy(), y_batch=y.numpy(), a_batch=base.numpy(),
                               explain_func=explainer("saliency"), device="cpu"))
    assert np.allclose(ours.numpy(), theirs, rtol=SENS_TOL, atol=0)

    draws_c = iter(noisy)

    def explain(inp: Any, target: torch.Tensor) -> Any:  # captum passes (and wants back) tuples of tensors
        a = attribute("saliency", model, inp[0] if isinstance(inp, tuple) else inp, target)
        return (a,) if isinstance(inp, tuple) else a

    def perturb(inp: Any) -> Any:
        return (next(draws_c),) if isinstance(inp, tuple) else next(draws_c)

    raw = sensitivity_max(explain, x, perturb_func=perturb, n_perturb_samples=len(noisy), target=y,
                          max_examples_per_batch=len(x))
    assert torch.allclose(ours, raw.double(), rtol=SENS_TOL, atol=0)  # captum divides by ||phi(x)|| too


class OneHot(nn.Module):
    """The model's prediction as a one-hot vector: Quantus' curve of ``y``'s score is then the accuracy curve."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.model(x)
        return torch.nn.functional.one_hot(z.argmax(1), z.shape[1]).float()


def test_deletion_equals_quantus_pixel_flipping(tiny) -> None:
    model, x, y = tiny
    a = attribute("saliency", model, x, y) + 1e-6 * torch.randn_like(x)  # no ties: both orders are defined
    kw = {"x_batch": x.numpy(), "y_batch": y.numpy(), "a_batch": a.numpy(), "device": "cpu"}
    for score, net, softmax in (("correct", OneHot(model).eval(), False), ("probability", model, True)):
        ours = deletion_curve(model, x, y, a, 28, score=score)
        flip = quantus.PixelFlipping(features_in_step=28, disable_warnings=True)
        theirs = np.asarray(_quiet(flip, model=net, softmax=softmax, **kw))
        assert np.allclose(ours.numpy(), theirs, rtol=0, atol=EXACT if score == "correct" else 1e-6), score
        # Quantus' return_auc_per_sample is np.trapz(curve, dx=1), which NumPy 2 removed: its area, by hand
        area = np.trapezoid(theirs, dx=1, axis=1)
        assert np.allclose(curve_area(ours).numpy() * (ours.shape[1] - 1), area, rtol=0, atol=1e-6), score


def test_mprt_layer_scores_equal_quantus(tiny) -> None:
    model, x, y = tiny
    a = attribute("saliency", model, x, y)
    ours = [spearman(a.abs(), attribute("saliency", net, x, y).abs()) for _, net in cascade(model, seed=0)]
    mprt = quantus.MPRT(layer_order="top_down", seed=0, disable_warnings=True)
    theirs = _quiet(mprt, model=model, x_batch=x.numpy(), y_batch=y.numpy(), a_batch=a.numpy(),
                    explain_func=explainer("saliency"), device="cpu")
    layers = [k for k in theirs if k != "original"]
    assert layers == [name for name, _ in cascade(model, seed=0)]
    for name, s in zip(layers, ours, strict=True):
        assert np.allclose(s.numpy(), theirs[name], rtol=0, atol=EXACT), name
    mean = compute_metrics(["mprt"], MetricInputs(model, x, y))["mprt-saliency"]
    assert torch.allclose(mean, torch.stack(ours, 1).mean(1))
