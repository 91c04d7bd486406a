"""``MetricInputs``: what a metric cell measures on, with a memo of attributions shared by its metrics.

Three modes give a metric and its baselines the same code path (``baseline``):

* ``model``: attributions of the model itself;
* ``random``: every attribution replaced by a random map of the same shape and sign convention (standard normal;
  its absolute value for Grad-CAM, which is ReLU'd), drawn per example from its pixels, so it ignores the model;
* ``randomized``: the same method on a copy of the model with every layer re-initialized (``rib.explain.randomize``);
  ``original`` stays the trained model (faithfulness scores the trained model with the randomized map's order).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import nn

from rib.batching import batches
from rib.errors import ConfigError
from rib.evaluation import predict
from rib.explain.attributions import attribute
from rib.explain.noise import example_normal
from rib.explain.randomize import randomized

Mode = Literal["model", "random", "randomized"]
Which = Literal["clean", "adv", "eval"]
CAM_METHODS = ("cam", "grad-cam")


def cam_kind(model: nn.Module) -> str:
    """``cam-head`` (maps whose spatial mean is the logits) or ``grad-cam`` (maps at a named layer)."""
    return "cam-head" if getattr(model, "cam_mean_is_logits", True) else "grad-cam"


@dataclass
class MetricInputs:
    """The inputs of a metric cell: model, clean inputs, labels, optionally adversarial inputs, and a memo."""

    model: nn.Module
    x: torch.Tensor
    y: torch.Tensor
    x_adv: torch.Tensor | None = None
    batch_size: int = 256
    seed: int = 0
    mode: Mode = "model"
    trained: nn.Module | None = None  # the trained model, when ``model`` is its randomized copy
    _memo: dict[Any, Any] = field(default_factory=dict, repr=False)

    @property
    def original(self) -> nn.Module:
        """The trained model (``model`` itself except in the ``randomized`` mode)."""
        return self.trained if self.trained is not None else self.model

    def _which(self, which: Which) -> str:
        return ("clean" if self.x_adv is None else "adv") if which == "eval" else which

    def inputs(self, which: Which = "eval") -> torch.Tensor:
        """``"clean"``, ``"adv"`` (the adversarial inputs) or ``"eval"`` (adv when there are any, else clean)."""
        if self._which(which) == "adv":
            if self.x_adv is None:
                raise ConfigError("this metric compares clean and adversarial inputs: give it an attack source")
            return self.x_adv
        return self.x

    def _cached(self, key: tuple[Any, ...], make: Any) -> Any:
        if key not in self._memo:
            self._memo[key] = make()
        return self._memo[key]

    def prediction(self, which: Which = "eval", *, of: Literal["model", "original"] = "model") -> torch.Tensor:
        """Predicted labels of ``model`` (the explained network) or of the ``original`` trained one."""
        net = self.model if of == "model" else self.original
        return self._cached(("prediction", self._which(which), of),
                            lambda: predict(net, self.inputs(which), self.batch_size))

    def logits(self, which: Which = "eval") -> torch.Tensor:
        """Logits of the explained network (float32, CPU)."""

        def make() -> torch.Tensor:
            device = next(self.model.parameters()).device
            self.model.eval()
            with torch.no_grad():
                return torch.cat([self.model(xb.to(device)).float().cpu()
                                  for (xb,) in batches(self.inputs(which), batch_size=self.batch_size)])

        return self._cached(("logits", self._which(which)), make)

    def logit_scale(self, which: Which = "eval") -> torch.Tensor:
        """Per example, the largest |logit|: what a zero attribution is measured against."""
        return self.logits(which).double().abs().max(1).values

    def targets(self, which: Which, target: Literal["true", "pred"]) -> torch.Tensor:
        """The class each attribution explains: the label, or the explained network's prediction."""
        return self.y if target == "true" else self.prediction(which)

    def attribution(self, name: str, which: Which = "eval", target: Literal["true", "pred"] = "true") -> torch.Tensor:
        """Attribution ``name`` of the true (or predicted) class on ``which`` inputs, computed once per cell."""
        key = ("attribution", name, self._which(which), target)
        return self._cached(key, lambda: self.attribute(name, self.inputs(which), self.targets(which, target)))

    def attribute(self, name: str, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Attribution ``name`` at any inputs ``x`` (not cached): the model's, or random maps in ``random`` mode."""
        return self.attribute_with(self.model, name, x, target)

    def attribute_with(self, net: nn.Module, name: str, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Attribution ``name`` of another network ``net`` (a randomized copy), or random maps in ``random`` mode."""
        if self.mode == "random":
            return self.random_maps(name, x)
        kw: dict[str, Any] = {"seed": self.seed} if name == "smoothgrad" else {}
        return attribute(name, net, x, target, batch_size=self.batch_size, **kw)

    def random_maps(self, name: str, x: torch.Tensor) -> torch.Tensor:
        """Random maps with the shape and sign convention of attribution ``name``, one per example of ``x``."""
        shape: tuple[int, ...] = tuple(x.shape[1:])
        if name in CAM_METHODS:
            shape = tuple(attribute(name, self.model, x[:1], self.y[:1]).shape[1:])
        maps = self._normal(x, shape, f"random:{name}")
        return maps.abs() if name in CAM_METHODS and cam_kind(self.model) == "grad-cam" else maps

    def _normal(self, x: torch.Tensor, shape: tuple[int, ...], salt: str) -> torch.Tensor:
        """Standard normal maps ``[N, *shape]`` drawn per example of ``x`` (CPU)."""
        size, per = int(torch.Size(shape).numel()), int(x[0].numel())
        draw = example_normal(x, self.seed, salt, samples=-(-size // per)).flatten(1)[:, :size]
        return draw.reshape(len(x), *shape).cpu()

    def cams(self, which: Which = "eval") -> torch.Tensor:
        """Class activation maps of every class ``[N, classes, h, w]`` (random maps in ``random`` mode)."""

        def make() -> torch.Tensor:
            x = self.inputs(which)
            device = next(self.model.parameters()).device
            with torch.no_grad():
                maps = torch.cat([self.model.cam(xb.to(device)).detach().cpu()  # type: ignore[operator]
                                  for (xb,) in batches(x, batch_size=self.batch_size)])
            if self.mode != "random":
                return maps
            draw = self._normal(x, tuple(maps.shape[1:]), "random:cams")
            return draw.abs() if cam_kind(self.model) == "grad-cam" else draw

        return self._cached(("cams", self._which(which)), make)

    def baseline(self, mode: Mode) -> MetricInputs:
        """These inputs in another mode (``random`` or ``randomized``), with their own memo, made once."""
        if self.mode != "model":
            raise ConfigError("baselines are taken of the model's own inputs")
        if mode == "model":
            return self

        def make() -> MetricInputs:
            model = randomized(self.model, self.seed) if mode == "randomized" else self.model
            return MetricInputs(model, self.x, self.y, self.x_adv, self.batch_size, self.seed, mode,
                                self.model if mode == "randomized" else None)

        return self._cached(("baseline", mode), make)
