"""Grad-CAM as a CAM: ``GradCamNet`` lives in ``rib.cams`` (below both the zoo and explain); re-exported here."""

from __future__ import annotations

from rib.cams import GradCamNet

__all__ = ["GradCamNet"]
