"""Export rib's results in RobustBench's ``model_info`` JSON format, ready for a RobustBench submission.

One file per model and threat model: ``<out>/<dataset>/<Linf|L2>/<model>.json`` with RobustBench's fields
(clean and AutoAttack accuracy as strings with two decimals in %, eps as RobustBench writes it). Only models with
a stored AutoAttack cell at that norm's headline eps on their current weights are exported; the accuracies come
from that cell (the PGD → AutoAttack cascade, clean accuracy on its own images). ``unreliable`` is computed,
not set by hand: true when the model is kept off rib's ranking under that norm (a failed admission check or an
unresolved masking flag, ``rib.report.gating``).
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path
from typing import Any

from rib.attacks import has_role
from rib.data import DATASETS, headline_eps
from rib.eps import at_eps
from rib.report.gating import unranked_reasons
from rib.report.site import slug
from rib.report.tables import current_weights
from rib.store import load_results
from rib.zoo import list_cards

NORM_NAMES = {"linf": "Linf", "l2": "L2"}


def _eps_text(eps: float) -> str:
    frac = Fraction(eps).limit_denominator(255)
    return f"{frac.numerator}/{frac.denominator}" if frac.denominator == 255 else f"{eps:g}"


def export_robustbench_json(results: Path | str, out: Path | str, *, models_dir: Any = None) -> list[Path]:
    """Write the model_info files; returns their paths."""

    df = current_weights(load_results(results), models_dir)  # never an older weights' cell
    aa = df[df["attack"].map(lambda a: has_role(str(a), "headline-ensemble")).astype(bool)
            & df["metric"].isin(["clean_accuracy", "robust_accuracy"])]
    written = []
    for (dataset, model, _attack), rows in aa.groupby(["dataset", "model", "attack"]):
        cards = {c.id: c for c in list_cards(str(dataset), models_dir)}
        card = cards.get(str(model))
        robust_rows = rows[rows["metric"] == "robust_accuracy"]
        if dataset in DATASETS:  # the headline eps's number, where the dataset has one
            robust_rows = robust_rows[at_eps(robust_rows["eps"], headline_eps(str(dataset), str(rows["norm"].iloc[0])))]
        if robust_rows.empty:  # an AutoAttack cell off the headline eps only
            continue
        robust = robust_rows.sort_values("n").iloc[-1]
        clean = rows[(rows["metric"] == "clean_accuracy") & (rows["cell_id"] == robust["cell_id"])].iloc[0]
        same = (df["dataset"] == dataset) & (df["model"] == model) & (df["weights_sha256"] == robust["weights_sha256"])
        mine = df[same]
        info = {
            "link": card.paper if card and card.paper else "",
            "name": f"rib {model}: {card.description}" if card and card.description else f"rib {model}",
            "authors": ", ".join(card.authors) if card and card.authors else "",
            "additional_data": False,
            "number_forward_passes": 1,
            "dataset": str(dataset),
            "venue": "",
            "architecture": card.arch if card else "",
            "eps": _eps_text(float(robust["eps"])),
            "clean_acc": f"{100 * float(clean['value']):.2f}",
            "reported": "",
            "autoattack_acc": f"{100 * float(robust['value']):.2f}",
            "footnote": f"Measured by rib {robust['rib_version']} (git {str(robust['git_sha'])[:10]}) on "
                        f"{int(robust['n'])} test images of {dataset}.",
            "unreliable": bool(unranked_reasons(mine, str(robust["norm"]))),
        }
        path = Path(out) / str(dataset) / NORM_NAMES[str(robust["norm"])] / f"{slug(str(model))}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(info, indent=2, sort_keys=False) + "\n", encoding="utf-8")
        written.append(path)
    return written
