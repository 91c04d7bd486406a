"""Workflows that use several layers at once, kept above all of them so no layer imports another in a circle:
``submit`` (admit, verify, install, run the grid, render the site), ``explain`` (attack, then draw) and
``evaluate`` (``rib.evaluate``: any torch module through the admission checks and the engine)."""
