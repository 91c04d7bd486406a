"""Norms as strategies for iterative attacks and adversarial training: random start, gradient normalization,
projection, distance. Attacks and defenses both use them, so they sit beside, not inside, ``rib.attacks``.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Literal

import torch

from rib.registry import Registry

NORMS: Registry[Norm] = Registry("norm")
NormName = Literal["linf", "l2"]  # the threat models rib attacks in; a model trained against none says "none"
NORM_NAMES: tuple[NormName, ...] = ("linf", "l2")

_TINY = 1e-12


def _flat_norm(t: torch.Tensor, p: float) -> torch.Tensor:
    return t.flatten(1).norm(p=p, dim=1)


def _per_example(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return v.view(-1, *([1] * (like.dim() - 1)))


class Norm(ABC):
    """One threat model's geometry; every method works per example on ``[N, ...]`` tensors."""

    name: NormName

    @abstractmethod
    def random_init(self, like: torch.Tensor, eps: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """A random perturbation inside the eps ball (``eps`` per example, shape ``[N]``)."""

    @abstractmethod
    def normalize_grad(self, grad: torch.Tensor) -> torch.Tensor:
        """The steepest-ascent direction of unit norm for this norm."""

    @abstractmethod
    def project(self, delta: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """Project perturbations onto the eps ball."""

    @abstractmethod
    def distance(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Per-example distance between two batches."""

    def __repr__(self) -> str:
        return f"Norm({self.name})"


class LinfNorm(Norm):
    name = "linf"

    def random_init(self, like: torch.Tensor, eps: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        u = torch.rand(like.shape, generator=generator, device=like.device, dtype=like.dtype)
        return (2 * u - 1) * _per_example(eps, like)

    def normalize_grad(self, grad: torch.Tensor) -> torch.Tensor:
        return grad.sign()

    def project(self, delta: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        e = _per_example(eps, delta)
        return torch.maximum(torch.minimum(delta, e), -e)

    def distance(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return _flat_norm(a - b, math.inf)


class L2Norm(Norm):
    name = "l2"

    def random_init(self, like: torch.Tensor, eps: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        # uniform in the ball: gaussian direction, radius eps * u^(1/d)
        direction = torch.randn(like.shape, generator=generator, device=like.device, dtype=like.dtype)
        direction = direction / _per_example(_flat_norm(direction, 2).clamp_min(_TINY), like)
        d = like[0].numel()
        u = torch.rand(like.shape[0], generator=generator, device=like.device, dtype=like.dtype)
        return direction * _per_example(eps * u.pow(1.0 / d), like)

    def normalize_grad(self, grad: torch.Tensor) -> torch.Tensor:
        return grad / _per_example(_flat_norm(grad, 2).clamp_min(_TINY), grad)

    def project(self, delta: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        n = _flat_norm(delta, 2)
        factor = torch.where(n > eps, eps / n.clamp_min(_TINY), torch.ones_like(n))
        return delta * _per_example(factor, delta)

    def distance(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return _flat_norm(a - b, 2)


NORMS.register("linf", LinfNorm(), aliases=("Linf", "inf"))
NORMS.register("l2", L2Norm(), aliases=("L2",))
