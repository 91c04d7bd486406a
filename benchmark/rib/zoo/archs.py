"""Architectures, registered by name. Each takes ``in_channels`` and ``num_classes`` plus its own kwargs.

CAM-capable networks (``CAMNet``) end in: last conv map ``A`` → global average pool → linear without bias, so
``CAM_c = Σ_k W_kc A_k`` and the logits are exactly the spatial mean of the CAM.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from rib.registry import Registry

ARCHS: Registry[Callable[..., nn.Module]] = Registry("architecture")


class CAMNet(nn.Module):
    """Base of CAM-capable networks: subclasses define ``features`` and a bias-free ``classifier``."""

    classifier: nn.Linear

    def features(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).mean(dim=(2, 3)))

    @property
    def feature_layer(self) -> nn.Module | None:
        """The module whose output is the last feature map (Grad-CAM's layer), when it is one module."""
        return None

    def cam(self, x: torch.Tensor) -> torch.Tensor:
        """Class activation maps ``[N, classes, h, w]``; their spatial mean equals the logits."""
        return torch.einsum("kc,nkhw->nchw", self.classifier.weight.t(), self.features(x))


@ARCHS.decorator("cam-cnn")
class CamCNN(CAMNet):
    """The zoo network: conv5x5-pool → conv5x5-pool → conv3x3 (A) → GAP → linear (no bias)."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10, widths: tuple[int, ...] = (32, 64, 128)):
        super().__init__()
        a, b, c = widths
        self.conv1 = nn.Conv2d(in_channels, a, 5, padding=2)
        self.conv2 = nn.Conv2d(a, b, 5, padding=2)
        self.conv3 = nn.Conv2d(b, c, 3, padding=1)
        self.classifier = nn.Linear(c, num_classes, bias=False)
        # one module per nonlinearity (no parameters): DeepLift needs them as modules, Grad-CAM hooks relu3
        self.relu1, self.relu2, self.relu3 = nn.ReLU(), nn.ReLU(), nn.ReLU()
        self.pool1, self.pool2 = nn.MaxPool2d(2), nn.MaxPool2d(2)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool1(self.relu1(self.conv1(x)))
        x = self.pool2(self.relu2(self.conv2(x)))
        return self.relu3(self.conv3(x))

    @property
    def feature_layer(self) -> nn.Module:
        return self.relu3


@ARCHS.decorator("tiny", aliases=("tiny-cnn",))
class TinyCNN(CAMNet):
    """A few thousand parameters, for tests: conv3x3(8)-pool → conv3x3(16) (A) → GAP → linear (no bias)."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10, width: int = 8):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, width, 3, padding=1)
        self.conv2 = nn.Conv2d(width, 2 * width, 3, padding=1)
        self.classifier = nn.Linear(2 * width, num_classes, bias=False)
        self.relu1, self.relu2, self.pool1 = nn.ReLU(), nn.ReLU(), nn.MaxPool2d(2)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu2(self.conv2(self.pool1(self.relu1(self.conv1(x)))))

    @property
    def feature_layer(self) -> nn.Module:
        return self.relu2


@ARCHS.decorator("mnist-cnn")
class MnistCNN(nn.Module):
    """The papers' MNIST CNN (IR, Ross & Doshi-Velez, Chalasani): conv32-conv64-fc1024 (optional batch norm)."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10, batch_norm: bool = False, image_size: int = 28):
        super().__init__()

        def norm(c: int) -> nn.Module:
            return nn.BatchNorm2d(c) if batch_norm else nn.Identity()

        self.body = nn.Sequential(
            nn.Conv2d(in_channels, 32, 5, padding=2), norm(32), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 5, padding=2), norm(64), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(64 * (image_size // 4) ** 2, 1024), nn.ReLU(),
            nn.Linear(1024, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class _PreActBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, drop: float = 0.0):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.drop = drop
        self.shortcut = None if stride == 1 and cin == cout else nn.Conv2d(cin, cout, 1, stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(x))
        skip = x if self.shortcut is None else self.shortcut(out)
        out = self.conv1(out)
        out = F.relu(self.bn2(out))
        if self.drop:
            out = F.dropout(out, self.drop, self.training)
        return self.conv2(out) + skip


@ARCHS.decorator("preact-resnet18", aliases=("preactresnet18",))
class PreActResNet18(CAMNet):
    """PreAct ResNet-18 (He et al. 2016) for 32x32 inputs; its GAP head makes it CAM-capable."""

    def __init__(self, in_channels: int = 3, num_classes: int = 10):
        super().__init__()
        self.stem = nn.Conv2d(in_channels, 64, 3, 1, 1, bias=False)
        layers: list[nn.Module] = []
        cin = 64
        for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            layers += [_PreActBlock(cin, cout, stride), _PreActBlock(cout, cout, 1)]
            cin = cout
        self.layers = nn.Sequential(*layers)
        self.bn = nn.BatchNorm2d(512)
        self.classifier = nn.Linear(512, num_classes, bias=False)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.layers(self.stem(x))))


@ARCHS.decorator("wrn-28-10", aliases=("wideresnet",))
class WideResNet(CAMNet):
    """WRN-depth-width (Zagoruyko & Komodakis 2016), default WRN-28-10, CAM-capable GAP head."""

    def __init__(self, in_channels: int = 3, num_classes: int = 10, depth: int = 28, width: int = 10,
                 dropout: float = 0.0):
        super().__init__()
        if (depth - 4) % 6:
            raise ValueError("WideResNet depth must be 6n+4")
        n = (depth - 4) // 6
        widths = [16, 16 * width, 32 * width, 64 * width]
        self.stem = nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False)
        blocks: list[nn.Module] = []
        cin = widths[0]
        for i, stride in enumerate((1, 2, 2)):
            for j in range(n):
                blocks.append(_PreActBlock(cin, widths[i + 1], stride if j == 0 else 1, dropout))
                cin = widths[i + 1]
        self.blocks = nn.Sequential(*blocks)
        self.bn = nn.BatchNorm2d(cin)
        self.classifier = nn.Linear(cin, num_classes, bias=False)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.blocks(self.stem(x))))
