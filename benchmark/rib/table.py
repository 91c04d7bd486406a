"""Plain-text tables for the terminal.

``format_table`` lays columns out side by side. Given a ``width`` (rib's tables use ``TERMINAL_WIDTH``), it keeps
the table within it: first by wrapping the cells of the columns named in ``wrap`` at spaces (the widest column
first; a no-break space, ``NBSP``, holds a unit such as an interval together), then, when that is not enough, by
splitting the remaining columns into several tables that each repeat the first ``keep`` columns.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import Any

TERMINAL_WIDTH = 100
NBSP = "\u00a0"
GAP = "  "


def _words_width(text: str) -> int:
    return max((len(w) for line in text.splitlines() or [""] for w in line.split(" ")), default=0)


def _wrap(text: str, width: int) -> list[str]:
    lines = []
    for part in text.splitlines() or [""]:
        lines.extend(textwrap.wrap(part, width, break_long_words=False, break_on_hyphens=False) or [""])
    return [line.replace(NBSP, " ") for line in lines]


def _fit(cells: list[list[str]], wrap: set[int], width: int) -> list[int]:
    """Column widths: natural, then the widest wrappable column narrowed one step at a time until the table fits
    ``width`` or no wrappable column can narrow (no cell's word may be cut)."""
    ncol = len(cells[0])
    widths = [max(max((len(x) for x in r[i].splitlines()), default=0) for r in cells) for i in range(ncol)]
    floor = [max(_words_width(r[i]) for r in cells) if i in wrap else widths[i] for i in range(ncol)]
    while sum(widths) + len(GAP) * (ncol - 1) > width:
        shrinkable = [i for i in range(ncol) if widths[i] > floor[i]]
        if not shrinkable:
            break
        widest = max(shrinkable, key=lambda i: (widths[i], -i))
        widths[widest] -= 1
    return widths


def _render(cells: list[list[str]], widths: list[int]) -> str:
    """Rows of wrapped cells; a blank line between body rows once any of them takes several lines."""
    lines: list[str] = []
    rows = [[_wrap(c, w) for c, w in zip(row, widths, strict=True)] for row in cells]
    spaced = any(max(len(w) for w in row) > 1 for row in rows[1:])
    for n, wrapped in enumerate(rows):
        if spaced and n > 1:
            lines.append("")
        for k in range(max(len(w) for w in wrapped)):
            parts = [(w[k] if k < len(w) else "").ljust(widths[i]) for i, w in enumerate(wrapped)]
            lines.append(GAP.join(parts).rstrip())
        if n == 0:
            lines.append(GAP.join("-" * w for w in widths))
    return "\n".join(lines)


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, width: int | None = None,
                 wrap: Sequence[int] = (), keep: int = 1) -> str:
    """Left-aligned columns separated by two spaces, with a rule under the header; with ``width``, kept within
    that many characters (see the module docstring): ``wrap`` lists the columns that may wrap, ``keep`` how many
    leading columns each part repeats when the table has to be split."""
    cells = [[str(h) for h in headers]] + [["" if v is None else str(v) for v in row] for row in rows]
    if width is None:
        return _render(cells, [max(len(x) for r in cells for x in r[i].splitlines() or [""])
                               for i in range(len(headers))])
    widths = _fit(cells, set(wrap), width)
    if sum(widths) + len(GAP) * (len(widths) - 1) <= width or len(headers) <= keep + 1:
        return _render(cells, widths)
    keep = max(1, min(keep, len(headers) - 1))
    rest = list(range(keep, len(headers)))
    parts = [rest]
    for count in range(2, len(rest) + 1):  # the fewest parts of balanced size that each fit
        size = -(-len(rest) // count)
        parts = [rest[i:i + size] for i in range(0, len(rest), size)]
        if all(sum(widths[i] for i in [*range(keep), *part]) + len(GAP) * (keep + len(part) - 1) <= width
               for part in parts):
            break
    blocks = []
    for part in parts:
        columns = [*range(keep), *part]
        sub = [[r[i] for i in columns] for r in cells]
        blocks.append(_render(sub, _fit(sub, {j for j, i in enumerate(columns) if i in wrap}, width)))
    return "\n\n".join(blocks)
