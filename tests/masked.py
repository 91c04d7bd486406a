"""Deliberately masked versions of the tiny test network, registered as test architectures.

Each takes the tiny network's weights unchanged (same state dict), so a masked model and its unmasked twin share
their decision function up to the masking:

- ``tiny-saturated``: logits × 1000, a saturated softmax (cross-entropy gradients vanish in float32);
- ``tiny-quantized``: a true zero-gradient input quantization (``round(x · 8) / 8``) before the network;
- ``tiny-noisy``: Gaussian noise added to the input at inference (a randomized defense).
"""

from __future__ import annotations

import torch
from rib.zoo.archs import ARCHS, TinyCNN

MASKED_ARCHS = ("tiny-saturated", "tiny-quantized", "tiny-noisy")


def _register() -> None:
    if "tiny-saturated" in ARCHS:
        return

    @ARCHS.decorator("tiny-saturated")
    class Saturated(TinyCNN):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return super().forward(x) * 1000.0

    @ARCHS.decorator("tiny-quantized")
    class Quantized(TinyCNN):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return super().forward(torch.round(x * 8) / 8)

    @ARCHS.decorator("tiny-noisy")
    class Noisy(TinyCNN):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return super().forward(x + 0.3 * torch.randn_like(x))


_register()
