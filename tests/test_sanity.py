"""Each per-cell sanity flag fires on a case built to raise it, and stays down on its honest counterpart."""

from __future__ import annotations

import logging

import torch
from rib.attacks import FixedEpsAttack
from rib.attacks.autoattack import AA_LOGGER, captured_warnings, warning_kind
from rib.sanity import sanity_flags
from torch import nn

EPS = [0.1, 0.3]


def _model(scale: float = 1.0) -> nn.Module:
    """Class 0 when the mean pixel is above 0.5, class 1 below (logits scaled by ``scale``)."""
    lin = nn.Linear(4, 2)
    with torch.no_grad():
        lin.weight.copy_(scale * torch.tensor([[1.0] * 4, [-1.0] * 4]))
        lin.bias.copy_(scale * torch.tensor([-2.0, 2.0]))
    return nn.Sequential(nn.Flatten(), lin).eval()


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.cat([torch.full((8, 1, 2, 2), 0.45), torch.full((8, 1, 2, 2), 0.55)])
    return x, torch.tensor([1] * 8 + [0] * 8)


class _Push(FixedEpsAttack):
    """Moves every pixel across 0.5 (fools at any eps ≥ 0.05); ``broken_above`` makes it do nothing above that eps."""

    name = "push"
    broken_above = float("inf")

    def attack_batch(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float,
                     generator: torch.Generator) -> torch.Tensor:
        return x if eps > self.broken_above else x + torch.sign(0.5 - x)


class _Broken(_Push):
    broken_above = 0.2


class _BrokenSingleStep(_Broken):
    single_step = True


def _flags(attack: FixedEpsAttack, scale: float = 1.0) -> dict[str, bool]:
    model, (x, y) = _model(scale), _data()
    return sanity_flags(attack, model, x, y, attack(model, x, y, EPS))


def test_an_honest_attack_on_a_smooth_model_raises_nothing() -> None:
    assert _flags(_Push()) == {"vanishing_gradients": False, "ce_saturation": False, "non_monotone": False,
                               "large_eps_not_zero": False}


def test_an_attack_that_stops_working_at_large_eps_is_flagged() -> None:
    flags = _flags(_Broken())
    assert flags["non_monotone"] and flags["large_eps_not_zero"]


def test_single_step_attacks_are_exempt_from_the_sweep_checks() -> None:
    flags = _flags(_BrokenSingleStep())
    assert "non_monotone" not in flags and "large_eps_not_zero" not in flags


def test_a_saturated_softmax_raises_ce_saturation_not_vanishing_gradients() -> None:
    flags = _flags(_Push(), scale=1000.0)
    assert flags["ce_saturation"] and not flags["vanishing_gradients"]


def test_a_zero_gradient_model_raises_vanishing_gradients() -> None:
    flags = _flags(_Push(), scale=0.0)  # constant logits: every input gradient is zero
    assert flags["vanishing_gradients"] and flags["ce_saturation"]


def test_autoattack_warnings_are_captured_by_kind() -> None:
    with captured_warnings() as messages:
        logging.getLogger(AA_LOGGER).warning('it seems to be a randomized defense! Please use version="rand".')
        logging.getLogger(AA_LOGGER).info("clean accuracy: 100%")
        logging.getLogger(AA_LOGGER).warning("there are 3 points with zero gradient! This might lead to …")
    assert [warning_kind(m) for m in messages] == ["randomized", "zero_gradients"]
    assert warning_kind("Square Attack has decreased the robust accuracy of 4.00%.") == "square_beats_gradient"
    assert warning_kind("something new") == "other"
    assert not logging.getLogger(AA_LOGGER).handlers
