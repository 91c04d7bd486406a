"""The static leaderboard site (``rib report``)."""

from rib.report.site import render_site

__all__ = ["render_site"]
