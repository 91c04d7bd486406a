"""Plugins: attacks, metrics, defenses, architectures, datasets and recipes registered from a user's own module,
with no edit to rib (the way lm-eval-harness and timm accept outside tasks and models).

A plugin is an importable module that registers what it brings when it is imported: ``@ATTACKS.decorator(name)``,
``@METRICS.decorator(name)``, ``@DEFENSES.decorator(name)``, ``@ARCHS.decorator(name)``,
``DATASETS.register(name, DatasetInfo(...))`` and ``rib.zoo.recipes.register_recipes(dataset, path)``. rib imports
plugins named by ``rib --plugin MODULE`` (repeatable), by ``$RIB_PLUGINS`` (comma-separated), and every entry point
of the group ``rib.plugins`` of an installed package (``[project.entry-points."rib.plugins"] mine = "mypkg.rib"``;
an entry point that names a function is called).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Sequence
from importlib import metadata

from rib.errors import ConfigError

ENTRY_POINT_GROUP = "rib.plugins"
_LOADED: set[str] = set()


def plugin_names(given: Sequence[str] = ()) -> list[str]:
    """The modules to import: those given, then ``$RIB_PLUGINS``'s, each once, in order."""
    names = [*given, *os.environ.get("RIB_PLUGINS", "").split(",")]
    out: list[str] = []
    for name in (n.strip() for n in names):
        if name and name not in out:
            out.append(name)
    return out


def load_plugins(given: Sequence[str] = ()) -> list[str]:
    """Import every plugin (``plugin_names`` and the installed entry points), each once per process; returns the
    names loaded by this call. A plugin that cannot be imported is one ``ConfigError`` line naming it."""
    loaded = []
    for name in plugin_names(given):
        if name in _LOADED:
            continue
        try:
            importlib.import_module(name)
        except Exception as exc:  # a plugin's own error, whatever its type: one line naming the plugin
            raise ConfigError(f"plugin {name!r} could not be imported: {type(exc).__name__}: {exc}") from exc
        _LOADED.add(name)
        loaded.append(name)
    for entry in metadata.entry_points(group=ENTRY_POINT_GROUP):
        key = f"entry-point:{entry.value}"
        if key in _LOADED:
            continue
        try:
            obj = entry.load()
            if callable(obj):
                obj()
        except Exception as exc:
            raise ConfigError(f"plugin entry point {entry.name!r} ({entry.value}) failed: {type(exc).__name__}: "
                              f"{exc}") from exc
        _LOADED.add(key)
        loaded.append(entry.value)
    return loaded
