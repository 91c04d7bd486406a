"""Adapters to pyautoattack: APGD-CE, AutoAttack (standard version) and Square (black-box).

pyautoattack logs its own checks (a randomized or dynamic defense, zero gradients, Square beating the gradient
attacks, …) as warnings of the logger ``auto-attack``; the adapters capture them and return their kinds in
``AttackResult.extras["autoattack_warnings"]``, which the runner stores as ``flag:autoattack_warning:<kind>``.
"""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Iterator
from typing import Any, ClassVar

import torch
from torch import nn

from rib.attacks.base import ATTACKS, AttackResult, FixedEpsAttack
from rib.norms import NormName

_AA_NORM = {"linf": "Linf", "l2": "L2"}
AA_LOGGER = "auto-attack"
# a phrase of each warning pyautoattack's checks log (pyautoattack/checks.py) → its short kind
AA_WARNINGS = {
    "seems to be a randomized defense": "randomized",
    "output is a probability distribution": "probability_output",
    "seems to be a dynamic defense": "dynamic",
    "points with zero gradient": "zero_gradients",
    "Square Attack has decreased the robust accuracy": "square_beats_gradient",
    "not possible to use the": "too_few_classes",
    "more target classes": "too_many_targets",
}


AA_WARNING_DESCRIPTION = ("pyautoattack's own check logged a warning of this kind (randomized or dynamic defense, "
                          "probability outputs, zero gradients, Square beating the gradient attacks, too few classes "
                          "or too many targets): its numbers may overstate robustness")


def warning_kind(message: str) -> str:
    """The short kind of one pyautoattack warning text ("other" for a text rib does not know)."""
    return next((kind for phrase, kind in AA_WARNINGS.items() if phrase in message), "other")


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextlib.contextmanager
def captured_warnings() -> Iterator[list[str]]:
    """Collect the warnings pyautoattack logs inside the block (and keep them off the console: rib stores them)."""
    logger = logging.getLogger(AA_LOGGER)
    handler, level, propagate = _Collect(), logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING)
    logger.propagate = False
    try:
        yield handler.messages
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate


class _PyAutoAttack(FixedEpsAttack):
    version: ClassVar[str] = "standard"
    attacks_to_run: ClassVar[list[str] | None] = None
    max_batch = 25  # AutoAttack spends seconds per robust image on a CPU: the bar moves every 25 images

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._warnings: set[str] = set()

    def run(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: list[float], *, seed: int,
            batch_size: int, progress: bool) -> AttackResult:
        self._warnings = set()
        result = super().run(model, x, y, eps, seed=seed, batch_size=batch_size, progress=progress)
        result.extras["autoattack_warnings"] = sorted(self._warnings)
        return result

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
        with captured_warnings() as messages, contextlib.redirect_stdout(io.StringIO()):
            x_adv, _ = adversary.run_standard_evaluation(x, y, batch_size=len(x))
        self._warnings.update(warning_kind(m) for m in messages)
        return x_adv.to(x.device)

    def configure(self, adversary: Any) -> None:
        """Set attack-specific knobs on the pyautoattack object."""


@ATTACKS.decorator("apgd-ce-linf")
class APGDCELinf(_PyAutoAttack):
    norm_name: ClassVar[NormName] = "linf"
    version = "custom"
    attacks_to_run = ["apgd-ce"]
    strong = True


@ATTACKS.decorator("apgd-ce-l2")
class APGDCEL2(APGDCELinf):
    norm_name = "l2"


@ATTACKS.decorator("apgd-linf", aliases=("apgd-ce-t-linf",))
class APGDPairLinf(_PyAutoAttack):
    role = "sweep-ensemble"
    """APGD-CE then APGD-T (9 target classes): AutoAttack's two gradient attacks, about a tenth of its cost on a
    robust image. The ensemble where AutoAttack's FAB-T and Square cost too much (the eps off the headline)."""

    norm_name: ClassVar[NormName] = "linf"
    kind = "ensemble"
    version = "custom"
    attacks_to_run = ["apgd-ce", "apgd-t"]
    strong = True

    def configure(self, adversary: Any) -> None:
        adversary.apgd.n_restarts = 1  # as the standard version sets them
        adversary.apgd_targeted.n_target_classes = 9
        adversary.apgd_targeted.n_restarts = 1


@ATTACKS.decorator("apgd-l2", aliases=("apgd-ce-t-l2",))
class APGDPairL2(APGDPairLinf):
    norm_name = "l2"


@ATTACKS.decorator("autoattack-linf", aliases=("aa-linf",))
class AutoAttackLinf(_PyAutoAttack):
    role = "headline-ensemble"
    """The standard ensemble (APGD-CE, APGD-T, FAB-T, Square): neither white-box nor black-box."""

    norm_name: ClassVar[NormName] = "linf"
    kind = "ensemble"
    strong = True


@ATTACKS.decorator("autoattack-l2", aliases=("aa-l2",))
class AutoAttackL2(AutoAttackLinf):
    norm_name = "l2"


@ATTACKS.decorator("square-linf")
class SquareLinf(_PyAutoAttack):
    role = "black-box"
    norm_name: ClassVar[NormName] = "linf"
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
