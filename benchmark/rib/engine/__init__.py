"""rib's engine: planning cells (``plan``), pricing them (``cost``), evaluating them with one evaluator per cell
kind (``evaluate``), building their stored rows (``rows``), and the run context they share (``context``)."""

from rib.engine.context import RunContext
from rib.engine.cost import cost_reference, estimate_seconds, plan_table, price_reference
from rib.engine.evaluate import (
    EVALUATORS,
    CellInputs,
    CellOutcome,
    RunOptions,
    add_black_box_checks,
    cascade_inputs,
    check_cell,
    evaluate_cell,
    reused_inputs,
    run_cells,
    stored_outcome,
)
from rib.engine.plan import (
    NORM_LIMITS,
    EpsSpec,
    attack_dependencies,
    cascade_after,
    cascade_waves,
    eps_per_norm,
    headline_cells,
    nest_ensembles,
    plan_cell,
    plan_grid,
    plan_metric_cell,
    plan_run,
    resolve_models,
    select_attacks,
    select_sample,
    stale_cells,
    stale_tables,
    with_cascades,
    zoo_registry,
)
from rib.engine.rows import attack_rows, base_row, example_columns, not_applicable_reason, not_applicable_row
from rib.grid import Sampling

__all__ = ["EVALUATORS", "NORM_LIMITS", "CellInputs", "CellOutcome", "EpsSpec", "RunContext", "RunOptions", "Sampling",
           "add_black_box_checks", "attack_dependencies", "attack_rows", "base_row", "cascade_after", "cascade_inputs",
           "cascade_waves", "check_cell", "cost_reference", "eps_per_norm", "estimate_seconds", "evaluate_cell",
           "example_columns", "headline_cells", "nest_ensembles", "not_applicable_reason", "not_applicable_row",
           "plan_cell", "plan_grid", "plan_metric_cell", "plan_run", "plan_table", "price_reference", "resolve_models",
           "reused_inputs", "run_cells", "select_attacks", "select_sample", "stale_cells", "stale_tables",
           "stored_outcome", "with_cascades", "zoo_registry"]
