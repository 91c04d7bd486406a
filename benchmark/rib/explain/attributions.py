"""Attribution maps through captum: saliency, Integrated Gradients, SmoothGrad, DeepLiftShap, CAM and Grad-CAM.

Every function takes a model of [0, 1] inputs (a ``RobustModel``: normalization inside), inputs ``[N, C, H, W]``
and the class to explain per example, and returns maps with the input's shape (CAM and Grad-CAM: ``[N, h, w]``
at the feature map's resolution). Settings default to papers.md: IG with a zero baseline and 100 steps,
SmoothGrad with 50 samples of sigma 0.15, DeepLiftShap against a zero background.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import nn

from rib.batching import batches
from rib.errors import ConfigError
from rib.explain.cam import CamModel
from rib.explain.noise import example_normal
from rib.registry import Registry

Attribution = Callable[..., torch.Tensor]
ATTRIBUTIONS: Registry[Attribution] = Registry("attribution")


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Seed torch's global generator (captum draws its noise there) and restore its state afterwards."""
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        yield
    finally:
        torch.random.set_rng_state(state)


@ATTRIBUTIONS.decorator("saliency")
def saliency(model: nn.Module, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The signed input gradient of the target logit."""
    from captum.attr import Saliency

    return Saliency(model).attribute(x, target=target, abs=False).detach()


@ATTRIBUTIONS.decorator("ig")
def integrated_gradients(model: nn.Module, x: torch.Tensor, target: torch.Tensor, *, steps: int = 100,
                         internal_batch_size: int = 1024) -> torch.Tensor:
    """Integrated Gradients from a zero (black) baseline, Gauss-Legendre quadrature with ``steps`` points."""
    from captum.attr import IntegratedGradients

    return IntegratedGradients(model).attribute(x, baselines=torch.zeros_like(x), target=target, n_steps=steps,
                                                internal_batch_size=internal_batch_size).detach()


@ATTRIBUTIONS.decorator("smoothgrad")
def smoothgrad(model: nn.Module, x: torch.Tensor, target: torch.Tensor, *, samples: int = 50, sigma: float = 0.15,
               seed: int = 0) -> torch.Tensor:
    """Mean signed saliency over ``samples`` copies of x with Gaussian noise of std ``sigma`` (pixel scale, unclipped):
    captum's NoiseTunnel SmoothGrad, with the noise drawn per example (``rib.explain.noise``), so an example's map
    does not depend on the batch it is in.

    Unlike the IR training targets (``rib.explain.gradients.smoothgrad``: clipped to [0, 1], x itself included),
    this is SmoothGrad as practitioners compute it.
    """
    noisy = (x[:, None] + sigma * example_normal(x, seed, "smoothgrad", samples)).flatten(0, 1)
    targets = target.repeat_interleave(samples)
    chunk = max(samples, 4096 // samples * samples)
    grads = [saliency(model, noisy[i:i + chunk], targets[i:i + chunk]) for i in range(0, len(noisy), chunk)]
    return torch.cat(grads).view(len(x), samples, *x.shape[1:]).mean(dim=1).detach()


@ATTRIBUTIONS.decorator("deeplift-shap")
def deeplift_shap(model: nn.Module, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """DeepLiftShap against a zero background (Chalasani et al.'s DeepSHAP, for the true class)."""
    from captum.attr import DeepLiftShap

    background = torch.zeros((2, *x.shape[1:]), dtype=x.dtype, device=x.device)
    return DeepLiftShap(model).attribute(x, baselines=background, target=target).detach()


def _cam_net(model: nn.Module) -> CamModel:
    if not getattr(model, "supports_cam", False) or not isinstance(model, CamModel):
        raise ConfigError(f"{type(getattr(model, 'net', model)).__name__} has no CAM head (CAM, Grad-CAM and the "
                          "interpretation discrepancy need one)")
    return model


@ATTRIBUTIONS.decorator("cam")
def cam(model: nn.Module, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The class activation map of the target class, ``[N, h, w]``."""
    with torch.no_grad():
        maps = _cam_net(model).cam(x)
    return maps[torch.arange(len(x), device=x.device), target]


@ATTRIBUTIONS.decorator("grad-cam")
def grad_cam(model: nn.Module, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Grad-CAM of the target class on the last feature map, ``[N, h, w]``."""
    from captum.attr import LayerGradCam

    layer = getattr(getattr(_cam_net(model), "net", None), "feature_layer", None)
    if layer is None:
        raise ConfigError(f"{type(model.net).__name__} exposes no feature layer for Grad-CAM")
    return LayerGradCam(model, layer).attribute(x, target=target, relu_attributions=True).detach()[:, 0]


def attribute(name: str, model: nn.Module, x: torch.Tensor, target: torch.Tensor, *, batch_size: int = 256,
              **kwargs: Any) -> torch.Tensor:
    """Attribution ``name`` (see ``ATTRIBUTIONS``) in batches; model in eval mode, result on the CPU."""
    fn = ATTRIBUTIONS.get(name)
    model.eval()
    device = next(model.parameters()).device
    with warnings.catch_warnings():  # captum's notes on hooks and on inputs without requires_grad
        warnings.simplefilter("ignore", UserWarning)
        parts = [fn(model, xb.to(device), tb.to(device), **kwargs).cpu()
                 for xb, tb in batches(x, target, batch_size=batch_size)]
    return torch.cat(parts) if parts else torch.empty(0)
