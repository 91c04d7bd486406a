"""rib's shared training loop against a plain PyTorch loop, same model, data, batches and optimizer.

Prints both wall times per epoch and the ratio (target: rib ≤ 1.05× the plain loop), for standard training and
for PGD adversarial training. Run: ``python tests/perf/bench_training.py [--epochs N]``.
"""

from __future__ import annotations

import argparse
import math
import time

import torch
import torch.nn.functional as F
from rib import load_dataset
from rib.attacks import NORMS, PGDSettings, pgd_perturb
from rib.defenses import TrainContext, create_defense
from rib.defenses.loop import TrainConfig, fit
from rib.zoo import build_model


def plain_loop(defense: str, x: torch.Tensor, y: torch.Tensor, epochs: int) -> float:
    torch.manual_seed(0)
    model = build_model("cam-cnn", "mnist-5k").train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    total = epochs * math.ceil(len(x) / 50)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * s / total)))
    gen = torch.Generator().manual_seed(0)
    start = time.perf_counter()
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), 50):
            xb, yb = x[perm[i:i + 50]], y[perm[i:i + 50]]
            if defense == "adv-linf":
                model.eval()
                xb = pgd_perturb(model, xb, yb, NORMS.get("linf"), 0.3, PGDSettings(10), generator=gen)
                model.train()
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    return (time.perf_counter() - start) / epochs


def rib_loop(defense: str, x: torch.Tensor, y: torch.Tensor, epochs: int) -> float:
    torch.manual_seed(0)
    model = build_model("cam-cnn", "mnist-5k")
    params = {"eps": 0.3, "steps": 10, "step_size": 0.0, "ramp": 0.0} if defense == "adv-linf" else {}
    ctx = TrainContext("mnist-5k", torch.device("cpu"), torch.Generator().manual_seed(1))
    log = fit(model, create_defense(defense, "mnist-5k", params), x, y, TrainConfig(epochs=epochs), ctx)
    return float(log["wall_time_s"]) / epochs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--n", type=int, default=4000, help="training images")
    args = parser.parse_args()
    x, y = load_dataset("mnist-5k", "train")
    x, y = x[: args.n], y[: args.n]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {len(x)} images, {args.epochs} epochs")
    for defense in ("standard", "adv-linf"):
        plain = plain_loop(defense, x, y, args.epochs)
        ours = rib_loop(defense, x, y, args.epochs)
        print(f"{defense:9s} plain {plain:7.2f} s/epoch   rib {ours:7.2f} s/epoch   ratio rib/plain {ours / plain:.3f}"
              "   (target ≤ 1.05)")


if __name__ == "__main__":
    main()
