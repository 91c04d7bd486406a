"""Automatic sanity checks of an evaluation (signs of gradient masking), stored as flags with each cell."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from rib.attacks.base import Attack, AttackResult, FixedEpsAttack
from rib.flags import describe_flags

CHECK_EXAMPLES = 64
# attacks whose eps sweep is re-attacked (non_monotone, large_eps_not_zero): not the ensemble, which would re-run
# every stage on the examples its cascade spared (its gradient stages are checked in their own cells)
SWEEP_KINDS = ("white-box",)
# what each flag of ``sanity_flags`` means (the site's glossary and hover texts read these)
SANITY_FLAGS = describe_flags({
    "vanishing_gradients": "more than 10% of the examples have a numerically zero input gradient of the logit "
                           "margin: gradient attacks get no direction (possible gradient masking)",
    "ce_saturation": "more than 10% of the correctly classified examples have a cross-entropy input gradient of norm "
                     "zero or below float32 eps (a saturated softmax): CE-based attacks get no direction",
    "non_monotone": "at the largest eps, the attack no longer finds more than 10% of the adversarials it found at the "
                    "smallest eps (re-attacked independently): the attack is unreliable on this model",
    "large_eps_not_zero": "at an eps where every input can reach the mid-gray image (linf 0.5, l2 0.5·√d) the attack "
                          "leaves more than 5% of a sample correct (minimum-norm attacks: more than 5% of examples "
                          "without any adversarial): a weak attack or gradient masking",
})


def very_large_eps(norm: str, x: torch.Tensor) -> float:
    """An eps at which every input can reach the mid-gray image, so every attack should reach ~0% accuracy."""
    return 0.5 if norm == "linf" else 0.5 * math.sqrt(x[0].numel())


def vanishing_gradient_share(model: nn.Module, x: torch.Tensor, y: torch.Tensor, tol: float = 1e-7) -> float:
    """Share of examples whose margin-loss input gradient (z_y − max_{j≠y} z_j) is numerically zero."""
    xg = x.detach().clone().requires_grad_(True)
    logits = model(xg)
    true = logits.gather(1, y.view(-1, 1)).squeeze(1)
    other = logits.scatter(1, y.view(-1, 1), float("-inf")).max(dim=1).values
    (grad,) = torch.autograd.grad((true - other).sum(), xg)
    return float((grad.flatten(1).norm(dim=1) < tol).float().mean())


def ce_saturation_share(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Share of examples whose cross-entropy input gradient has norm zero or below float32 eps (a saturated
    softmax: the loss every CE-based attack follows gives it no direction)."""
    xg = x.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(F.cross_entropy(model(xg), y, reduction="sum"), xg)
    return float((grad.flatten(1).norm(dim=1) <= torch.finfo(torch.float32).eps).float().mean())


def sanity_flags(attack: Attack, model: nn.Module, x: torch.Tensor, y: torch.Tensor, result: AttackResult, *,
                 seed: int = 0) -> dict[str, bool]:
    """Flags for one cell: vanishing margin gradients, saturated cross-entropy (``ce_saturation``); a white-box attack
    that, at a larger eps, no longer finds adversarials it found at a smaller one
    (``non_monotone``); one that cannot reach ~0% at a very large eps. Single-step attacks (FGSM) skip the last
    two: they are weak by design, not a sign of masking."""
    device = next(model.parameters()).device
    correct = result.clean_correct.nonzero().flatten()[:CHECK_EXAMPLES]
    flags: dict[str, bool] = {}
    if len(correct):
        share = vanishing_gradient_share(model, x[correct].to(device), y[correct].to(device))
        flags["vanishing_gradients"] = share > 0.1
        flags["ce_saturation"] = ce_saturation_share(model, x[correct].to(device), y[correct].to(device)) > 0.1
    if attack.kind not in SWEEP_KINDS or attack.single_step:
        return flags
    if attack.minimum_norm:
        d = result.distance[result.clean_correct]
        flags["large_eps_not_zero"] = bool(len(d)) and float((~torch.isfinite(d)).float().mean()) > 0.05
        return flags
    if not isinstance(attack, FixedEpsAttack) or not len(correct):
        return flags
    gen = torch.Generator(device=device).manual_seed(seed + 7919)
    fooled_small = (result.clean_correct & ~result.robust[:, 0]).nonzero().flatten()[:CHECK_EXAMPLES]
    if len(result.eps) > 1 and len(fooled_small):
        xs, ys = x[fooled_small].to(device), y[fooled_small].to(device)
        adv = attack._admissible(xs, attack.attack_batch(model, xs, ys, result.eps[-1], gen), result.eps[-1])
        with torch.no_grad():
            missed = float((model(adv).argmax(1) == ys).float().mean())
        flags["non_monotone"] = missed > 0.1
    big = very_large_eps(attack.norm_name, x)
    xs, ys = x[correct].to(device), y[correct].to(device)
    adv = attack._admissible(xs, attack.attack_batch(model, xs, ys, big, gen), big)
    with torch.no_grad():
        flags["large_eps_not_zero"] = float((model(adv).argmax(1) == ys).float().mean()) > 0.05
    return flags
