"""The ``Attack`` interface and its result; fixed-eps attacks share work across an eps sweep.

Every attack returns, per example: whether the clean input is classified correctly, whether it stays robust at
each eps, the smallest adversarial distance found, and an adversarial input that lies inside the largest eps ball.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, get_args

import torch
from torch import nn
from tqdm import tqdm

from rib.batching import batches
from rib.errors import ConfigError
from rib.evaluation import predict
from rib.models import ModelResolver
from rib.norms import NORMS, Norm, NormName
from rib.params import Parameterized
from rib.registry import Registry

AttackRole = Literal["single-step", "reference", "sweep-ensemble", "headline-ensemble", "minimum-norm", "transfer",
                     "black-box", "interpretation", "protocol", "other"]
"""What an attack is for, so that planners, checks, claims and the board ask for a role, never for a name:
``single-step`` (FGSM: cheap, too weak to decide a claim), ``reference`` (PGD: the first stage of every cascade and
the reference gradient attack), ``sweep-ensemble`` (APGD-CE plus APGD-T, at every eps off the headline),
``headline-ensemble`` (AutoAttack, standard), ``minimum-norm`` (boundary distances), ``transfer``, ``black-box``,
``interpretation`` (an attack on the explanation), ``protocol`` (an authors' own evaluation, reproduced), ``other``."""
ATTACK_ROLES: tuple[str, ...] = get_args(AttackRole)


@dataclass(frozen=True)
class AttackRun:
    """How an attack runs over its examples: the seed of its randomness, its batch size, and progress bars."""

    seed: int = 0
    batch_size: int = 500
    progress: bool = False


@dataclass
class AttackResult:
    """Per-example outcomes of one attack over an ascending eps list."""

    eps: list[float]
    clean_correct: torch.Tensor  # [N] bool
    robust: torch.Tensor  # [N, E] bool: correct and not fooled at eps[e]
    distance: torch.Tensor  # [N] float: smallest adversarial distance found (0 if misclassified, inf if none)
    x_adv: torch.Tensor  # [N, ...]: adversarial at the smallest eps that fooled, else the last try at max eps
    extras: dict[str, Any] = field(default_factory=dict)

    def robust_accuracy(self) -> list[float]:
        """Share of all examples still correctly classified at each eps."""
        return self.robust.float().mean(dim=0).tolist()

    def clean_accuracy(self) -> float:
        return float(self.clean_correct.float().mean())


class Attack(Parameterized, ABC):
    """An attack under one norm. Subclasses implement ``run``; ``__call__`` validates inputs."""

    params_kind = "attack"
    norm_name: ClassVar[NormName] = "linf"
    kind: ClassVar[str] = "white-box"  # white-box | black-box | transfer | interpretation | ensemble | protocol
    role: ClassVar[AttackRole] = "other"  # what the attack is for (``AttackRole``)
    minimum_norm: ClassVar[bool] = False
    strong: ClassVar[bool] = False  # a reference attack whose successes where PGD failed mark PGD unreliable
    revision: ClassVar[int] = 1  # bump when a change to the attack's code or defaults changes its numbers
    single_step: ClassVar[bool] = False  # one step, no search: exempt from the sweep checks, too weak for a claim
    sample: ClassVar[str] = ""  # an authors' protocol runs on their own images (``rib.stats.SAMPLES``); "": rib's

    def __init__(self, **params: Any) -> None:
        self.set_params(self.default_params(), params)

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        return {}

    def model_dependencies(self) -> dict[str, str]:
        """Other zoo models whose weights this attack's numbers depend on: role → model name."""
        return {}

    def bind(self, resolve: ModelResolver) -> None:
        """Load the other zoo models this attack needs (``model_dependencies``) through ``resolve``; the runner
        calls it before the attack runs. Most attacks need none: this default does nothing."""
        return None

    def not_applicable(self, model: nn.Module) -> str:
        """Why this attack cannot run on ``model`` ("" when it can); the runner then stores the reason, not numbers.
        Most attacks run on any differentiable model: this default says they can."""
        return ""

    @property
    def norm(self) -> Norm:
        return NORMS.get(self.norm_name)

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, epsilons: Sequence[float], *,
                 seed: int = 0, batch_size: int = 500, progress: bool = False) -> AttackResult:
        """Attack ``model`` on (x, y) at every eps; inputs in [0, 1], eps sorted ascending."""
        eps = [float(e) for e in epsilons]
        if not eps or any(e < 0 or not math.isfinite(e) for e in eps):
            raise ConfigError(f"{self.name}: eps must be a non-empty list of finite values ≥ 0, got {list(epsilons)}")
        if sorted(eps) != eps or len(set(eps)) != len(eps):
            raise ConfigError(f"{self.name}: eps must be strictly ascending, got {eps}")
        if x.dim() != 4 or y.dim() != 1 or len(x) != len(y):
            raise ConfigError(f"{self.name}: expected x [N,C,H,W] and y [N], got {tuple(x.shape)} and {tuple(y.shape)}")
        if not torch.isfinite(x).all() or x.min() < 0 or x.max() > 1:
            raise ConfigError(f"{self.name}: inputs must be finite and in [0, 1]")
        model.eval()
        return self.run(model, x, y, eps, seed=seed, batch_size=batch_size, progress=progress)

    @abstractmethod
    def run(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: list[float], *, seed: int,
            batch_size: int, progress: bool) -> AttackResult:
        """Attack validated inputs."""


class FixedEpsAttack(Attack):
    """An attack that searches inside one eps ball at a time.

    The sweep shares work: an example fooled at a smaller eps stays fooled at every larger eps (the same
    perturbation is admissible), so each larger eps attacks only the survivors. ``max_batch`` caps the batch an
    expensive attack sees at once (its progress then moves every few seconds); it is part of the attack, not of
    the display, so numbers never depend on whether a bar is shown.
    """

    max_batch: ClassVar[int | None] = None

    @abstractmethod
    def attack_batch(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float,
                     generator: torch.Generator) -> torch.Tensor:
        """Adversarial candidates for one batch of correctly classified examples, inside the eps ball."""

    def run(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: list[float], *, seed: int,
            batch_size: int, progress: bool) -> AttackResult:
        device = next(model.parameters()).device
        generator = torch.Generator(device=device).manual_seed(seed)
        clean_correct = predict(model, x, batch_size) == y
        n = len(y)
        robust = torch.zeros(n, len(eps), dtype=torch.bool)
        distance = torch.where(clean_correct, torch.tensor(math.inf), torch.tensor(0.0))
        x_adv = x.clone()
        alive = clean_correct.clone()
        correct = int(clean_correct.sum())
        chunk_size = min(batch_size, self.max_batch or batch_size)
        # the bar counts images attacked (or skipped, fooled at a smaller eps) over every eps, not eps values
        with tqdm(total=correct * len(eps), desc=self.name, disable=not progress, leave=False, unit="img") as bar:
            for e, epsilon in enumerate(eps):
                idx = alive.nonzero().flatten()
                bar.update(correct - len(idx))
                for (chunk,) in batches(idx, batch_size=chunk_size):
                    xb, yb = x[chunk].to(device), y[chunk].to(device)
                    adv = self.attack_batch(model, xb, yb, epsilon, generator)
                    adv = self._admissible(xb, adv, epsilon)
                    with torch.no_grad():
                        fooled = (model(adv).argmax(1) != yb).cpu()
                    x_adv[chunk] = adv.detach().cpu()
                    hit = chunk[fooled]
                    alive[hit] = False
                    distance[hit] = self.norm.distance(adv[fooled].cpu(), x[hit])
                    bar.update(len(chunk))
                robust[:, e] = alive
        return AttackResult(eps, clean_correct, robust, distance, x_adv)

    def _admissible(self, x: torch.Tensor, adv: torch.Tensor, eps: float) -> torch.Tensor:
        """Project onto the eps ball and [0, 1]: adapters' outputs are never trusted to be admissible."""
        eps_t = torch.full((len(x),), eps, device=x.device, dtype=x.dtype)
        delta = self.norm.project((adv - x).detach(), eps_t)
        return (x + delta).clamp(0, 1)


ATTACKS: Registry[type[Attack]] = Registry("attack", name_attr="name")
"""Attack classes by CLI name: ``@ATTACKS.decorator("pgd-linf", aliases=("pgd",))`` registers one and sets its
``name``."""


def create_attack(name: str, **params: Any) -> Attack:
    """Instantiate a registered attack with its defaults overridden by ``params``."""
    return ATTACKS.get(name)(**params)


def attacks_with_role(role: AttackRole, norm: str | None = None) -> list[str]:
    """The registered attacks playing ``role`` (under ``norm`` when given), by name."""
    return [n for n in ATTACKS.names() if ATTACKS.get(n).role == role
            and (norm is None or ATTACKS.get(n).norm_name == norm)]


def attack_for(role: AttackRole, norm: str) -> str:
    """The one registered attack playing ``role`` under ``norm`` (e.g. the reference PGD of linf); a ``ConfigError``
    where none or several do."""
    found = attacks_with_role(role, norm)
    if len(found) != 1:
        raise ConfigError(f"{'no' if not found else 'more than one'} {role} attack under {norm}"
                          f"{'' if not found else ': ' + ', '.join(found)}")
    return found[0]


def has_role(attack: str, *roles: AttackRole) -> bool:
    """Whether the registered attack ``attack`` plays one of ``roles`` (False for a name rib does not know)."""
    return attack in ATTACKS and ATTACKS.get(attack).role in roles
