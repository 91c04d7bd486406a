"""The ``rib`` command line: parses arguments, calls the library, prints tables. No logic of its own."""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from rib.defaults import DEFAULT_DATASET, DEFAULT_TRAINING_DATASET
from rib.errors import EXIT_INTERRUPTED, ConfigError, RibError, RibWarning

if TYPE_CHECKING:
    from rib.verify import ClaimReproduction
    from rib.zoo import ModelCard

LISTABLE = ("models", "attacks", "metrics", "datasets", "defenses", "archs")
ONLY_KIND = {"attacks": "attack", "metrics": "metrics"}  # rib run --only → the kind of cell it keeps (or headline)


def _progress(args: argparse.Namespace) -> bool:
    """Progress bars only on a terminal, and never with --quiet."""
    return not args.quiet and sys.stderr.isatty()


# Each subcommand imports the library modules it needs when it runs, not at the top of this file, so that
# `rib --help`, `rib --version`, `rib ls` (models) and `rib ls datasets` answer without importing torch; a test
# checks it.


def _device_kind(name: str) -> str:
    """The kind of device a run would use (cpu or cuda), without requiring it: a dry run prices a GPU run here."""
    if name == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return name.partition(":")[0]


def _ls(args: argparse.Namespace) -> int:
    from rib import lists

    print(lists.render(args.what, dataset=args.dataset, models_dir=args.models_dir, wide=args.wide))
    return 0


def _train(args: argparse.Namespace) -> int:
    from rib import training
    from rib.lists import cards_table

    if args.all == bool(args.model):
        raise ConfigError("rib train needs exactly one of --model ID[,ID...] or --all")

    def trained(card: ModelCard) -> None:
        print(f"trained {card.id}: clean accuracy {card.provenance['test_accuracy']:.4f} in "
              f"{card.provenance['wall_time_s']}s", file=sys.stderr, flush=True)

    def skipped(model_id: str, card: Path) -> None:
        print(f"skipped {model_id}: {card} is finished (--force retrains it)", file=sys.stderr, flush=True)

    # a bar on a terminal, else a line per epoch (fit decides); nothing with --quiet
    options = training.TrainOptions(out_dir=Path(args.out), epochs=args.epochs, seed=args.seed, device=args.device,
                                    force=args.force, recalibrate=args.recalibrate, progress=not args.quiet)
    cards = training.train_models(None if args.all else args.model, args.dataset, options, skip_finished=args.all,
                                  on_trained=trained, on_skipped=skipped)
    print(cards_table(cards))
    return 0


def _rehome(args: argparse.Namespace) -> int:
    from rib.lists import cards_table
    from rib.zoo.rehome import rehome_cards

    cards = rehome_cards(args.model, args.source, args.target, Path(args.models), force=args.force)
    print(cards_table(cards))
    return 0


def _run(args: argparse.Namespace) -> int:
    from rib import engine
    from rib.executors import execute
    from rib.grid import parse_eps
    from rib.metric_cells import metric_names
    from rib.run_table import results_table
    from rib.store import ResultStore

    store = ResultStore(args.results)  # a store that cannot be one is refused before anything is planned
    if args.grid:
        cells = engine.plan_grid(args.grid, args.dataset, models=args.model, models_dir=args.models_dir)
        if args.attack:
            cells = engine.select_attacks(cells, args.attack)
    elif args.model and args.attack:
        cells = engine.plan_run(args.model, args.attack, args.dataset, eps=parse_eps(args.eps) if args.eps else None,
                                sampling=engine.Sampling(args.n, args.seed, args.batch_size),
                                metrics=metric_names(args.metrics) if args.metrics else [], models_dir=args.models_dir)
    else:
        raise ConfigError("rib run needs --model and --attack, or --grid NAME")
    if args.only:
        cells = engine.headline_cells(cells) if args.only == "headline" else \
            [c for c in cells if c.kind == ONLY_KIND[args.only]]
    if args.sample is not None:
        cells = engine.select_sample(cells, args.sample)
    if args.dry_run:
        table, stored, todo = engine.plan_table(cells, store, args.force, engine.price_reference(args.results),
                                                device=_device_kind(args.device))
        print(table)
        print(f"{len(cells)} cells, {stored} stored, {todo} to run")
        return 0
    done = 0

    def report(outcome: engine.CellOutcome) -> None:
        nonlocal done
        done += 1
        state = "stored earlier" if outcome.skipped else "done"
        print(f"[{done}/{len(cells)}] {outcome.cell.describe()}: {state}", file=sys.stderr, flush=True)

    outcomes = execute(cells, store, executor=args.executor, address=args.address,
                       options=engine.RunOptions(device=args.device, force=args.force, models_dir=args.models_dir,
                                                 progress=_progress(args), on_cell=report))
    print(results_table([r for o in outcomes for r in o.rows], wide=args.wide))
    return 0


def _release(args: argparse.Namespace) -> int:
    from rib.zoo.releases import write_release_cards

    trainings = [t.strip() for t in args.training.split(",") if t.strip()] if args.training else None
    written = write_release_cards(args.name, Path(args.out), dataset=args.dataset,
                                  trainings=trainings, force=args.force, measure=not args.no_measure)
    for path in written:
        print(path)
    print(f"{len(written)} cards written to {args.out}", file=sys.stderr)
    return 0


def _prune(args: argparse.Namespace) -> int:
    from rib import engine
    from rib.store import ResultStore

    store = ResultStore(args.results)
    stale = engine.stale_cells(args.grid, args.dataset, store, models_dir=args.models_dir)
    tables = engine.stale_tables(args.dataset, store, models_dir=args.models_dir)
    removals = [(path, store.remove) for path in stale] + [(path, store.remove_table) for path in tables]
    for path, remove in removals:
        print(("would remove " if args.dry_run else "removed ") + str(path))
        if not args.dry_run:
            remove(path)
    print(f"{len(stale)} stored cells of {args.dataset} are not in grid {args.grid!r}"
          + (f"; {len(tables)} derived tables of a dataset without models" if tables else ""), file=sys.stderr)
    return 0


def _verify(args: argparse.Namespace) -> int:
    from rib import verify
    from rib.errors import AdmissionError

    if args.zoo == bool(args.submission):
        raise ConfigError("rib verify needs a submission folder or --zoo (not both)")
    if args.tolerance < 0 or (args.n is not None and args.n < 1):
        raise ConfigError("--tolerance must be ≥ 0 and --n ≥ 1")
    if args.write_claims and not args.zoo:
        raise ConfigError("--write-claims goes with --zoo")
    rewritten = []
    if args.write_claims:  # first, so that --dry-run prints what verifying the new claims would run
        rewrite = verify.zoo_cards_with_new_claims if args.dry_run else verify.write_zoo_claims
        rewritten = rewrite(args.dataset, args.results, models_dir=args.models_dir)
        for card in rewritten:
            print(f"{'would write' if args.dry_run else 'wrote'} {len(card.claims)} claims into {card.path}",
                  file=sys.stderr)
    if args.dry_run:  # writes nothing, not even the claims --write-claims would write
        cards = rewritten or (verify.zoo_submissions(args.dataset, args.models_dir) if args.zoo else
                              [verify.load_submission(args.submission)])
        print("\n\n".join(verify.verification_dry_run(c, args.results, n=args.n, models_dir=args.models_dir)
                           for c in cards))
        return 0
    if args.zoo:
        cards = verify.zoo_submissions(args.dataset, args.models_dir)
    else:
        cards = [verify.load_submission(args.submission)]
    statuses = []
    for card in cards:
        try:  # a submission's admission failure is the error; a zoo card's a warning, and the others go on
            verify.admit_submission(card, args.results, device=args.device, zoo=args.zoo)
        except AdmissionError as exc:
            if not args.zoo:
                raise
            warnings.warn(str(exc), RibWarning, stacklevel=1)
            statuses.append(verify.NOT_ADMITTED)
            continue
        checks = verify.verify_card(card, n=args.n, tolerance=args.tolerance, device=args.device,
                                    models_dir=args.models_dir, progress=_progress(args))
        print(verify.checks_table(card, checks) + "\n")
        verify.write_record(card, checks, args.results)
        statuses.append(verify.card_status(card, checks))
    others = ", ".join(f"{statuses.count(s)} {s}" for s in verify.STATUSES if s != verify.VERIFIED and s in statuses)
    print(f"{statuses.count(verify.VERIFIED)} of {len(cards)} models verified" + (f" ({others})" if others else ""),
          file=sys.stderr)
    return 1 if verify.FAILED in statuses or verify.NOT_ADMITTED in statuses else 0


def _submit(args: argparse.Namespace) -> int:
    from rib import verify
    from rib.workflows.submit import SubmitOptions, submit, submit_dry_run

    if args.dry_run:
        print(submit_dry_run(args.submission, models_root=args.models, results=args.results, grid=args.grid,
                             n=args.n))
        return 0

    def verified(card: ModelCard, checks: list[ClaimReproduction]) -> None:
        print(verify.checks_table(card, checks))

    def installed(card: ModelCard) -> None:
        print(f"added {card.id} to {card.path}", file=sys.stderr)

    options = SubmitOptions(models_root=args.models, results=args.results, reports=args.reports, grid=args.grid,
                            n=args.n, force=args.force, device=args.device, executor=args.executor,
                            address=args.address, progress=_progress(args))
    done = submit(args.submission, options, on_verified=verified, on_installed=installed)
    print(done.index)
    return 0


def _report(args: argparse.Namespace) -> int:
    from rib.report import render_site

    index = render_site(args.results, args.out, models_dir=args.models_dir, pictures=args.pictures)
    print(index)
    if args.robustbench_json:
        from rib.report.robustbench_json import export_robustbench_json

        written = export_robustbench_json(args.results, args.robustbench_json, models_dir=args.models_dir)
        print(f"{len(written)} RobustBench model_info files in {args.robustbench_json}", file=sys.stderr)
    return 0


def _claims(args: argparse.Namespace) -> int:
    from rib import claims
    from rib.data import DATASETS

    args.dataset = DATASETS.canonical(args.dataset)  # an alias stores under the dataset's own name
    rows = claims.evaluate_claims(args.results, args.dataset)
    print(claims.claims_table(rows, wide=args.wide))
    print("\nReproduction: the papers' own numbers beside rib's\n" + claims.reproduction_table(rows))
    if not args.no_write:
        path = claims.write_claims(rows, args.results, args.dataset)
        print(f"written to {path}", file=sys.stderr)
    every = {**claims.stored_claims(args.results), args.dataset: rows}
    if len(every) > 1:
        print("\nAcross datasets (each from its stored claims table)\n" + claims.across_datasets_table(every))
    return 0


def _explain(args: argparse.Namespace) -> int:
    from rib.engine import resolve_models
    from rib.runtime import resolve_device
    from rib.workflows.explain import explain_figure
    from rib.zoo.factory import cached_model

    if args.n < 1 or args.n > 64:
        raise ConfigError(f"--n must be between 1 and 64 images, got {args.n}")
    device = resolve_device(args.device)
    cache: dict[str, Any] = {}
    for card in resolve_models(args.model, args.dataset, args.models_dir):
        out = Path(args.out) / card.dataset / f"{card.id}.png"
        explain_figure(cached_model(card, device, cache), card.id, card.dataset, out, n=args.n, norm=args.norm,
                       seed=args.seed)
        print(out)
    return 0


def _version() -> str:
    """rib's version, as installed (the package's metadata), without importing the library."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("rib")
    except PackageNotFoundError:
        return "unknown (not installed)"


def _option(*flags: str, **kwargs: Any) -> argparse.ArgumentParser:
    """A parent parser holding one option, for ``parents=[...]`` of every subcommand that takes it."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(*flags, **kwargs)
    return parent


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(prog="rib", description="Robustness-Interpretability Benchmark")
    parser.add_argument("--version", action="version", version=f"rib {_version()}")
    parser.add_argument("--plugin", action="append", default=[], metavar="MODULE",
                        help="import MODULE first: the attacks, metrics, defenses, architectures, datasets and "
                             "recipes it registers become usable by name (repeatable; also $RIB_PLUGINS and the "
                             "'rib.plugins' entry points of installed packages)")
    sub = parser.add_subparsers(dest="command", required=True)
    # options shared by several subcommands: one definition each (default and help), given as parents
    models_dir = _option("--models-dir", default=None, help="a folder of cards searched before the committed zoo")
    device = _option("--device", default="auto", help="auto, cpu or cuda")
    quiet = _option("--quiet", action="store_true", help="no progress bars")
    results = _option("--results", default="results", help="the result store (default ./results)")
    dataset = _option("--dataset", default=DEFAULT_DATASET, help=f"where models are evaluated (default "
                      f"{DEFAULT_DATASET}: MNIST's official test split)")
    executor = _option("--executor", default="local", choices=("local", "ray"),
                       help="local: one process, cell by cell; ray: one Ray task per cell (pip install 'rib[ray]')")
    address = _option("--address", default=None, help="with --executor ray: 'auto' or ray://HOST:PORT of a "
                      "running cluster (default: start a local Ray instance)")

    ls = sub.add_parser("ls", help=f"list {', '.join(LISTABLE[:-1])} or {LISTABLE[-1]}",
                        parents=[_option("--dataset", default=None, help="only this dataset (models)"), models_dir])
    ls.add_argument("what", nargs="?", default="models", choices=LISTABLE)
    ls.add_argument("--wide", action="store_true", help="print tables whole (default: within 100 columns)")
    ls.set_defaults(func=_ls)

    run = sub.add_parser("run", help="attack models; results go to the Parquet store",
                         parents=[dataset, device, results, models_dir, executor, address, quiet])
    run.add_argument("--model", help="model ids, comma-separated, wildcards allowed ('adv-*')")
    run.add_argument("--attack", help="attack names, comma-separated, wildcards allowed ('pgd-*'); with "
                     "--grid, only the grid's cells of these attacks (with the earlier stages of their cascades)")
    run.add_argument("--grid", help="run a grid: 'default' or a path to a grid .toml")
    run.add_argument("--eps", help="comma-separated eps (fractions allowed: 8/255); default: the grid's per norm")
    run.add_argument("--n", type=int, default=1000, help="test images (a seeded random stratified sample, nested: "
                     "a smaller n's images lie inside a larger n's)")
    run.add_argument("--metrics", help="interpretability metrics, comma-separated (`rib ls metrics`), on clean "
                     "inputs and on each attack's adversarial inputs at the headline eps")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--batch-size", type=int, default=500)
    run.add_argument("--force", action="store_true", help="recompute cells already in the store")
    run.add_argument("--only", choices=(*ONLY_KIND, "headline"), help="run only the attack cells, only the "
                     "metric cells, or only the cells the headline rests on (its ensemble cascades) of the plan")
    run.add_argument("--sample", help="with --grid: only the cells on this image set ('boopathy2020': the authors' "
                     "images of their protocol; 'rib': rib's own sample)")
    run.add_argument("--dry-run", action="store_true", help="list the planned cells and which are stored; run nothing")
    run.add_argument("--wide", action="store_true", help="print the full result table, one line per row (default: "
                     "fit 100 columns; every number is also in the store)")
    run.set_defaults(func=_run)

    pr = sub.add_parser("prune", help="remove stored cells that a grid no longer plans (stale settings or weights)",
                        parents=[dataset, results, models_dir])
    pr.add_argument("--grid", default="default")
    pr.add_argument("--dry-run", action="store_true", help="list what would be removed; remove nothing")
    pr.set_defaults(func=_prune)

    ve = sub.add_parser("verify", help="re-run a submission's (or the zoo's) claimed cells and compare",
                        parents=[dataset, _option("--results", default="results", help="where verification records "
                                                  "go (default ./results)"), device, models_dir, quiet])
    ve.add_argument("submission", nargs="?", help="a submission folder (card + weights) or its card")
    ve.add_argument("--zoo", action="store_true", help="verify every zoo model of --dataset against its card")
    ve.add_argument("--dry-run", action="store_true", help="print the cells verification would run, with an "
                    "estimate of their cost; run and write nothing (with --write-claims: for the claims it would "
                    "write)")
    ve.add_argument("--write-claims", action="store_true", help="with --zoo: first write each card's claims from "
                    "the stored results (clean, PGD and worst-case headline robust accuracy)")
    ve.add_argument("--n", type=int, default=None, help="measure every claim at this n (default: the headline's n, "
                    "200 on mnist, on rib's sample, whatever n the claims name)")
    ve.add_argument("--tolerance", type=float, default=0.015, help="metric claims only: largest accepted gap "
                    "relative to the measured value (0.015 = 1.5%%); accuracy claims are judged by their 95%% "
                    "interval")
    ve.set_defaults(func=_verify)

    sm = sub.add_parser("submit", help="verify a submission, add it to the zoo, run the grid for it, re-render",
                        parents=[results, device, executor, address, quiet])
    sm.add_argument("submission", help="a submission folder (card + weights) or its card")
    sm.add_argument("--models", default="models", help="the zoo folder it is added to (default ./models)")
    sm.add_argument("--reports", default="reports", help="the site folder (default ./reports)")
    sm.add_argument("--grid", default="default", help="the grid run for it (default: the standardized grid)")
    sm.add_argument("--n", type=int, default=None, help="verify every claim at this n (default: the headline's n)")
    sm.add_argument("--force", action="store_true", help="replace a zoo model with the same id")
    sm.add_argument("--dry-run", action="store_true", help="print the cells verification and the grid would run, "
                    "with an estimate of their cost; run, install and write nothing")
    sm.set_defaults(func=_submit)

    rp = sub.add_parser("report", help="render the static leaderboard site from the result store",
                        parents=[results, models_dir])
    rp.add_argument("--out", default="reports", help="the site's folder (default ./reports)")
    rp.add_argument("--pictures", default="reports/explain", metavar="DIR",
                    help="where `rib explain` wrote the attribution pictures (default reports/explain); a picture "
                         "missing under --out is copied from here")
    rp.add_argument("--robustbench-json", metavar="DIR", help="also export RobustBench model_info JSON files here")
    rp.set_defaults(func=_report)

    cl = sub.add_parser("claims", help="the papers' claims, evaluated on the stored results",
                        parents=[results, dataset])
    cl.add_argument("--no-write", action="store_true", help="print only; do not store claims.parquet")
    cl.add_argument("--wide", action="store_true", help="one line per claim, with the paper (default: fit 100 columns)")
    cl.set_defaults(func=_claims)

    ex = sub.add_parser("explain", help="a PNG of attributions (clean and adversarial) per model",
                        parents=[dataset, device, models_dir])
    ex.add_argument("--model", required=True, help="model ids, comma-separated, wildcards allowed")
    ex.add_argument("--n", type=int, default=8, help="test images (rows), 1-64")
    ex.add_argument("--norm", default="linf", choices=("linf", "l2"), help="the PGD attack's norm (headline eps)")
    ex.add_argument("--seed", type=int, default=0)
    ex.add_argument("--out", default="reports/explain", help="folder; writes OUT/<dataset>/<model>.png")
    ex.set_defaults(func=_explain)

    tr = sub.add_parser("train", help="train zoo models from their recipes", parents=[
        _option("--dataset", default=DEFAULT_TRAINING_DATASET, help="the recipes' training set "
                f"(default {DEFAULT_TRAINING_DATASET}: all 60,000 training images, from RIB_DATA_DIR; mnist-5k "
                "is embedded)"), device, quiet])
    tr.add_argument("--model", help="model id(s), comma-separated (see `rib ls models`)")
    tr.add_argument("--all", action="store_true", help="every recipe of the dataset, in dependency order; "
                    "models whose cards are in --out are skipped, a cut training resumes from its last epoch")
    tr.add_argument("--epochs", type=int, default=None, help="override the recipe's epochs")
    tr.add_argument("--seed", type=int, default=None, help="override the recipe's seed")
    tr.add_argument("--out", default="trained", help="where cards and weights go (default ./trained; "
                    "`--out models --force` regenerates the committed zoo)")
    tr.add_argument("--force", action="store_true", help="overwrite existing cards in --out")
    tr.add_argument("--recalibrate", action="store_true", help="rerun regularizer calibration sweeps")
    tr.set_defaults(func=_train)

    rl = sub.add_parser("release", help="write a card per network of an authors' release (e.g. boopathy2020)",
                        parents=[_option("--dataset", default=None, help="only this dataset's networks")])
    rl.add_argument("name", help="the release (rib ships boopathy2020)")
    rl.add_argument("--training", help="only these trainings, comma-separated (e.g. normal,adv,int)")
    rl.add_argument("--out", default="models", help="the zoo folder the cards go to (default ./models)")
    rl.add_argument("--force", action="store_true", help="replace cards already there")
    rl.add_argument("--no-measure", action="store_true", help="do not measure each network's clean accuracy on the "
                    "whole test split (which needs the dataset)")
    rl.set_defaults(func=_release)

    rh = sub.add_parser("rehome", help="evaluate cards on another dataset of their family: move them and their "
                        "weights (unchanged) to that dataset's folder; trained_on is kept, claims are dropped")
    rh.add_argument("--model", required=True, help="model ids, comma-separated, wildcards allowed ('*')")
    rh.add_argument("--from", dest="source", required=True, help="the dataset they are evaluated on now")
    rh.add_argument("--to", dest="target", required=True, help="the dataset to evaluate them on")
    rh.add_argument("--models", default="models", help="the zoo folder (default ./models)")
    rh.add_argument("--force", action="store_true", help="replace cards already in the target folder")
    rh.set_defaults(func=_rehome)
    return parser


def _one_line_warnings(outer: Callable[..., None]) -> Callable[..., None]:
    """A ``warnings.showwarning`` printing rib's own warnings as ``rib: warning: …``, others through ``outer``."""

    def show(message: Warning | str, category: type[Warning], filename: str, lineno: int,
             file: TextIO | None = None, line: str | None = None) -> None:
        if issubclass(category, RibWarning):
            print(f"rib: warning: {message}", file=sys.stderr, flush=True)
        else:
            outer(message, category, filename, lineno, file, line)

    return show


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rib`` console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        from rib.plugins import load_plugins

        load_plugins(args.plugin)
        with warnings.catch_warnings():  # rib's own warnings: one line each on stderr, each shown once
            warnings.simplefilter("default", RibWarning)
            warnings.showwarning = _one_line_warnings(warnings.showwarning)
            return int(args.func(args))
    except RibError as exc:
        print(f"rib: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("rib: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `rib ls metrics | head`: the reader left; end quietly, as a pipe's writer should
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
