"""A typed name → object registry with aliases, wildcard listing and did-you-mean on a miss."""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Callable, Iterable, Iterator
from typing import Generic, TypeVar

from rib.errors import UnknownNameError

T = TypeVar("T")


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """``"; did you mean 'a' or 'b'?"`` for the (up to three) candidates closest to ``name``, else ``""``: the hint
    every unknown-name message carries."""
    close = difflib.get_close_matches(name, list(candidates), n=3, cutoff=0.5)
    return f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


class Registry(Generic[T]):
    """Holds named entries of one kind (models, defenses, attacks, ...)."""

    def __init__(self, kind: str, *, name_attr: str | None = None) -> None:
        """``kind`` names the entries in messages; with ``name_attr``, registering an entry also sets that attribute
        on it to its name (classes that know their CLI name, such as attacks)."""
        self.kind = kind
        self.name_attr = name_attr
        self._entries: dict[str, T] = {}
        self._aliases: dict[str, str] = {}

    def register(self, name: str, entry: T, aliases: Iterable[str] = ()) -> T:
        """Add ``entry`` under ``name`` (and its aliases); a name may be taken only once."""
        for key in (name, *aliases):
            if key in self._entries or key in self._aliases:
                raise ValueError(f"{self.kind} {key!r} is registered twice")
        if self.name_attr is not None:
            setattr(entry, self.name_attr, name)
        self._entries[name] = entry
        for alias in aliases:
            self._aliases[alias] = name
        return entry

    def decorator(self, name: str, aliases: Iterable[str] = ()) -> Callable[[T], T]:
        """``@registry.decorator("name")`` registers the decorated class or function: rib's one way to register code."""

        def wrap(entry: T) -> T:
            return self.register(name, entry, aliases)

        return wrap

    def canonical(self, name: str) -> str:
        """The registered name for ``name`` or one of its aliases; raises with suggestions on a miss."""
        if name in self._entries:
            return name
        if name in self._aliases:
            return self._aliases[name]
        hint = did_you_mean(name, sorted([*self._entries, *self._aliases]))
        raise UnknownNameError(
            f"unknown {self.kind} {name!r}{hint} (known: {', '.join(sorted(self._entries))})"
        )

    def get(self, name: str) -> T:
        """The entry for ``name`` or an alias of it; raises ``UnknownNameError`` with did-you-mean."""
        return self._entries[self.canonical(name)]

    def names(self, pattern: str | None = None) -> list[str]:
        """Registered names, sorted, optionally filtered by a shell wildcard such as ``pgd-*``."""
        names = sorted(self._entries)
        if pattern is None:
            return names
        return [n for n in names if fnmatch.fnmatchcase(n, pattern)]

    def in_registration_order(self) -> list[str]:
        """Registered names in the order they were registered (a data file's or a module's own order)."""
        return list(self._entries)

    def resolve(self, spec: str) -> list[str]:
        """Expand a comma-separated list of names, aliases and wildcards, in order, without repeats."""
        out: list[str] = []
        for part in (p.strip() for p in spec.split(",")):
            if not part:
                continue
            if any(ch in part for ch in "*?["):
                matched = self.names(part)
                if not matched:
                    raise UnknownNameError(f"no {self.kind} matches {part!r} (known: {', '.join(self.names())})")
            else:
                matched = [self.canonical(part)]
            out.extend(m for m in matched if m not in out)
        return out

    def aliases_of(self, name: str) -> list[str]:
        """The aliases registered for ``name``."""
        return sorted(a for a, n in self._aliases.items() if n == name)

    def __contains__(self, name: object) -> bool:
        return name in self._entries or name in self._aliases

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)
