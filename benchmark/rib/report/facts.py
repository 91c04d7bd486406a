"""Facts about a model that the leaderboard shows beside its numbers: zoo or outside, parameter count, training data."""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rib.errors import RibError
from rib.zoo import ModelCard, build_model, zoo_dir
from rib.zoo.cards import ONNX_ARCH
from rib.zoo.factory import model_from_card, parameter_count

MISSING = "–"


def is_outside(card: ModelCard, zoo: Path | None = None) -> bool:
    """Whether a model comes from outside the committed zoo: an ONNX submission, a card that does not lie in the
    zoo folder ``zoo`` (default: ``rib.zoo.zoo_dir()``), or one that no shipped recipe of its dataset trains (a
    submission installed into the zoo folder by ``rib submit``). An authors' released network in the zoo folder is
    not outside: rib builds it with its own port of their architecture from their sha256-checked file."""
    from rib.zoo.recipes import recipes

    if card.outside or card.path is None:
        return True
    if card.from_release:  # an authors' network: rib's port of their architecture, reading their checked file
        return False
    folder = Path(zoo if zoo is not None else zoo_dir()).resolve()
    if not Path(card.path).resolve().is_relative_to(folder):
        return True
    try:
        return card.id not in recipes(card.trained_on)  # the zoo's recipes live under their training set
    except RibError:  # no recipes for this dataset: nothing rib trains there
        return True


@functools.cache
def _count(arch: str, dataset: str, kwargs_json: str) -> int | None:
    try:
        model = build_model(arch, dataset, json.loads(kwargs_json))
    except (RibError, TypeError, ValueError, RuntimeError):
        return None
    return parameter_count(model)  # the one definition, shared with ONNX graphs


_ONNX_COUNTS: dict[tuple[str, str], int | None] = {}  # (weights path, sha256) → count: one conversion per render


def _onnx_count(card: ModelCard) -> int | None:
    key = (str(card.weights_path), card.weights_sha256)
    if key not in _ONNX_COUNTS:
        try:
            _ONNX_COUNTS[key] = parameter_count(model_from_card(card))  # sha256 checked before parsing
        except (RibError, ImportError):  # a damaged file, or the onnx extra not installed
            _ONNX_COUNTS[key] = None
    return _ONNX_COUNTS[key]


def param_count(card: ModelCard) -> int | None:
    """The number of stored numbers of the card's network (``rib.zoo.factory.parameter_count``: parameters and float
    buffers): counted on a freshly built model (weights need not be read), or on the converted graph of an ONNX card;
    None where rib cannot build it."""
    if card.arch == ONNX_ARCH:  # the card schema's name for an outside graph
        return _onnx_count(card) if card.path else None
    return _count(card.arch, card.dataset, json.dumps(card.arch_kwargs, sort_keys=True, default=str))


def format_count(count: int | None) -> str:
    """``127_018`` → ``127k``; ``1_234_567`` → ``1.2M``; None → ``–``."""
    if count is None:
        return MISSING
    if count >= 1_000_000:
        return f"{count / 1e6:.1f}M"
    return f"{count / 1e3:.0f}k" if count >= 10_000 else f"{count:,}"


@dataclass(frozen=True)
class ModelFacts:
    """What the leaderboard says about one model besides its numbers."""

    outside: bool
    arch: str
    params: int | None
    trained_on: str
    paper: str
    paper_url: str
    release: str = ""  # an authors' release the network comes from
    test_accuracy: tuple[float, int] | None = None  # (clean accuracy, images) on the whole test split

    @property
    def origin(self) -> str:
        """``authors`` (the paper's own released network), ``outside`` (submitted) or ``zoo`` (trained by rib)."""
        return "authors" if self.release else "outside" if self.outside else "zoo"


def model_facts(card: ModelCard | None, dataset: str, zoo: Path | None = None) -> ModelFacts:
    """The facts of a model from its card (a model without a card is outside, with nothing else known)."""
    if card is None:
        return ModelFacts(True, MISSING, None, dataset, "", "")
    return ModelFacts(is_outside(card, zoo), card.arch, param_count(card), card.trained_on, card.paper.strip(),
                      paper_url(card.paper), card.weights_release, card.test_accuracy)


_ARXIV = re.compile(r"arxiv[: ]*(\d{4}\.\d{4,5})", re.IGNORECASE)
# the papers behind rib's defenses (docs/papers.md), by the first author as the cards cite them, and their arXiv ids
KNOWN_PAPERS = {"Madry": "1706.06083", "Noack": "1912.03430", "Ross": "1711.09404", "Etmann": "1905.04172",
                "Boopathy": "2006.14748", "Chalasani": "1810.06583"}
_FIRST_AUTHOR = re.compile(r"(" + "|".join(KNOWN_PAPERS) + r") (et al\.|&)")


def paper_url(paper: Any) -> str:
    """A link for a card's paper reference, read from its first reference (``paper_short``): that reference itself
    when it is an http(s) URL, the abstract page of an arXiv id it names, or of the ``KNOWN_PAPERS`` paper whose
    first author it starts with (``Madry et al., …``); else empty."""
    text = paper_short(paper)
    if re.fullmatch(r"https?://\S+", text):
        return text
    found = _ARXIV.search(text)
    if found:
        return f"https://arxiv.org/abs/{found.group(1)}"
    author = _FIRST_AUTHOR.match(text)
    return f"https://arxiv.org/abs/{KNOWN_PAPERS[author.group(1)]}" if author else ""


def paper_short(paper: Any) -> str:
    """A card's paper reference as the board's model column shows it: its first reference (up to a ``;``)."""
    return str(paper or "").split(";")[0].strip()
