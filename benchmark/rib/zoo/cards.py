"""Model cards: the TOML record of one model (data contract, defense, weights hash, provenance, claims)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w
import tomllib

from rib.data import DATASETS
from rib.errors import ConfigError, UnknownNameError
from rib.files import atomic_write_text
from rib.registry import did_you_mean
from rib.zoo.releases import release_file, release_names

# (section.key, accepted types, required) — the schema every card is checked against, all errors at once.
_NUM = (int, float)
CARD_SCHEMA: list[tuple[str, tuple[type, ...], bool]] = [
    ("id", (str,), True),
    ("dataset", (str,), True),
    ("trained_on", (str,), False),
    ("description", (str,), False),
    ("paper", (str,), False),
    ("arch.name", (str,), True),
    ("arch.kwargs", (dict,), False),
    ("arch.cam_layer", (str,), False),
    ("normalization.mean", (list,), False),  # required unless arch is onnx (checked in card_errors)
    ("normalization.std", (list,), False),
    ("defense.name", (str,), True),
    ("defense.params", (dict,), False),
    ("threat_model.norm", (str,), False),
    ("threat_model.eps", _NUM, False),
    ("training", (dict,), False),
    ("weights.file", (str,), True),
    ("weights.sha256", (str,), True),
    ("weights.release", (str,), False),
    ("provenance", (dict,), False),
    ("calibration", (dict,), False),
    ("claims", (list,), False),
    ("authors", (list,), False),
]
ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
ONNX_ARCH = "onnx"  # an outside architecture: the weights file is an ONNX graph, converted by onnx2torch
MODULE_ARCH = "module"  # the card ``rib.evaluate`` makes for a torch module it is given (never written to disk)
WEIGHT_SUFFIXES = (".safetensors", ".pt", ".pth")
RELEASE_SUFFIXES = (".pkl",)  # an authors' release (``weights.release``): numpy arrays in a pickle, read safely


def _lookup(data: dict[str, Any], dotted: str) -> tuple[bool, Any]:
    node: Any = data
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


OPEN_DEFENSES = ("unknown", "other")  # an outside model's defense that rib has no module for


def _unknown(registry: Any, value: Any, where: str, allowed: tuple[str, ...] = ()) -> str | None:
    """The message for a name ``registry`` does not hold (with a did-you-mean), else None."""
    if not isinstance(value, str) or value in allowed or value in registry:
        return None
    known = sorted({*registry.names(), *allowed})
    hint = did_you_mean(value, sorted({*known, *getattr(registry, "_aliases", {})}))
    return f"{where}unknown {registry.kind} {value!r}{hint} (known: {', '.join(known)})"


def unknown_name_errors(data: dict[str, Any], *, registries: bool = True) -> list[str]:
    """Names a card uses that rib does not know (dataset, release; with ``registries`` also the architecture,
    defense, each claim's attack and metric, whose registries import torch), each with a did-you-mean; checked
    before the schema, since a typo'd name makes every other message misleading. Claims are numbered from 1."""
    found = [_unknown(DATASETS, data.get("dataset"), ""), _unknown(DATASETS, data.get("trained_on"), "trained_on: ")]
    release = _lookup(data, "weights.release")[1]
    if isinstance(release, str) and release not in release_names():
        names = release_names()
        found.append(f"unknown release {release!r}{did_you_mean(release, names)} (known: {', '.join(names)})")
    if registries:
        found += _registry_name_errors(data)
    return [f for f in found if f]


def _registry_name_errors(data: dict[str, Any]) -> list[str | None]:
    from rib.attacks import ATTACKS  # here: the zoo is below the attacks and the metrics
    from rib.defenses import DEFENSES
    from rib.explain.metrics import METRICS
    from rib.zoo.all_archs import ARCHS

    claims: list[Any] = data["claims"] if isinstance(data.get("claims"), list) else []
    outputs = sorted({o for name in METRICS.names() for o in METRICS.get(name).outputs})

    def check_metric(value: Any, where: str) -> str | None:
        if not isinstance(value, str) or value in outputs or value in ("clean_accuracy", "robust_accuracy"):
            return None
        known = ["clean_accuracy", "robust_accuracy", *outputs]
        return f"{where}unknown metric {value!r}{did_you_mean(value, known)} (known: {', '.join(known)})"

    found = [_unknown(ARCHS, _lookup(data, "arch.name")[1], "", (ONNX_ARCH, MODULE_ARCH)),
             _unknown(DEFENSES, _lookup(data, "defense.name")[1], "", OPEN_DEFENSES)]
    for i, claim in enumerate(claims, start=1):
        if isinstance(claim, dict):
            found.append(_unknown(ATTACKS, claim.get("attack"), f"claim {i}: ", ("clean", "worst-case")))
            found.append(check_metric(claim.get("metric"), f"claim {i}: "))
    return found


def card_errors(data: dict[str, Any]) -> list[str]:
    """Every schema error of a parsed card (empty when it is valid)."""
    errors: list[str] = []
    for dotted, types, required in CARD_SCHEMA:
        present, value = _lookup(data, dotted)
        if not present:
            if required:
                errors.append(f"missing field {dotted}")
            continue
        if isinstance(value, bool) or not isinstance(value, types):
            names = " or ".join(t.__name__ for t in types)
            errors.append(f"field {dotted} must be {names}, got {type(value).__name__}")
    _, arch = _lookup(data, "arch.name")
    onnx = arch == ONNX_ARCH
    for key in ("normalization.mean", "normalization.std"):
        present, value = _lookup(data, key)
        if not present and not onnx:
            errors.append(f"missing field {key}")
        if present and isinstance(value, list) and not all(
            isinstance(v, _NUM) and not isinstance(v, bool) for v in value
        ):
            errors.append(f"field {key} must hold numbers")
    if onnx and _lookup(data, "normalization.mean")[0] != _lookup(data, "normalization.std")[0]:
        errors.append("field normalization needs both mean and std (or neither: no normalization)")
    present, sha = _lookup(data, "weights.sha256")
    if present and isinstance(sha, str) and (len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha)):
        errors.append("field weights.sha256 must be 64 lowercase hex digits")
    present, wfile = _lookup(data, "weights.file")
    if present and isinstance(wfile, str):
        if onnx and (Path(wfile).name != wfile or not wfile.endswith(".onnx")):
            errors.append("field weights.file of an onnx card must be a bare file name ending in .onnx")
        elif _lookup(data, "weights.release")[0]:
            if Path(wfile).name != wfile or not wfile.endswith(RELEASE_SUFFIXES):
                errors.append("field weights.file of a release must be a bare file name ending in .pkl")
        elif not onnx and (Path(wfile).name != wfile or not wfile.endswith(WEIGHT_SUFFIXES)):
            errors.append("field weights.file must be a bare file name ending in .safetensors, .pt or .pth")
    present, _ = _lookup(data, "arch.cam_layer")
    if present and not onnx:
        errors.append("field arch.cam_layer goes with arch onnx only (registered architectures have their CAM)")
    present, model_id = _lookup(data, "id")
    if present and isinstance(model_id, str) and not ID_PATTERN.fullmatch(model_id):
        errors.append("field id may hold only letters, digits, '.', '_' and '-' (starting with a letter or digit)")
    present, authors = _lookup(data, "authors")
    if present and isinstance(authors, list) and not all(isinstance(a, str) for a in authors):
        errors.append("field authors must hold strings")
    present, claims = _lookup(data, "claims")
    for i, claim in enumerate(claims if present and isinstance(claims, list) else []):
        errors.extend(f"claim {i + 1}: {e}" for e in _claim_errors(claim))
    return errors


def _claim_errors(claim: Any) -> list[str]:
    if not isinstance(claim, dict):
        return ["must be a table with attack, metric and value"]
    errors = []
    for key, types, required in (("attack", (str,), True), ("metric", (str,), True), ("value", _NUM, True),
                                 ("eps", _NUM, False), ("n", (int,), False), ("norm", (str,), False)):
        if key not in claim:
            if required:
                errors.append(f"missing field {key}")
        elif isinstance(claim[key], bool) or not isinstance(claim[key], types):
            errors.append(f"field {key} must be {' or '.join(t.__name__ for t in types)}")
    unknown = sorted(set(claim) - {"attack", "metric", "value", "eps", "n", "norm"})
    if unknown:
        errors.append(f"unknown field {', '.join(unknown)}")
    return errors


@dataclass
class ModelCard:
    """One model of the zoo (or a submission): everything needed to rebuild, verify and cite it."""

    id: str
    dataset: str  # where the model is evaluated (its cards live under models/<dataset>/)
    arch: str
    defense: str
    mean: list[float]
    std: list[float]
    weights_file: str
    weights_sha256: str
    arch_kwargs: dict[str, Any] = field(default_factory=dict)
    defense_params: dict[str, Any] = field(default_factory=dict)
    trained_norm: str = "none"
    trained_eps: float = 0.0
    description: str = ""
    paper: str = ""
    training: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    calibration: dict[str, Any] | None = None
    claims: list[dict[str, Any]] = field(default_factory=list)
    authors: list[str] = field(default_factory=list)
    trained_on: str = ""  # the dataset whose training split trained the model ("" : ``dataset``)
    cam_layer: str = ""  # onnx cards: the module of the converted graph where Grad-CAM is taken ("" : no CAM)
    weights_release: str = ""  # an authors' release the weights file belongs to (``rib.zoo.releases``)
    path: Path | None = None

    def __post_init__(self) -> None:
        self.trained_on = self.trained_on or self.dataset

    @property
    def outside(self) -> bool:
        """Whether the model's architecture comes from outside rib (an ONNX graph or a module given to
        ``rib.evaluate``), not from rib's registry."""
        return self.arch in (ONNX_ARCH, MODULE_ARCH)

    @property
    def from_release(self) -> bool:
        """Whether the weights are a file of an authors' release (kept under ``$RIB_DATA_DIR``, not beside the
        card)."""
        return bool(self.weights_release)

    @property
    def test_accuracy(self) -> tuple[float, int] | None:
        """(clean accuracy, images) on the whole test split of the dataset the card is evaluated on, measured once
        when the card was made (``rib train``, ``rib release``): the one clean accuracy the board, the model pages,
        ``rib ls models`` and the README give. None when the model was trained and measured elsewhere (a rehomed
        or submitted model)."""
        acc, n = self.provenance.get("test_accuracy"), self.provenance.get("n_test")
        if not isinstance(acc, (int, float)) or self.trained_on != self.dataset:
            return None
        if not isinstance(n, int):  # a card written before n_test was recorded: the whole split, by definition
            n = DATASETS.get(self.dataset).test_size if self.dataset in DATASETS else 0
        return float(acc), n

    @property
    def weights_path(self) -> Path:
        """Where the weights sit: beside the card; a release's file under ``$RIB_DATA_DIR`` (downloaded and checked
        there when missing)."""
        if self.weights_release:
            return release_file(self.weights_release, self.weights_file, self.weights_sha256)
        if self.path is None:
            raise ConfigError(f"card {self.id!r} has no location, so its weights cannot be found")
        return self.path.parent / self.weights_file

    def to_dict(self) -> dict[str, Any]:
        """The card as TOML-ready nested dicts (empty optional sections left out)."""
        out: dict[str, Any] = {"id": self.id, "dataset": self.dataset}
        if self.trained_on != self.dataset:
            out["trained_on"] = self.trained_on
        if self.description:
            out["description"] = self.description
        if self.paper:
            out["paper"] = self.paper
        if self.authors:
            out["authors"] = list(self.authors)
        out["arch"] = {"name": self.arch, "kwargs": self.arch_kwargs}
        if self.cam_layer:
            out["arch"]["cam_layer"] = self.cam_layer
        out["normalization"] = {"mean": list(self.mean), "std": list(self.std)}
        out["defense"] = {"name": self.defense, "params": self.defense_params}
        out["threat_model"] = {"norm": self.trained_norm, "eps": float(self.trained_eps)}
        if self.training:
            out["training"] = self.training
        out["weights"] = {"file": self.weights_file, "sha256": self.weights_sha256}
        if self.weights_release:
            out["weights"]["release"] = self.weights_release
        if self.provenance:
            out["provenance"] = self.provenance
        if self.calibration:
            out["calibration"] = self.calibration
        if self.claims:
            out["claims"] = self.claims
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any], path: Path | None = None, *, check_names: bool = True) -> ModelCard:
        """Build a card from parsed TOML, raising one ``ConfigError`` that lists every schema error. Without
        ``check_names`` the architecture, defense, attack and metric names are not looked up in their registries
        (which import torch); ``rib ls models`` lists cards that way, and every command that uses a card checks."""
        where = f"{path}: " if path else ""
        unknown = unknown_name_errors(data, registries=check_names)
        if unknown:
            raise UnknownNameError(f"{where}invalid model card: {'; '.join(unknown)}")
        errors = card_errors(data)
        if errors:
            raise ConfigError(f"{where}invalid model card: {'; '.join(errors)}")
        leak = training_leak(data.get("trained_on", data["dataset"]), data["dataset"])
        if leak:
            raise ConfigError(f"{path or data['id']}: {leak}")
        tm = data.get("threat_model", {})
        norm = data.get("normalization") or _identity(data["dataset"])
        return cls(
            id=data["id"],
            dataset=data["dataset"],
            description=data.get("description", ""),
            paper=data.get("paper", ""),
            arch=data["arch"]["name"],
            arch_kwargs=dict(data["arch"].get("kwargs", {})),
            mean=[float(v) for v in norm["mean"]],
            std=[float(v) for v in norm["std"]],
            defense=data["defense"]["name"],
            defense_params=dict(data["defense"].get("params", {})),
            trained_norm=str(tm.get("norm", "none")),
            trained_eps=float(tm.get("eps", 0.0)),
            training=dict(data.get("training", {})),
            weights_file=data["weights"]["file"],
            weights_sha256=data["weights"]["sha256"],
            provenance=dict(data.get("provenance", {})),
            calibration=data.get("calibration"),
            claims=list(data.get("claims", [])),
            authors=list(data.get("authors", [])),
            trained_on=data.get("trained_on", ""),
            cam_layer=data["arch"].get("cam_layer", ""),
            weights_release=data["weights"].get("release", ""),
            path=path,
        )


def _identity(dataset: str) -> dict[str, list[float]]:
    """The normalization of an onnx card without one: none (mean 0, std 1 per channel of ``dataset``)."""
    channels = DATASETS.get(dataset).shape[0] if dataset in DATASETS else 1
    return {"mean": [0.0] * channels, "std": [1.0] * channels}


def training_leak(trained_on: str, evaluated_on: str) -> str:
    """Why a model trained on ``trained_on`` must not be evaluated on ``evaluated_on`` ("" when it may): the
    evaluation's test images are drawn from the training split it learned from."""
    if trained_on not in DATASETS or evaluated_on not in DATASETS:
        return ""  # unknown names are reported where the dataset is used, with did-you-mean
    test_from = DATASETS.get(evaluated_on).test_drawn_from
    if test_from and DATASETS.canonical(trained_on) == test_from:
        return (f"trained on {test_from}'s training split, it cannot be evaluated on {evaluated_on}, whose test "
                f"images are drawn from that split; evaluate it on {test_from}")
    return ""


def read_card(path: Path, *, check_names: bool = True) -> ModelCard:
    """Parse and validate a card file (``check_names``: see ``ModelCard.from_dict``)."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"model card {path} does not exist") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from exc
    return ModelCard.from_dict(data, path, check_names=check_names)


def write_card(card: ModelCard, path: Path) -> None:
    """Write ``card`` to ``path`` atomically."""
    path = atomic_write_text(path, tomli_w.dumps(_drop_none(card.to_dict())))
    card.path = path


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    return value
