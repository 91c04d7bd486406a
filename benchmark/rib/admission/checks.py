"""The admission checks themselves: cheap measurements of one model on test and held-out images, each a ``Check``
with a verdict (the package's docstring says what each one does and what follows from a failure)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from rib.attacks import attack_for, create_attack
from rib.attacks.pgd import random_delta
from rib.data import DATASETS, headline_eps, load_dataset
from rib.errors import RibError
from rib.flags import describe_flags
from rib.norms import NORMS
from rib.stats import stratified_indices, wilson_interval

DETERMINISTIC, BATCH, FINITE, LOGITS, GRADIENTS, GENERALIZES = (
    "deterministic", "batch_independent", "finite_under_perturbation", "logits", "usable_gradients", "generalizes")
REFUSE, MARK = "refuse", "mark"  # refused: nothing is attacked; marked: evaluated, never ranked or verified
CONSEQUENCES = {DETERMINISTIC: MARK, BATCH: REFUSE, FINITE: REFUSE, LOGITS: REFUSE, GRADIENTS: MARK, GENERALIZES: MARK}
CHECKS = tuple(CONSEQUENCES)

REPEAT_N, REPEATS, REPEAT_TOL = 32, 3, 1e-4  # tolerances: relative to max(1, the largest |logit|)
BATCH_N, BATCH_TOL = 16, 1e-3
FINITE_N, FINITE_DRAWS = 32, 4  # random points per image and norm, at the dataset's largest eps of that norm
LOGITS_N, PROBABILITY_TOL, PROBABILITY_SHARE = 64, 1e-3, 0.5  # test images and as many uniform-noise images
GRADIENT_N, GRADIENT_TOL, GRADIENT_SHARE = 64, 1e-7, 0.5
GENERALIZATION_N, GENERALIZATION_STEPS = 200, 10  # images per side; PGD steps (the same attack on both sides)

# what each check's stored flag means (value 1: failed); the site's glossary and hover texts read these
ADMISSION_FLAGS = describe_flags({
    f"admission:{DETERMINISTIC}": f"admission: {REPEATS} forward passes on the same {REPEAT_N} test images differ by "
                                  f"more than {REPEAT_TOL:g} of the largest logit: a randomized model, evaluated but "
                                  "never ranked or verified (rib does not run Expectation over Transformation)",
    f"admission:{BATCH}": f"admission: an image's logits alone, in its batch of {BATCH_N} and beside unrelated images "
                          f"differ by more than {BATCH_TOL:g} of the largest logit, or its class changes: refused",
    f"admission:{FINITE}": f"admission: NaN or infinite logits at random points of the largest linf and l2 eps balls "
                           f"around {FINITE_N} test images: refused",
    f"admission:{LOGITS}": f"admission: more than {PROBABILITY_SHARE:.0%} of the output rows lie in [0, 1] and sum to "
                           "1: probabilities, not logits (return their log): refused",
    f"admission:{GRADIENTS}": f"admission: the input gradient of the logit margin is missing, non-finite or below "
                              f"{GRADIENT_TOL:g} on more than {GRADIENT_SHARE:.0%} of {GRADIENT_N} test images: "
                              "evaluated with black-box and transfer attacks only, never ranked or verified",
    f"admission:{GENERALIZES}": f"admission: clean or PGD robust accuracy on {GENERALIZATION_N} held-out training "
                                f"images lies below that on {GENERALIZATION_N} test images, their 95% Wilson "
                                "intervals disjoint: a sign of memorized test images, never ranked or verified",
})


@dataclass(frozen=True)
class Check:
    """One check's outcome: ``passed`` (None: not judged, ``detail`` says why), the measured ``value`` against its
    ``threshold``, on ``n`` inputs, and one clause saying what was found."""

    name: str
    passed: bool | None
    value: float
    threshold: float
    n: int
    detail: str

    @property
    def consequence(self) -> str:
        """``refuse`` or ``mark`` (what follows when the check fails)."""
        return CONSEQUENCES[self.name]

    @property
    def failed(self) -> bool:
        return self.passed is False


def _logits(model: nn.Module, x: torch.Tensor, device: torch.device) -> torch.Tensor:
    with torch.no_grad():
        return model(x.to(device)).detach().float().cpu()


def _relative_gap(a: torch.Tensor, b: torch.Tensor) -> float:
    """The largest |a − b| relative to max(1, the largest |a|); NaN in both counts as equal, NaN in one as inf."""
    both_nan = torch.isnan(a) & torch.isnan(b)
    gap = torch.nan_to_num(torch.where(both_nan, torch.zeros_like(a), (a - b).abs()), nan=math.inf)
    scale = max(1.0, float(torch.nan_to_num(a.abs(), nan=0.0, posinf=0.0).max()))
    return float(gap.max()) / scale if gap.numel() else 0.0


def check_deterministic(model: nn.Module, x: torch.Tensor, device: torch.device) -> Check:
    """Repeated forward passes on the same inputs agree."""
    runs = [_logits(model, x, device) for _ in range(REPEATS)]
    gap = max(_relative_gap(runs[0], r) for r in runs[1:])
    ok = gap <= REPEAT_TOL
    detail = (f"{REPEATS} forward passes on the same {len(x)} test images agree" if ok else
              f"{REPEATS} forward passes on the same {len(x)} test images differ by up to {gap:.3g} of the largest "
              "logit: a randomized model")
    return Check(DETERMINISTIC, ok, gap, REPEAT_TOL, len(x), detail)


def check_batch_independent(model: nn.Module, x: torch.Tensor, others: torch.Tensor, device: torch.device) -> Check:
    """Each image's logits alone (a batch of 1), in its batch, and beside unrelated images (reversed, after them)."""
    together = _logits(model, x, device)
    alone = torch.cat([_logits(model, x[i:i + 1], device) for i in range(len(x))])
    beside = _logits(model, torch.cat([others, x.flip(0)]), device)[len(others):].flip(0)
    gap = max(_relative_gap(together, alone), _relative_gap(together, beside))
    preds = [together.argmax(1), alone.argmax(1), beside.argmax(1)]
    changed = int(((preds[0] != preds[1]) | (preds[0] != preds[2])).sum())
    ok = gap <= BATCH_TOL and changed == 0
    shown = min(len(x), 4)
    detail = (f"logits of {len(x)} test images do not depend on the rest of the batch" if ok else
              f"logits change with the rest of the batch by up to {gap:.3g} of the largest logit and {changed} of "
              f"{len(x)} classes change (first {shown}: {preds[0][:shown].tolist()} in one batch, "
              f"{preds[1][:shown].tolist()} one at a time)")
    return Check(BATCH, ok, gap, BATCH_TOL, len(x), detail)


def check_finite(model: nn.Module, x: torch.Tensor, dataset: str, device: torch.device, seed: int) -> Check:
    """Finite logits at random points of the largest eps ball of each norm (clipped to [0, 1])."""
    info = DATASETS.get(dataset)
    gen = torch.Generator().manual_seed(seed + 104729)
    balls = [(norm, max(eps)) for norm, eps in sorted(info.eps.items(), reverse=True) if norm in NORMS and eps]
    bad = total = 0
    for norm, eps in balls:
        radius = torch.full((len(x),), float(eps))
        for _ in range(FINITE_DRAWS):
            z = _logits(model, x + random_delta(NORMS.get(norm), x, radius, gen), device)
            bad += int((~torch.isfinite(z).all(dim=1)).sum())
            total += len(x)
    where = " and ".join(f"{norm} {eps:g}" for norm, eps in balls)
    detail = (f"logits are finite at {total} random points of the {where} balls" if not bad else
              f"logits are NaN or infinite at {bad} of {total} random points of the {where} balls around "
              f"{len(x)} test images")
    return Check(FINITE, bad == 0, bad / max(total, 1), 0.0, total, detail)


def check_logits(model: nn.Module, x: torch.Tensor, device: torch.device, seed: int) -> Check:
    """The outputs are not probability rows (every entry in [0, 1], summing to 1) on test images and noise."""
    noise = torch.rand(x.shape, generator=torch.Generator().manual_seed(seed + 7))
    z = _logits(model, torch.cat([x, noise]), device)
    inside = ((z >= -PROBABILITY_TOL) & (z <= 1 + PROBABILITY_TOL)).all(dim=1)
    rows = inside & ((z.sum(dim=1) - 1).abs() <= PROBABILITY_TOL)
    share = float(rows.float().mean())
    ok = share <= PROBABILITY_SHARE
    detail = ("the outputs are logits, not probability rows" if ok else
              f"{share:.0%} of {len(z)} output rows lie in [0, 1] and sum to 1: probabilities, not logits (return "
              "their log)")
    return Check(LOGITS, ok, share, PROBABILITY_SHARE, len(z), detail)


def check_gradients(model: nn.Module, x: torch.Tensor, y: torch.Tensor, device: torch.device) -> Check:
    """The input gradient of the logit margin (true class against the best other) is there, finite and not zero."""
    xg = x.to(device).detach().clone().requires_grad_(True)
    yd = y.to(device)
    with torch.enable_grad():
        z = model(xg)
        true = z.gather(1, yd.view(-1, 1)).squeeze(1)
        other = z.scatter(1, yd.view(-1, 1), float("-inf")).max(dim=1).values
        margin = (true - other).sum()
        grad = torch.autograd.grad(margin, xg, allow_unused=True)[0] if margin.requires_grad else None
    if grad is None:
        bad = torch.ones(len(x), dtype=torch.bool)
    else:
        flat = grad.detach().flatten(1).cpu()
        bad = ~torch.isfinite(flat).all(dim=1) | (torch.nan_to_num(flat).norm(dim=1) < GRADIENT_TOL)
    share = float(bad.float().mean())
    ok = share <= GRADIENT_SHARE
    detail = (f"input gradients are usable on {1 - share:.0%} of {len(x)} test images" if ok else
              f"the input gradient of the logit margin is missing, non-finite or zero on {share:.0%} of {len(x)} "
              "test images")
    return Check(GRADIENTS, ok, share, GRADIENT_SHARE, len(x), detail)


def _accuracies(model: nn.Module, x: torch.Tensor, y: torch.Tensor, norm: str, eps: float,
                seed: int) -> tuple[int, int]:
    """(clean-correct, PGD-robust) counts of ``GENERALIZATION_STEPS``-step PGD at ``eps``."""
    result = create_attack(attack_for("reference", norm), steps=GENERALIZATION_STEPS)(model, x, y, [eps], seed=seed)
    return int(result.clean_correct.sum()), int(result.robust[:, 0].sum())


def check_generalizes(model: nn.Module, dataset: str, norm: str, seed: int) -> Check:
    """Clean and PGD robust accuracy on held-out training images (``val``, never in the test split) are not below
    those on the test sample, beyond the overlap of their 95% Wilson intervals."""
    eps = headline_eps(dataset, norm)
    sides = []
    for split in ("test", "val"):
        x, y = load_dataset(dataset, split)
        idx = stratified_indices(y, GENERALIZATION_N)
        sides.append((len(idx), *_accuracies(model, x[idx], y[idx], norm, eps, seed)))
    (nt, clean_t, robust_t), (nv, clean_v, robust_v) = sides
    gaps, apart = [], []
    for what, kt, kv in (("clean", clean_t, clean_v), ("robust", robust_t, robust_v)):
        gaps.append(kt / nt - kv / nv)
        if wilson_interval(kt, nt)[0] > wilson_interval(kv, nv)[1]:
            apart.append(what)
    pct = "{:.1%}".format
    measured = (f"clean {pct(clean_t / nt)} and PGD-{GENERALIZATION_STEPS} {norm} {eps:g} robust "
                f"{pct(robust_t / nt)} on {nt} test images, {pct(clean_v / nv)} and {pct(robust_v / nv)} on {nv} "
                "held-out training images")
    detail = (measured if not apart else f"{measured}: {' and '.join(apart)} 95% intervals disjoint, a sign of "
              "memorized test images")
    return Check(GENERALIZES, not apart, max(gaps), 0.0, nt + nv, detail)


def _guard(name: str, threshold: float, n: int, measure: Callable[[], Check]) -> Check:
    """``measure()``'s check; an exception the model raises is the check failing (rib's own errors propagate)."""
    try:
        return measure()
    except RibError:
        raise
    except Exception as exc:  # anything an outside model raises on a valid input batch
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return Check(name, False, math.nan, threshold, n, f"the model fails ({type(exc).__name__}: {text})")


def run_checks(model: nn.Module, dataset: str, *, norm: str = "linf", device: torch.device | str = "cpu",
               seed: int = 0) -> tuple[Check, ...]:
    """Every check on ``model`` (eval mode, on ``device``, taking [0, 1] pixels of ``dataset``), in ``CHECKS``
    order. The batch check is not judged on a randomized model, and the generalization check (the dearest) does
    not run once a refusing check failed."""
    device = torch.device(device)
    model.eval()
    x, y = load_dataset(dataset, "test")

    def sample(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        idx = stratified_indices(y, n)
        return x[idx], y[idx]

    xs, ys = sample(max(GRADIENT_N, LOGITS_N, REPEAT_N, 2 * BATCH_N))
    det = _guard(DETERMINISTIC, REPEAT_TOL, REPEAT_N, lambda: check_deterministic(model, xs[:REPEAT_N], device))
    if det.passed:
        batch = _guard(BATCH, BATCH_TOL, BATCH_N,
                       lambda: check_batch_independent(model, xs[:BATCH_N], xs[BATCH_N:2 * BATCH_N], device))
    else:
        batch = Check(BATCH, None, math.nan, BATCH_TOL, 0, "not judged: the model is randomized")
    finite = _guard(FINITE, 0.0, FINITE_N, lambda: check_finite(model, xs[:FINITE_N], dataset, device, seed))
    logits = _guard(LOGITS, PROBABILITY_SHARE, 2 * LOGITS_N, lambda: check_logits(model, xs[:LOGITS_N], device, seed))
    grads = _guard(GRADIENTS, GRADIENT_SHARE, GRADIENT_N,
                   lambda: check_gradients(model, xs[:GRADIENT_N], ys[:GRADIENT_N], device))
    if any(c.failed and c.consequence == REFUSE for c in (batch, finite, logits)):
        general = Check(GENERALIZES, None, math.nan, 0.0, 0, "not run: the model is refused")
    else:
        general = _guard(GENERALIZES, 0.0, 2 * GENERALIZATION_N,
                         lambda: check_generalizes(model, dataset, norm, seed))
    return (det, batch, finite, logits, grads, general)
