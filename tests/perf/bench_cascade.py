"""AutoAttack on every example against the cascade (PGD-40 first, AutoAttack only on its survivors), same images.

For one robust and one undefended zoo model at the headline linf eps: the wall time of AutoAttack
(standard version) on all ``n`` images, and of the cascade on the same ``n`` (PGD's time included), with both
worst-case robust accuracies. The cascade's worst case must not exceed AutoAttack-alone's by more than sampling
noise (the two draw different random restarts), and its cost is the number to watch: goal ≤ 1.05× AutoAttack alone
on the robust model (never dearer) and ≤ 0.3× on the undefended one. Run on idle cores.

Run: ``python tests/perf/bench_cascade.py [--n 100] [--dataset mnist] [--robust adv-linf]
[--undefended standard] [--norm linf]``.
"""

from __future__ import annotations

import argparse
import time

import torch
from rib import create_model, load_dataset
from rib.attacks import create_attack
from rib.data import DEFAULT_DATASET, headline_eps
from rib.ensemble import attack_survivors
from rib.stats import stratified_indices


def measure(model_id: str, dataset: str, norm: str, n: int) -> dict[str, float]:
    """Seconds and worst-case accuracy of AutoAttack alone and of the cascade on the first ``n`` test images."""
    model = create_model(model_id, dataset)
    x, y = load_dataset(dataset, "test")
    idx = stratified_indices(y, n)
    x, y = x[idx], y[idx]
    eps = headline_eps(dataset, norm)
    aa = create_attack(f"autoattack-{norm}")
    start = time.perf_counter()
    alone = aa(model, x, y, [eps])
    t_alone = time.perf_counter() - start
    start = time.perf_counter()
    pgd = create_attack(f"pgd-{norm}")(model, x, y, [eps])
    last = attack_survivors(aa, model, x, y, eps, pgd.robust[:, 0])
    t_cascade = time.perf_counter() - start
    worst = pgd.robust[:, 0] & last.robust[:, 0]
    return {"alone_s": t_alone, "cascade_s": t_cascade, "alone_acc": float(alone.robust[:, 0].float().mean()),
            "cascade_acc": float(worst.float().mean()), "pgd_acc": float(pgd.robust[:, 0].float().mean()),
            "attacked": float(last.extras["attacked"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--dataset", default=DEFAULT_DATASET, help="where the zoo models are evaluated")
    parser.add_argument("--norm", default="linf", choices=("linf", "l2"))
    parser.add_argument("--robust", default="adv-linf")
    parser.add_argument("--undefended", default="standard")
    args, _ = parser.parse_known_args()
    print(f"torch threads: {torch.get_num_threads()}; n = {args.n}; {args.norm} at the headline eps")
    for role, model_id, goal in (("robust", args.robust, 1.05), ("undefended", args.undefended, 0.3)):
        r = measure(model_id, args.dataset, args.norm, args.n)
        ratio = r["cascade_s"] / r["alone_s"]
        print(f"{role:10s} {model_id:10s} AutoAttack alone {r['alone_s']:7.1f} s, "
              f"worst case {100 * r['alone_acc']:5.1f}%"
              f" | cascade {r['cascade_s']:7.1f} s (PGD {100 * r['pgd_acc']:.1f}%, AutoAttack on "
              f"{int(r['attacked'])} survivors), worst case {100 * r['cascade_acc']:5.1f}% | ratio {ratio:.2f} "
              f"(goal ≤ {goal})")


if __name__ == "__main__":
    main()
