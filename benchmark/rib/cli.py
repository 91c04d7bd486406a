"""The ``rib`` command line: parses arguments, calls the library, prints tables. No logic of its own."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from rib.errors import RibError

LISTABLE = ("models", "datasets", "defenses", "archs")


def _ls(args: argparse.Namespace) -> int:
    from rib import lists

    print(lists.render(args.what, dataset=args.dataset, models_dir=args.models_dir))
    return 0


def _train(args: argparse.Namespace) -> int:
    from rib import training

    common = dict(out_dir=Path(args.out), epochs=args.epochs, seed=args.seed, device=args.device,
                  force=args.force, recalibrate=args.recalibrate, progress=not args.quiet)
    from rib.lists import cards_table

    if args.all == bool(args.model):
        raise RibError("rib train needs exactly one of --model ID[,ID...] or --all")
    ids = training.training_plan(args.dataset, None if args.all else args.model)
    cards = []
    for model_id in ids:
        cards.append(training.train_model(model_id, args.dataset, **common))
        print(f"trained {model_id}: clean accuracy {cards[-1].provenance['test_accuracy']:.4f} in "
              f"{cards[-1].provenance['wall_time_s']}s", file=sys.stderr, flush=True)
    print(cards_table(cards))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(prog="rib", description="Robustness-Interpretability Benchmark")
    sub = parser.add_subparsers(dest="command", required=True)

    ls = sub.add_parser("ls", help="list models, datasets, defenses or architectures")
    ls.add_argument("what", nargs="?", default="models", choices=LISTABLE)
    ls.add_argument("--dataset", default=None, help="only this dataset (models)")
    ls.add_argument("--models-dir", default=None, help="a folder of cards searched before the committed zoo")
    ls.set_defaults(func=_ls)

    tr = sub.add_parser("train", help="train zoo models from their recipes")
    tr.add_argument("--model", help="model id(s), comma-separated (see `rib ls models`)")
    tr.add_argument("--all", action="store_true", help="every recipe of the dataset, in dependency order")
    tr.add_argument("--dataset", default="mnist-5k")
    tr.add_argument("--epochs", type=int, default=None, help="override the recipe's epochs")
    tr.add_argument("--seed", type=int, default=None, help="override the recipe's seed")
    tr.add_argument("--device", default="auto", help="auto, cpu or cuda")
    tr.add_argument("--out", default="trained", help="where cards and weights go (default ./trained; "
                    "`--out models --force` regenerates the committed zoo)")
    tr.add_argument("--force", action="store_true", help="overwrite existing cards in --out")
    tr.add_argument("--recalibrate", action="store_true", help="rerun regularizer calibration sweeps")
    tr.add_argument("--quiet", action="store_true", help="no progress bars")
    tr.set_defaults(func=_train)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rib`` console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except RibError as exc:
        print(f"rib: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("rib: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
