"""Attacks: rib's own FGSM/PGD, adapters to pyautoattack and foolbox, transfer attacks.

The norms live in ``rib.norms``; ``NORMS`` and the norm classes are re-exported here for the public API.
"""

from rib.attacks import autoattack, foolbox_attacks, gradient, interpretation, protocols, transfer  # noqa: F401
from rib.attacks.base import ATTACKS, Attack, AttackResult, FixedEpsAttack, create_attack
from rib.attacks.pgd import ce_loss, default_step_size, pgd_perturb
from rib.norms import NORMS, L2Norm, LinfNorm, Norm

__all__ = ["ATTACKS", "NORMS", "Attack", "AttackResult", "FixedEpsAttack", "L2Norm", "LinfNorm", "Norm", "ce_loss",
           "create_attack", "default_step_size", "pgd_perturb"]
