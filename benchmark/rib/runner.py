"""The engine's public names under their old address: ``rib.runner`` re-exports ``rib.engine`` (planning, cost,
evaluation, rows), so code written against it keeps working."""

from rib.engine import *  # noqa: F403
from rib.engine import __all__  # noqa: F401
