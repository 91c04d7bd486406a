"""The methodology page's content, generated from the grid file, the registries and the store (nothing written by
hand that the code could contradict): datasets and splits, what each attack group runs (n, eps, cascade), the
n actually stored per attack, how the headline and verification work (the modules' own docstrings), and which rib
versions and git commits produced the stored numbers."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup, escape

from rib.attacks import ATTACKS
from rib.data import DATASETS, SPLITS
from rib.errors import ConfigError
from rib.grid import grid_spec
from rib.report.tables import StoreView


@dataclass(frozen=True)
class AttackGroup:
    """One group of a grid file's attacks on one dataset, as the runner plans it."""

    names: list[str]
    kinds: list[str]
    eps: str
    n: int
    after: list[str]


def docstring_html(doc: str | None) -> list[Markup]:
    """A module docstring as HTML paragraphs (escaped; ``code`` spans kept as code, ``- `` items as one list)."""
    out: list[Markup] = []
    for block in re.split(r"\n\s*\n", (doc or "").strip()):
        items = re.split(r"\n(?=- )", block.strip())
        html = [_inline(" ".join(line.strip() for line in item.splitlines())) for item in items]
        if len(html) > 1 or block.lstrip().startswith("- "):
            out.append(Markup("<ul>") + Markup("").join(Markup("<li>") + h[2:] + Markup("</li>")
                                                        if h.startswith("- ") else h for h in html) + Markup("</ul>"))
        else:
            out.append(Markup("<p>") + html[0] + Markup("</p>"))
    return out


def _inline(text: str) -> Markup:
    parts = re.split(r"``(.+?)``", text)
    return Markup("").join(_emphasis(p) if i % 2 == 0 else Markup("<code>") + escape(p) + Markup("</code>")
                           for i, p in enumerate(parts))


def _emphasis(text: str) -> Markup:
    parts = re.split(r"(?<![\w*])\*(\w[^*]*?)\*(?![\w*])", text)
    return Markup("").join(escape(p) if i % 2 == 0 else Markup("<em>") + escape(p) + Markup("</em>")
                           for i, p in enumerate(parts))


def _eps_text(group: dict[str, Any], names: list[str], eps: dict[str, list[float]], top: dict[str, float]) -> str:
    norms = sorted({ATTACKS.get(n).norm_name for n in names if n in ATTACKS}, reverse=True)
    spec = group.get("eps")
    if spec == "headline":
        return "headline: " + ", ".join(f"{nm} {top[nm]:g}" for nm in norms if nm in top)
    if isinstance(spec, list):
        return ", ".join(f"{float(e):g}" for e in spec)
    return "; ".join(f"{nm} " + ", ".join(f"{e:g}" for e in eps.get(nm, [])) for nm in norms)


def attack_groups(grid: str, dataset: str) -> list[AttackGroup]:
    """The attack groups ``grid`` runs on ``dataset`` (empty when the grid has no section for it)."""
    try:
        spec = grid_spec(grid, dataset)
    except ConfigError:
        return []
    out = []
    for group in spec.attacks:
        names = [str(n) for n in group.get("names", [])]
        kinds = [ATTACKS.get(n).kind if n in ATTACKS else "unknown" for n in names]
        out.append(AttackGroup(names, kinds, _eps_text(group, names, spec.eps, spec.headline),
                               int(group.get("n", spec.n)), [str(a) for a in group.get("after", [])]))
    return out


def metric_groups(grid: str, dataset: str) -> list[dict[str, Any]]:
    """The interpretability-metric groups ``grid`` runs on ``dataset``: sources, metrics and n."""
    try:
        spec = grid_spec(grid, dataset)
    except ConfigError:
        return []
    return [{"sources": list(g.get("sources", ["clean"])), "names": list(g.get("names", [])),
             "n": int(g.get("n", spec.n))} for g in spec.metrics]


def dataset_facts(dataset: str) -> dict[str, Any]:
    """A dataset's registry entry, as the page shows it."""
    info = DATASETS.get(dataset)
    return {"name": info.name, "description": info.description, "offline": info.offline,
            "shape": "×".join(str(s) for s in info.shape), "classes": info.num_classes,
            "eps": {nm: ", ".join(f"{e:g}" for e in v) for nm, v in info.eps.items()},
            "headline": {nm: f"{v:g}" for nm, v in info.headline.items()}, "n": info.n, "splits": list(SPLITS)}


def stored_n(view: StoreView, dataset: str) -> list[tuple[str, str, str]]:
    """Per attack in the store: its kind and the n of its robust-accuracy rows (all models)."""
    rows = view.attack_rows(dataset)
    rows = rows[rows["metric"] == "robust_accuracy"]
    out = []
    for attack, group in sorted(rows.groupby("attack"), key=lambda t: str(t[0])):
        kind = ATTACKS.get(str(attack)).kind if str(attack) in ATTACKS else "-"
        out.append((str(attack), kind, ", ".join(str(int(n)) for n in sorted(group["n"].unique()))))
    return out


def producers(view: StoreView) -> list[tuple[str, str, int]]:
    """(rib version, git sha, number of stored cells) behind the numbers on the site."""
    cells = view.summary.drop_duplicates("cell_id")
    counts = cells.groupby(["rib_version", "git_sha"]).size()
    return [(str(v), str(s), int(c)) for (v, s), c in sorted(counts.items(), key=lambda t: (-t[1], t[0]))]
