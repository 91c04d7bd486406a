"""What ``rib ls`` prints: the zoo, attacks, metrics, datasets, defenses and architectures as tables."""

from __future__ import annotations

from collections.abc import Sequence

from rib.table import format_table
from rib.zoo.cards import ModelCard
from rib.zoo.catalog import list_cards


def evaluated_clean_accuracy(card: ModelCard) -> float | None:
    """Clean accuracy where the card is evaluated: on the whole test split (``ModelCard.test_accuracy``), else its
    clean-accuracy claim (measured by rib on ``card.dataset``); None otherwise (a model moved by ``rib rehome`` has
    no number on its new dataset until ``rib verify --write-claims``)."""
    if card.test_accuracy is not None:
        return card.test_accuracy[0]
    for claim in card.claims:
        if claim.get("metric") == "clean_accuracy":
            return float(claim["value"])
    return None


LS_WIDTH = 100  # every `rib ls` table fits this many columns; `--wide` prints them whole


def model_source(card: ModelCard) -> str:
    """Who trained the model: ``rib`` (a recipe of the zoo), ``authors (<release>)`` for an authors' own network,
    else ``submitted``."""
    if card.from_release:
        return f"authors ({card.weights_release})"
    return "rib" if "wall_time_s" in card.provenance else "submitted"


def cards_table(cards: Sequence[ModelCard], width: int | None = LS_WIDTH) -> str:
    """One row per model: id, who trained it, dataset (evaluated on), defense, architecture, threat model, clean
    accuracy on the evaluation set (``evaluated_clean_accuracy``), training time, weights hash."""
    rows = []
    for c in cards:
        acc = evaluated_clean_accuracy(c)
        threat = "-" if c.trained_norm == "none" else f"{c.trained_norm} {c.trained_eps:g}"
        wall = c.provenance.get("wall_time_s")
        rows.append([c.id, model_source(c), c.dataset, c.defense, c.arch, threat,
                     "?" if acc is None else f"{100 * acc:.2f}%", "-" if wall is None else f"{wall}s",
                     c.weights_sha256[:12]])
    return format_table(["model", "source", "dataset", "defense", "arch", "trained against", "clean acc",
                         "train time", "sha256"], rows, width=width)


def render(what: str, dataset: str | None = None, models_dir: str | None = None, wide: bool = False) -> str:
    """The table for ``rib ls WHAT``, within ``LS_WIDTH`` columns (long texts wrap) unless ``wide``."""
    width = None if wide else LS_WIDTH
    if what == "models":
        cards = list_cards(dataset, models_dir, check_names=False)  # without torch; `rib run` checks the names
        return cards_table(cards, width) if cards else "no models found (train some with `rib train --all`)"
    # the registries below are filled by the modules that implement them, which import torch
    if what == "attacks":
        from rib.attacks import ATTACKS

        rows = []
        for n in ATTACKS.names():
            cls = ATTACKS.get(n)
            params = ", ".join(f"{k}={v}" for k, v in cls.default_params().items())
            rows.append([n, cls.norm_name, cls.kind, cls.role, params])
        return format_table(["attack", "norm", "threat", "role", "defaults"], rows, width=width, wrap=(4,))
    if what == "metrics":
        from rib.explain.metrics import METRICS

        def direction(better: bool | None) -> str:
            return "higher" if better else "lower" if better is False else "-"

        rows = [[n, ", ".join(cls.outputs), "clean vs adversarial" if cls.pairwise else "any inputs",
                 direction(cls.higher_is_better), cls.description] for n in METRICS.names() for cls in [METRICS.get(n)]]
        return format_table(["metric", "outputs", "on", "better", "definition"], rows, width=width, wrap=(1, 2, 4))
    if what == "datasets":
        from rib.data import DATASETS
        rows = [[n, "x".join(map(str, d.shape)), str(d.num_classes), "yes" if d.offline else "download", d.description]
                for n in DATASETS.names() for d in [DATASETS.get(n)]]
        return format_table(["dataset", "shape", "classes", "offline", "description"], rows, width=width, wrap=(4,))
    if what == "defenses":
        from rib.defenses import DEFENSES
        rows = [[n, ", ".join(DEFENSES.aliases_of(n)), DEFENSES.get(n).paper] for n in DEFENSES.names()]
        return format_table(["defense", "aliases", "paper"], rows, width=width, wrap=(1, 2))
    from rib.zoo.all_archs import ARCHS

    rows = [[n, ", ".join(ARCHS.aliases_of(n)), (ARCHS.get(n).__doc__ or "").strip().splitlines()[0]]
            for n in ARCHS.names()]
    return format_table(["architecture", "aliases", "description"], rows, width=width, wrap=(1, 2))
