"""Boopathy et al.'s (ICML 2020) CAM networks, ported with their TensorFlow semantics, and the map from their
released pickles (``rib.zoo.release_pickle``) to these modules' state dicts.

The authors' ``load_model.py`` builds every network from a list of layers. Inputs are [0, 1] images (no
normalization). The first convolution sees the raw input; every later convolution sees ReLU of the previous
layer's output; a max-pool is applied to the previous output as it is; a residual convolution adds the output of
two layers back (average-pooled and zero-padded in channels where the shape changed). The last feature map, with no
ReLU, is averaged over space and multiplied by the class weights ``[1, 1, C, 10]``: logits. The CAM of class c is
the last feature map weighted by column c. Padding is TensorFlow's "SAME": ``ceil(n / stride)`` outputs, the extra
pixel of an odd total padded at the end (bottom, right).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rib.errors import WeightsError
from rib.zoo.archs import ARCHS, CAMNet

ReleaseLayers = list[tuple[np.ndarray, ...]]


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's "SAME" padding along one axis: (before, after), the odd pixel after."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _pad_same(x: torch.Tensor, kernel: int, stride: int, value: float = 0.0) -> torch.Tensor:
    top, bottom = same_padding(x.shape[2], kernel, stride)
    left, right = same_padding(x.shape[3], kernel, stride)
    if top == bottom == left == right == 0:
        return x
    return F.pad(x, (left, right, top, bottom), value=value)


class SameConv2d(nn.Conv2d):
    """A convolution with TensorFlow's "SAME" padding (asymmetric where the total is odd)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1) -> None:
        super().__init__(cin, cout, kernel, stride, padding=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(_pad_same(x, self.kernel_size[0], self.stride[0]))


@dataclass(frozen=True)
class LayerSpec:
    """One layer of the authors' list: a convolution (``filters`` > 0), a max-pool (``pool``), or a residual
    convolution (``residual``)."""

    filters: int
    kernel: int
    stride: int
    pool: bool = False
    residual: bool = False


class ReleaseCamNet(CAMNet):
    """A network of the authors' layer list; ``load_release`` fills it from their pickle."""

    def __init__(self, in_channels: int, num_classes: int, layers: Sequence[LayerSpec]) -> None:
        super().__init__()
        self.specs = tuple(layers)
        convs: list[nn.Module] = []
        channels = in_channels
        for spec in self.specs:
            if spec.pool:
                convs.append(nn.Identity())  # keeps indices aligned with the release's layer list
                continue
            convs.append(SameConv2d(channels, spec.filters, spec.kernel, spec.stride))
            channels = spec.filters
        self.layers = nn.ModuleList(convs)
        self.classifier = nn.Linear(channels, num_classes, bias=False)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        outputs = [x]
        for i, (spec, layer) in enumerate(zip(self.specs, self.layers, strict=True)):
            if spec.pool:
                x = F.max_pool2d(_pad_same(x, spec.kernel, spec.stride, -math.inf), spec.kernel, spec.stride)
            else:
                x = layer(x if i == 0 else F.relu(x))
                if spec.residual:
                    x = x + _shortcut(outputs[-2], x)
            outputs.append(x)
        return x

    def load_release(self, release: ReleaseLayers, source: str) -> dict[str, torch.Tensor]:
        """The state dict of this network from the authors' layer list (TensorFlow layouts converted)."""
        if len(release) != len(self.specs) + 1:
            raise WeightsError(f"{source}: {len(release)} layers, the architecture has {len(self.specs) + 1}")
        state: dict[str, torch.Tensor] = {}
        for i, (spec, entry) in enumerate(zip(self.specs, release, strict=False)):
            if spec.pool:
                continue
            if len(entry) != 2:
                raise WeightsError(f"{source}: layer {i} should hold a kernel and a bias, it holds {len(entry)} arrays")
            kernel, bias = entry
            if kernel.ndim != 4:
                raise WeightsError(f"{source}: layer {i}'s kernel has shape {kernel.shape}, expected [kh, kw, in, out]")
            state[f"layers.{i}.weight"] = torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)))
            state[f"layers.{i}.bias"] = torch.from_numpy(np.ascontiguousarray(bias))
        head = release[-1]
        if len(head) != 1 or head[0].ndim != 4 or head[0].shape[:2] != (1, 1):
            raise WeightsError(f"{source}: the last layer should be the [1, 1, C, classes] class weights")
        state["classifier.weight"] = torch.from_numpy(np.ascontiguousarray(head[0][0, 0].T))
        return state


def _shortcut(previous: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The residual branch: ``previous`` average-pooled to ``x``'s size and zero-padded evenly in channels."""
    if previous.shape == x.shape:
        return previous
    scale = previous.shape[2] // x.shape[2]
    if scale != 1:
        previous = F.avg_pool2d(previous, scale, scale)
    extra = (x.shape[1] - previous.shape[1]) // 2
    return F.pad(previous, (0, 0, 0, 0, extra, extra))


SMALLGAP = (LayerSpec(16, 4, 2), LayerSpec(32, 4, 2), LayerSpec(100, 7, 1))
POOL = (LayerSpec(32, 5, 1), LayerSpec(0, 2, 2, pool=True), LayerSpec(64, 5, 1), LayerSpec(0, 2, 2, pool=True))


def _wresnet() -> tuple[LayerSpec, ...]:
    """The authors' 31-convolution residual network: conv 16, then pairs (conv, residual conv) at 16, 32, 64 filters,
    stride 2 at the first convolution of the 32 and 64 stages."""
    specs = [LayerSpec(16, 3, 1)]
    for filters in (16, 32, 64):
        for pair in range(5):
            stride = 2 if filters > 16 and pair == 0 else 1
            specs += [LayerSpec(filters, 3, stride), LayerSpec(filters, 3, 1, residual=True)]
    return tuple(specs)


@ARCHS.decorator("boopathy-smallgap")
def boopathy_smallgap(in_channels: int = 1, num_classes: int = 10) -> ReleaseCamNet:
    """Boopathy et al.'s ``smallgap``: conv 16 k4 s2, conv 32 k4 s2, conv 100 k7 → CAM head (MNIST 166k)."""
    return ReleaseCamNet(in_channels, num_classes, SMALLGAP)


@ARCHS.decorator("boopathy-pool")
def boopathy_pool(in_channels: int = 1, num_classes: int = 10) -> ReleaseCamNet:
    """Boopathy et al.'s ``pool``: conv 32 k5, max-pool 2, conv 64 k5, max-pool 2 → CAM head (MNIST 53k)."""
    return ReleaseCamNet(in_channels, num_classes, POOL)


@ARCHS.decorator("boopathy-wresnet")
def boopathy_wresnet(in_channels: int = 3, num_classes: int = 10) -> ReleaseCamNet:
    """Boopathy et al.'s ``wresnet`` (CIFAR-10): 31 3x3 convolutions with residual adds → CAM head."""
    return ReleaseCamNet(in_channels, num_classes, _wresnet())
