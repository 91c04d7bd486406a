"""Interpretability-aware robust training, Int and Int2 (Boopathy et al., ICML 2020).

L = CE(x, y) + γ · D(x, x'), D the CAM interpretation discrepancy. Int finds x' by PGD-Linf ascent on D; Int2
by standard PGD on cross-entropy.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from rib.attacks.pgd import PGDSettings, pgd_perturb
from rib.defenses.adversarial import attack_in_eval, ramped_eps
from rib.defenses.base import DEFENSES, Defense, Logs
from rib.errors import ConfigError
from rib.explain.cam import interpretation_discrepancy
from rib.models import RobustModel
from rib.norms import NORMS


class _ProperInterpretability(Defense):
    attack_on: str = "discrepancy"
    PARAMS = ("gamma", "eps", "steps", "step_size", "ramp", "one_class")

    def threat_model(self) -> tuple[str, float]:
        return "linf", float(self.params["eps"])

    def _adversary(self, model: RobustModel, x: torch.Tensor, y: torch.Tensor, eps: float,
                   generator: torch.Generator) -> torch.Tensor:
        p = self.params
        step = p["step_size"] * eps / p["eps"] if p["step_size"] else None
        linf = NORMS.get("linf")
        if self.attack_on == "ce":
            return attack_in_eval(model, pgd_perturb, x, y, linf, eps, PGDSettings(p["steps"], step),
                                  generator=generator)

        with torch.no_grad():
            cam_clean = model.cam(x)

        def discrepancy(_m: torch.nn.Module, x_adv: torch.Tensor, yy: torch.Tensor) -> torch.Tensor:
            # pgd_perturb passes back the model it was given: ``model``, whose CAM type the closure keeps
            return interpretation_discrepancy(model, x, x_adv, yy, one_class=bool(p["one_class"]), cam_clean=cam_clean)

        return attack_in_eval(model, pgd_perturb, x, y, linf, eps, PGDSettings(p["steps"], step, loss_fn=discrepancy),
                              generator=generator)

    def loss(self, model: RobustModel, x: torch.Tensor, y: torch.Tensor, aux: dict[str, torch.Tensor],
             progress: float, generator: torch.Generator) -> tuple[torch.Tensor, Logs]:
        if not model.supports_cam:
            raise ConfigError(f"{self.name} needs a CAM-capable architecture (conv map → GAP → bias-free linear)")
        eps = ramped_eps(self.params["eps"], progress, self.params["ramp"])
        x_adv = self._adversary(model, x, y, eps, generator)
        ce = F.cross_entropy(model(x), y)
        disc = interpretation_discrepancy(model, x, x_adv, y, one_class=bool(self.params["one_class"])).mean()
        return ce + self.params["gamma"] * disc, {"ce": ce.item(), "discrepancy": disc.item(), "eps": eps}


@DEFENSES.decorator("proper-int", aliases=("int", "boopathy-int"))
class ProperInt(_ProperInterpretability):
    paper = "Boopathy et al., ICML 2020 (Int)"
    attack_on = "discrepancy"


@DEFENSES.decorator("proper-int2", aliases=("int2", "boopathy-int2"))
class ProperInt2(_ProperInterpretability):
    paper = "Boopathy et al., ICML 2020 (Int2)"
    attack_on = "ce"
