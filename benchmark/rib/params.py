"""Named hyperparameters with defaults, shared by attacks, defenses and metrics."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from rib.errors import ConfigError


class Parameterized:
    """A component configured by named parameters: its defaults overridden by the given ones.

    ``params_kind`` names the component in errors (``attack``, ``defense``, ``metric``); ``name`` is its registered
    name. A parameter outside the defaults is a ``ConfigError`` that lists the known ones.
    """

    params_kind: ClassVar[str] = "component"
    name: ClassVar[str] = ""
    params: dict[str, Any]

    def set_params(self, defaults: Mapping[str, Any], given: Mapping[str, Any]) -> None:
        """Set ``self.params`` to ``defaults`` overridden by ``given``; unknown names raise ``ConfigError``."""
        unknown = sorted(set(given) - set(defaults))
        if unknown:
            raise ConfigError(f"{self.params_kind} {self.name!r} has no parameter {', '.join(unknown)} "
                              f"(known: {', '.join(sorted(defaults)) or 'none'})")
        self.params = {**defaults, **given}
