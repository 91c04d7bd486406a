"""The one table of what every stored flag means: per-cell sanity flags, cross-cell checks and admission checks each
describe their flags here when their module is imported; the site's glossary and hover texts read this table."""

from __future__ import annotations

from collections.abc import Mapping

FLAG_DESCRIPTIONS: dict[str, str] = {}


def describe_flags(descriptions: Mapping[str, str]) -> dict[str, str]:
    """Add ``descriptions`` (flag name → meaning) to the table; returns them. A flag described twice with two
    meanings is an error: one name, one meaning."""
    for name, text in descriptions.items():
        if FLAG_DESCRIPTIONS.get(name, text) != text:
            raise ValueError(f"flag {name!r} is described twice, differently")
        FLAG_DESCRIPTIONS[name] = text
    return dict(descriptions)
