"""``rib submit``: admit a submission, verify its claims, add it to the zoo, run the grid for it, re-render the site.

It uses ``rib.verify`` (admission, claims), ``rib.executors`` (the grid) and ``rib.report`` (the site), so it lives
above all three; none of them imports it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rib.engine import CellOutcome, RunOptions, plan_grid, plan_table, price_reference
from rib.errors import ConfigError, RibError
from rib.executors import check_executor, execute
from rib.files import atomic_copy
from rib.report import render_site
from rib.store import ResultStore
from rib.verify import (
    ClaimReproduction,
    admit_submission,
    load_submission,
    verification_dry_run,
    verify_card,
    write_record,
)
from rib.zoo import ModelCard, write_card
from rib.zoo.cards import read_card


def install_submission(card: ModelCard, models_root: Path | str, *, force: bool = False) -> ModelCard:
    """Copy a verified submission's card and weights into ``<models_root>/<dataset>/`` (never over an existing
    model without ``force``); returns the installed card."""
    folder = Path(models_root) / card.dataset
    dest = folder / f"{card.id}.toml"
    if dest.exists() and not force:
        raise ConfigError(f"{dest} exists: a model with id {card.id!r} is already in the zoo (--force replaces it)")
    atomic_copy(card.weights_path, folder / card.weights_file)
    installed = read_card(card.path) if card.path else card
    write_card(installed, dest)
    return read_card(dest)


@dataclass
class Submission:
    """What ``submit`` did: the installed card, each claim's reproduction, the grid's outcomes and the site's index."""

    card: ModelCard
    checks: list[ClaimReproduction]
    outcomes: list[CellOutcome]
    index: Path


@dataclass(frozen=True)
class SubmitOptions:
    """Where ``rib submit`` works and how: the zoo (``models_root``), the result store and the site, the grid run
    for the submission, the n claims are verified at (None: rib's), whether an existing zoo model of the same id is
    replaced (``force``), the device, the executor (``local`` or ``ray``, at ``address``), and progress bars."""

    models_root: Path | str = "models"
    results: Path | str = "results"
    reports: Path | str = "reports"
    grid: str = "default"
    n: int | None = None
    force: bool = False
    device: str = "auto"
    executor: str = "local"
    address: str | None = None
    progress: bool = False


_DEFAULT_SUBMIT = SubmitOptions()


def submit(submission: Path | str, options: SubmitOptions = _DEFAULT_SUBMIT, *,
           on_verified: Callable[[ModelCard, list[ClaimReproduction]], None] | None = None,
           on_installed: Callable[[ModelCard], None] | None = None,
           on_cell: Callable[[CellOutcome], None] | None = None) -> Submission:
    """Admit a submission (``rib.admission``, stored in ``options.results``), verify its claims (recording the
    verification), add it to the zoo under ``options.models_root``, run ``options.grid`` for it with
    ``options.executor`` and re-render the site.

    Raises ``AdmissionError`` when an admission check fails and ``RibError`` (after recording the checks) when a
    claim does not reproduce; nothing is installed then. ``on_verified`` sees the checks before that decision,
    ``on_installed`` the installed card, ``on_cell`` each finished cell.
    """
    o = options
    models_root, results, device, executor, address = o.models_root, o.results, o.device, o.executor, o.address
    check_executor(executor, address)
    card = load_submission(submission)
    admit_submission(card, results, device=device)
    checks = verify_card(card, n=o.n, device=device, progress=o.progress)
    if on_verified:
        on_verified(card, checks)
    write_record(card, checks, results)
    if not all(c.reproduced for c in checks):
        raise RibError(f"{card.id} does not reproduce its claims: not added to the zoo")
    installed = install_submission(card, models_root, force=o.force)
    if on_installed:
        on_installed(installed)
    cells = plan_grid(o.grid, installed.dataset, models=installed.id, models_dir=models_root)
    run = RunOptions(device=device, models_dir=models_root, progress=o.progress, on_cell=on_cell)
    outcomes = execute(cells, ResultStore(results), run, executor=executor, address=address)
    return Submission(installed, checks, outcomes, render_site(results, o.reports, models_dir=models_root))


def submit_dry_run(submission: Path | str, *, models_root: Path | str = "models", results: Path | str = "results",
                   grid: str = "default", n: int | None = None) -> str:
    """What ``rib submit --dry-run`` prints: the verification's cells, then the grid's cells for the submission
    as ``submit`` would plan them beside the zoo in ``models_root``, each priced from stored cells like it
    (``rib.engine.estimate_seconds``); nothing runs, nothing is written."""
    card = load_submission(submission)
    verification = verification_dry_run(card, results, n=n)
    cells = plan_grid(grid, card.dataset, cards=[card], models_dir=models_root)
    table, stored, todo = plan_table(cells, ResultStore(results), False, price_reference(results))
    return (f"{verification}\n\nthen, once added to the zoo, grid {grid!r}: {len(cells)} cells, {stored} stored, "
            f"{todo} to run\n{table}")
