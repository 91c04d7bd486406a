"""``Metric`` and the ``METRICS`` registry (``rib ls metrics``); the metrics themselves live in their own modules.

A metric's ``compute`` returns per-example ``Values`` (NaN with a reason where an example is degenerate or excluded)
for each of its ``outputs``. Its baselines are the same ``compute`` on ``MetricInputs.baseline(mode)``: stored as
``<output>:random`` and ``<output>:randomized``, beside any ``extras`` (``gini-ig:input``).
"""

from __future__ import annotations

from importlib import metadata
from typing import Any, ClassVar

from torch import nn

from rib.explain.cam import NO_CAM, has_cam
from rib.explain.degenerate import Values
from rib.explain.inputs import MetricInputs, Mode
from rib.params import Parameterized
from rib.registry import Registry


class Metric(Parameterized):
    """One interpretability metric: ``compute`` returns per-example ``Values`` for each of its ``outputs``.

    Registered with ``@METRICS.decorator(name)``, which sets ``name``.
    """

    params_kind = "metric"
    outputs: ClassVar[tuple[str, ...]] = ()
    higher_is_better: ClassVar[bool | None] = True  # None: neither (a property, not a score)
    pairwise: ClassVar[bool] = False  # compares clean and adversarial inputs
    needs_cam: ClassVar[bool] = False
    description: ClassVar[str] = ""
    revision: ClassVar[int] = 1  # bump when a change changes its numbers: the ids of the cells measuring it change
    baselines: ClassVar[tuple[Mode, ...]] = ("random", "randomized")
    extras: ClassVar[tuple[str, ...]] = ()  # further stored outputs (``compute_extras``)
    libraries: ClassVar[tuple[str, ...]] = ("torch",)  # what computes it: their versions go in every stored row
    reference: ClassVar[str] = ""  # the outside implementation a test holds it against

    def __init__(self, **params: Any) -> None:
        self.set_params(self.default_params(), params)

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        return {}

    @classmethod
    def stored_outputs(cls) -> tuple[str, ...]:
        """Every output a cell stores: the metric's own, its baselines', its extras."""
        return (*cls.outputs, *(f"{o}:{b}" for b in cls.baselines for o in cls.outputs), *cls.extras)

    @classmethod
    def provenance(cls) -> dict[str, Any]:
        """What a stored row says computed it: library versions and the implementation it is tested against."""
        versions = {}
        for lib in cls.libraries:
            try:
                versions[lib] = metadata.version(lib)
            except metadata.PackageNotFoundError:
                versions[lib] = "not installed"
        return {"libraries": versions, **({"reference": cls.reference} if cls.reference else {}),
                "metric_revision": cls.revision}

    def compute(self, inputs: MetricInputs) -> dict[str, Values]:
        raise NotImplementedError

    def compute_extras(self, inputs: MetricInputs) -> dict[str, Values]:
        return {}

    def not_applicable(self, model: nn.Module) -> str:
        """Why this metric cannot be measured on ``model`` ("" when it can): CAM metrics need a CAM."""
        return f"{self.name} compares CAMs and {NO_CAM}" if self.needs_cam and not has_cam(model) else ""


METRICS: Registry[type[Metric]] = Registry("metric", name_attr="name")


def create_metric(name: str, **params: Any) -> Metric:
    """Instantiate a registered metric with its defaults overridden by ``params``."""
    return METRICS.get(name)(**params)
