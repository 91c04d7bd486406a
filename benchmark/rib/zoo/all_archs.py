"""Every architecture rib knows, in one registry: rib's own (``archs``) and the authors' release networks
(``boopathy_archs``), each registered by importing its module. Read ``ARCHS`` from here to see them all."""

from rib.zoo import boopathy_archs  # noqa: F401  (registers the release architectures)
from rib.zoo.archs import ARCHS

__all__ = ["ARCHS"]
