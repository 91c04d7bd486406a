"""The papers' claims as data: one TOML file per paper in ``rib/claims/papers/``.

A file names the paper, its *roles* (e.g. "Int-trained", "PGD adversarially trained") with the models that fill each
role from each *source* (``rib``: rib's re-trainings; ``authors``: the authors' released networks), and its claims.
A claim states what it compares (``left`` role against ``right`` role), how (``test``), under which norm and over
which eps range (the range the paper tested; ``focus``: where the paper locates its claim, e.g. its large eps),
that range on the datasets the paper did not test (``on.<dataset>``, else the rule of ``ClaimSpec.on``),
and the paper's own numbers where a table of the paper gives them (``paper_numbers``: the table, then per eps the
left and right values).

Tests: ``worst-case`` (per-image worst case over attacks at ensemble strength, paired between models),
``attack`` (one attack's own per-image outcome, paired), ``metric`` (an interpretability metric's mean),
``clean-cost`` (clean accuracy within ``threshold`` of the right role), ``correlation`` (a rank correlation of
alignment and boundary distance across the role's models) and ``per-image-correlation`` (the same within each
model, over its images).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace
from importlib import resources
from typing import Any

import tomllib

from rib.errors import ConfigError

SOURCES = ("rib", "authors")  # who trained a role's models
TESTS = ("worst-case", "attack", "metric", "clean-cost", "correlation", "per-image-correlation")


@dataclass(frozen=True)
class Role:
    """A kind of model a claim talks about, and the models that fill it per source (paired by position)."""

    name: str
    label: str
    models: dict[str, tuple[str, ...]]


@dataclass(frozen=True)
class ClaimSpec:
    """One claim of a paper, as its data file states it."""

    id: str
    paper: str
    statement: str
    test: str
    left: Role
    right: Role | None = None
    norm: str = "linf"
    eps: tuple[float, ...] = ()
    focus: tuple[float, ...] = ()
    attack: str = ""
    metric: str = ""
    source: str = "clean"  # a metric claim's inputs: clean, or an attack's adversarial inputs
    threshold: float = 0.0
    duplicates: tuple[tuple[str, ...], ...] = ()
    paper_table: str = ""
    paper_numbers: dict[float, tuple[float, float]] = field(default_factory=dict)
    authors_protocol: str = ""  # the attack that reproduces the authors' own evaluation of their networks
    authors_sample: str = ""  # the authors' image set (``rib.stats.SAMPLES``): their networks are judged on it
    eps_on: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = field(default_factory=dict)  # dataset: eps, focus
    dataset: str = "mnist"  # where the paper measured: its eps hold there and on that dataset's variants

    def on(self, dataset: str) -> ClaimSpec:
        """The claim as it is judged on ``dataset``: its eps range and focus there.

        The file's ``on.<dataset>`` where it gives one; else the paper's own eps on the paper's dataset and its
        variants (``mnist-5k``); else the dataset's eps for the claim's norm where the paper tested a range, its
        headline eps where the paper tested one eps, and the largest of them as the focus where the paper focuses
        on its largest."""
        if dataset in self.eps_on:
            eps, focus = self.eps_on[dataset]
            return replace(self, eps=eps, focus=focus)
        if not self.eps:
            return self
        from rib.data import DATASETS  # here: the claims' files are read without the datasets' loaders

        info = DATASETS.get(dataset)
        if self.dataset in (dataset, info.family):
            return self
        if self.norm not in info.eps or self.norm not in info.headline:  # not attacked in this norm there
            return replace(self, eps=(), focus=())
        eps = tuple(info.eps[self.norm]) if len(self.eps) > 1 else (info.headline[self.norm],)
        focus = (max(eps),) if self.focus and max(self.focus) == max(self.eps) else ()
        return replace(self, eps=eps, focus=focus)

    def pairs(self, source: str) -> list[tuple[str, str]]:
        """The (left, right) model pairs of ``source``, by position in the roles' lists."""
        if self.right is None:
            return []
        return list(zip(self.left.models.get(source, ()), self.right.models.get(source, ()), strict=False))


def paper_files() -> list[str]:
    """The papers rib ships claims for (their data files' names)."""
    folder = resources.files("rib").joinpath("claims", "papers")
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))


@functools.cache
def load_claims() -> tuple[ClaimSpec, ...]:
    """Every claim of every paper file, in file order (papers alphabetically)."""
    out: list[ClaimSpec] = []
    for name in paper_files():
        text = resources.files("rib").joinpath("claims", "papers", f"{name}.toml").read_text(encoding="utf-8")
        out += parse_paper(tomllib.loads(text), name)
    ids = [c.id for c in out]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise ConfigError(f"claim ids used twice: {', '.join(dupes)}")
    return tuple(out)


def parse_paper(data: dict[str, Any], where: str) -> list[ClaimSpec]:
    """The claims of one parsed paper file; a ``ConfigError`` naming the file and the claim on any mistake."""
    try:
        paper = str(data["paper"])
        measured_on = str(data.get("dataset", "mnist"))
        authors = data.get("authors", {})
        roles = {name: Role(name, str(r["label"]), {s: tuple(r.get(s, ())) for s in SOURCES})
                 for name, r in data.get("roles", {}).items()}
        claims = []
        for c in data.get("claims", []):
            if c["test"] not in TESTS:
                raise ConfigError(f"claims/{where}: claim {c.get('id')!r}: unknown test {c['test']!r} "
                                  f"(known: {', '.join(TESTS)})")
            numbers = dict(c.get("paper_numbers", {}))
            table = str(numbers.pop("table", ""))
            claims.append(ClaimSpec(
                id=str(c["id"]), paper=paper, statement=str(c["statement"]), test=str(c["test"]),
                left=roles[c["left"]], right=roles[c["right"]] if "right" in c else None,
                norm=str(c.get("norm", "linf")), eps=tuple(float(e) for e in c.get("eps", ())),
                focus=tuple(float(e) for e in c.get("focus", ())), attack=str(c.get("attack", "")),
                metric=str(c.get("metric", "")), source=str(c.get("source", "clean")),
                threshold=float(c.get("threshold", 0.0)),
                duplicates=tuple(tuple(d) for d in c.get("duplicates", ())), paper_table=table,
                paper_numbers={float(k): (float(v[0]), float(v[1])) for k, v in numbers.items()},
                authors_protocol=str(authors.get("protocol", "")), authors_sample=str(authors.get("sample", "")),
                dataset=measured_on, eps_on=_eps_on(c.get("on", {}), f"claims/{where}: claim {c['id']!r}")))
        return claims
    except KeyError as exc:
        raise ConfigError(f"claims/{where}: missing or unknown name {exc}") from None
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"claims/{where}: malformed value ({exc})") from None


def _eps_on(table: Any, where: str) -> dict[str, tuple[tuple[float, ...], tuple[float, ...]]]:
    """A claim's ``on`` table: per dataset (its canonical name), the eps and the focus, which lies among them."""
    from rib.data import DATASETS  # here: see ClaimSpec.on

    if not isinstance(table, dict) or not all(isinstance(v, dict) for v in table.values()):
        raise ConfigError(f"{where}: 'on' must be a table of tables, e.g. on.fashion-mnist = {{eps = [0.1]}}")
    out = {}
    for name, on in table.items():
        eps = tuple(float(e) for e in on["eps"])
        focus = tuple(float(e) for e in on.get("focus", ()))
        if not set(focus) <= set(eps):
            raise ConfigError(f"{where}: on.{name}: the focus {list(focus)} is not among its eps {list(eps)}")
        out[DATASETS.canonical(name)] = (eps, focus)
    return out
