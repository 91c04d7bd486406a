"""rib's PGD against foolbox's LinfPGD and a plain PyTorch loop; rib's AutoAttack against pyautoattack direct.

Same committed models, same 1,000 mnist-5k test images, PGD Linf eps 0.3, 40 steps of 2.5·eps/40, random start,
one restart, all in one process. Prints wall time, robust accuracy and ratios. Targets: robust accuracy within 0.5
points of the peers; rib ≤ 0.3× foolbox on `standard` (early stopping); rib ≤ 1.05× the plain loop on `adv-linf`;
AutoAttack through rib ≤ 1.05× pyautoattack called directly.
Run: ``python tests/perf/bench_attacks.py [--n 1000] [--aa-n 100]``.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
from rib import create_model, load_dataset
from rib.attacks import create_attack
from rib.stats import stratified_indices

EPS, STEPS = 0.3, 40


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def plain_pgd(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int) -> float:
    """A textbook PGD loop: every example runs every step."""
    gen = torch.Generator().manual_seed(0)
    robust = 0
    step = 2.5 * EPS / STEPS
    for i in range(0, len(x), batch):
        xb, yb = x[i:i + batch], y[i:i + batch]
        delta = (torch.rand(xb.shape, generator=gen) * 2 - 1) * EPS
        delta = (xb + delta).clamp(0, 1) - xb
        for _ in range(STEPS):
            delta.requires_grad_(True)
            loss = F.cross_entropy(model(xb + delta), yb)
            (g,) = torch.autograd.grad(loss, delta)
            delta = (delta.detach() + step * g.sign()).clamp(-EPS, EPS)
            delta = (xb + delta).clamp(0, 1) - xb
        with torch.no_grad():
            robust += int((model(xb + delta).argmax(1) == yb).sum())
    return robust / len(x)


def foolbox_pgd(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int) -> float:
    import foolbox as fb

    fmodel = fb.PyTorchModel(model, bounds=(0, 1))
    attack = fb.attacks.LinfPGD(abs_stepsize=2.5 * EPS / STEPS, steps=STEPS, random_start=True)
    success = torch.cat([attack(fmodel, x[i:i + batch], y[i:i + batch], epsilons=[EPS])[2][0]
                         for i in range(0, len(x), batch)])
    return 1 - float(success.float().mean())


def rib_pgd(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int) -> float:
    return create_attack("pgd-linf", steps=STEPS)(model, x, y, [EPS], seed=0, batch_size=batch).robust_accuracy()[0]


def autoattack_direct(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    from pyautoattack import AutoAttack

    adversary = AutoAttack(model, norm="Linf", eps=EPS, version="standard", seed=0)
    x_adv, _ = adversary.run_standard_evaluation(x, y, batch_size=len(x))
    with torch.no_grad():
        return float((model(x_adv).argmax(1) == y).float().mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--aa-n", type=int, default=100, help="images for the AutoAttack comparison")
    parser.add_argument("--batch-size", type=int, default=500)
    args = parser.parse_args()
    x, y = load_dataset("mnist-5k", "test")
    idx = stratified_indices(y, args.n)
    x, y = x[idx], y[idx]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, n={len(y)}, "
          f"PGD linf eps {EPS}, {STEPS} steps")
    for model_id in ("standard", "adv-linf"):
        model = create_model(model_id)
        runs = {name: timed(lambda f=f, m=model: f(m, x, y, args.batch_size))
                for name, f in (("rib", rib_pgd), ("foolbox", foolbox_pgd), ("plain", plain_pgd))}
        for name, (acc, sec) in runs.items():
            print(f"{model_id:9s} {name:8s} {sec:8.1f} s   robust accuracy {100 * acc:5.1f}%")
        rib_acc, rib_s = runs["rib"]
        for peer in ("foolbox", "plain"):
            acc, sec = runs[peer]
            gap = 100 * (rib_acc - acc)
            print(f"{model_id:9s} rib/{peer}: time ratio {rib_s / sec:.3f}, accuracy gap {gap:+.1f} pts")
    aa_idx = stratified_indices(y, args.aa_n)
    xa, ya = x[aa_idx], y[aa_idx]
    for model_id in ("standard", "adv-linf"):
        model = create_model(model_id)
        direct, t_direct = timed(lambda m=model: autoattack_direct(m, xa, ya))
        ours, t_ours = timed(lambda m=model: create_attack("autoattack-linf")(m, xa, ya, [EPS], seed=0,
                                                                                 batch_size=len(ya)))
        print(f"{model_id:9s} autoattack: rib {t_ours:.1f} s ({100 * ours.robust_accuracy()[0]:.1f}%), direct "
              f"{t_direct:.1f} s ({100 * direct:.1f}%), overhead ratio {t_ours / t_direct:.3f}")


if __name__ == "__main__":
    main()
