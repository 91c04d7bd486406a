"""Per-example random draws: the noise an example gets depends on its pixels, the cell's seed and a salt only.

So a metric's value for an image does not change with the batch it shares, its position in the sample or the
sample size (nested samples give every image the same noise).
"""

from __future__ import annotations

import hashlib

import torch


def example_seeds(x: torch.Tensor, seed: int, salt: str) -> list[int]:
    """One 63-bit seed per example: blake2b of its float32 pixels, ``seed`` and ``salt``."""
    flat = x.detach().flatten(1).to("cpu", torch.float32).contiguous().numpy()
    key = f"{seed}:{salt}:".encode()
    return [int.from_bytes(hashlib.blake2b(key + row.tobytes(), digest_size=8).digest(), "little") >> 1
            for row in flat]


def example_normal(x: torch.Tensor, seed: int, salt: str, samples: int = 1) -> torch.Tensor:
    """Standard normal draws ``[N, samples, *x.shape[1:]]`` (float32, on x's device), per example."""
    out = torch.empty((len(x), samples, *x.shape[1:]), dtype=torch.float32)
    for i, s in enumerate(example_seeds(x, seed, salt)):
        out[i] = torch.randn((samples, *x.shape[1:]), generator=torch.Generator().manual_seed(s))
    return out.to(x.device)


def example_uniform(x: torch.Tensor, seed: int, salt: str, samples: int = 1) -> torch.Tensor:
    """Uniform draws in [-1, 1) ``[N, samples, *x.shape[1:]]`` (float32, on x's device), per example."""
    out = torch.empty((len(x), samples, *x.shape[1:]), dtype=torch.float32)
    for i, s in enumerate(example_seeds(x, seed, salt)):
        out[i] = torch.rand((samples, *x.shape[1:]), generator=torch.Generator().manual_seed(s)) * 2 - 1
    return out.to(x.device)
