"""Hold rib's headline against AutoAttack called directly: pyautoattack's ``AutoAttack(version="standard")`` on the
model alone (no PGD stage, no cascade, no rib code between them), on rib's own headline sample, against the per-example
worst case rib stored for the same images.

Run after ``rib run --grid default``: ``python tests/perf/check_autoattack_direct.py --model adv-linf --norm linf
[--n 200] [--results results]``. Prints both robust accuracies with their 95% Wilson intervals, the images each
counts robust that the other does not, and whether the gap lies within rib's interval. Costs what AutoAttack costs
(about 6 s per robust image on 2 CPU cores).
"""

from __future__ import annotations

import argparse
import time

import torch
from pyautoattack import AutoAttack
from rib import create_model, load_dataset
from rib.data import headline_eps
from rib.report.tables import StoreView, per_example_known
from rib.stats import stratified_indices, wilson_interval


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="adv-linf")
    parser.add_argument("--norm", default="linf", choices=("linf", "l2"))
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--n", type=int, default=200, help="images of rib's headline sample (nested: 100 ⊂ 200)")
    parser.add_argument("--results", default="results")
    parser.add_argument("--batch-size", type=int, default=100)
    args = parser.parse_args()
    eps = headline_eps(args.dataset, args.norm)
    model = create_model(args.model, args.dataset).eval()
    x, y = load_dataset(args.dataset, "test")
    idx = stratified_indices(y, args.n)
    start = time.perf_counter()
    adversary = AutoAttack(model, norm="Linf" if args.norm == "linf" else "L2", eps=eps, version="standard",
                           seed=0, device="cpu")
    x_adv, _ = adversary.run_standard_evaluation(x[idx], y[idx], batch_size=args.batch_size)
    seconds = time.perf_counter() - start
    with torch.no_grad():
        theirs = (model(x_adv).argmax(1) == y[idx]) & (model(x[idx]).argmax(1) == y[idx])
    view = StoreView.load(args.results)
    known = per_example_known(view, args.dataset)
    known = known[(known["model"] == args.model) & (known["norm"] == args.norm) & ((known["eps"] - eps).abs() < 1e-9)
                  & known["ensemble"].astype(bool)]
    mine = known.set_index("index")["robust"].astype(bool)
    shared = [int(i) for i in idx.tolist() if int(i) in mine.index]
    if len(shared) < len(idx):
        raise SystemExit(f"rib's store holds the worst case of {len(shared)} of these {len(idx)} images: run the grid")
    ours = torch.tensor([bool(mine.loc[i]) for i in idx.tolist()])
    for name, robust in (("AutoAttack alone", theirs), ("rib's worst case", ours)):
        k = int(robust.sum())
        lo, hi = wilson_interval(k, len(robust))
        print(f"{name:18s} {100 * k / len(robust):5.1f}% [{100 * lo:.1f}, {100 * hi:.1f}] of n = {len(robust)}")
    only_aa, only_rib = int((theirs & ~ours).sum()), int((ours & ~theirs).sum())
    lo, hi = wilson_interval(int(ours.sum()), len(ours))
    gap = float(ours.float().mean() - theirs.float().mean())
    print(f"robust only under AutoAttack alone: {only_aa}; only in rib's worst case: {only_rib} (rib counted robust "
          f"what AutoAttack alone fooled)")
    print(f"gap rib - AutoAttack: {100 * gap:+.1f} points; rib's interval half-width {100 * (hi - lo) / 2:.1f}; "
          f"{'within' if abs(gap) <= (hi - lo) / 2 else 'BEYOND'} it; AutoAttack took {seconds:.0f} s")


if __name__ == "__main__":
    main()
