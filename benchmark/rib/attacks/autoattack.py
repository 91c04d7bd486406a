"""Adapters to pyautoattack: APGD-CE, AutoAttack (standard version) and Square (black-box)."""

from __future__ import annotations

import contextlib
import io
import logging
from typing import Any, ClassVar

import torch
from torch import nn

from rib.attacks.base import ATTACKS, FixedEpsAttack

_AA_NORM = {"linf": "Linf", "l2": "L2"}


class _PyAutoAttack(FixedEpsAttack):
    version: ClassVar[str] = "standard"
    attacks_to_run: ClassVar[list[str] | None] = None

    def attack_batch(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float,
                     generator: torch.Generator) -> torch.Tensor:
        from pyautoattack import AutoAttack

        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator, device=generator.device))
        kwargs: dict[str, Any] = {"norm": _AA_NORM[self.norm_name], "eps": eps, "version": self.version,
                                  "seed": seed, "device": x.device}
        if self.attacks_to_run is not None:
            kwargs["attacks"] = list(self.attacks_to_run)
        adversary = AutoAttack(model, **kwargs)
        self.configure(adversary)
        quiet = logging.getLogger("autoattack")
        level = quiet.level
        quiet.setLevel(logging.WARNING)
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                x_adv, _ = adversary.run_standard_evaluation(x, y, batch_size=len(x))
        finally:
            quiet.setLevel(level)
        return x_adv.to(x.device)

    def configure(self, adversary: Any) -> None:
        """Set attack-specific knobs on the pyautoattack object."""


@ATTACKS.decorator("apgd-ce-linf")
class APGDCELinf(_PyAutoAttack):
    norm_name = "linf"
    version = "custom"
    attacks_to_run = ["apgd-ce"]


@ATTACKS.decorator("apgd-ce-l2")
class APGDCEL2(APGDCELinf):
    norm_name = "l2"


@ATTACKS.decorator("autoattack-linf", aliases=("aa-linf",))
class AutoAttackLinf(_PyAutoAttack):
    norm_name = "linf"
    kind = "ensemble"


@ATTACKS.decorator("autoattack-l2", aliases=("aa-l2",))
class AutoAttackL2(AutoAttackLinf):
    norm_name = "l2"


@ATTACKS.decorator("square-linf")
class SquareLinf(_PyAutoAttack):
    norm_name = "linf"
    kind = "black-box"
    version = "custom"
    attacks_to_run = ["square"]

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        return {"n_queries": 5000}

    def configure(self, adversary: Any) -> None:
        adversary.square.n_queries = int(self.params["n_queries"])


@ATTACKS.decorator("square-l2")
class SquareL2(SquareLinf):
    norm_name = "l2"
