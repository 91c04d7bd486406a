"""Attacks: rib's own FGSM/PGD, adapters to pyautoattack and foolbox, transfer attacks.

The norms live in ``rib.norms``; ``NORMS`` and the norm classes are re-exported here for the public API.
"""

from rib.attacks import autoattack, foolbox_attacks, gradient, interpretation, protocols, transfer  # noqa: F401
from rib.attacks.base import (
    ATTACK_ROLES,
    ATTACKS,
    Attack,
    AttackResult,
    AttackRole,
    AttackRun,
    FixedEpsAttack,
    attack_for,
    attacks_with_role,
    create_attack,
    has_role,
)
from rib.attacks.pgd import PGDSettings, ce_loss, default_step_size, pgd_perturb
from rib.norms import NORMS, L2Norm, LinfNorm, Norm

__all__ = [
    "ATTACKS",
    "ATTACK_ROLES",
    "NORMS",
    "Attack",
    "AttackResult",
    "AttackRole",
    "AttackRun",
    "FixedEpsAttack",
    "L2Norm",
    "LinfNorm",
    "Norm",
    "PGDSettings",
    "attack_for",
    "attacks_with_role",
    "ce_loss",
    "create_attack",
    "default_step_size",
    "has_role",
    "pgd_perturb",
]
