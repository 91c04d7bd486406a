"""Attacks: norms as strategies, the shared PGD loop (the attack grid builds on these)."""

from rib.attacks.norms import NORMS, L2Norm, LinfNorm, Norm
from rib.attacks.pgd import ce_loss, default_step_size, pgd_perturb

__all__ = ["NORMS", "L2Norm", "LinfNorm", "Norm", "ce_loss", "default_step_size", "pgd_perturb"]
