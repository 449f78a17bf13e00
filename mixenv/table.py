"""Plain-text tables for terminals and logs: one printer for every evaluation and benchmark report."""

from __future__ import annotations

import math
from collections.abc import Sequence

Cell = str | float | int | None


def format_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[Cell]],
    *,
    title: str | None = None,
    digits: int = 3,
    rule: bool = False,
) -> str:
    """Right-aligned columns separated by ``|``; numbers with ``digits`` decimals, missing values (None, NaN) as -.

    Args:
        headers: Column names.
        rows: One sequence of cells per row, as long as ``headers``.
        title: A line above the table.
        digits: Decimals of float cells.
        rule: Underline the header with dashes.

    Raises:
        ValueError: If a row has another number of cells than there are headers.
    """
    text = [[str(h) for h in headers]]
    for row in rows:
        if len(row) != len(headers):
            raise ValueError(f"a table row has {len(row)} cells for {len(headers)} columns: {row!r}")
        text.append([_cell(value, digits) for value in row])
    widths = [max(len(line[i]) for line in text) for i in range(len(headers))]
    lines = [" | ".join(cell.rjust(width) for cell, width in zip(line, widths, strict=True)) for line in text]
    if rule:
        lines.insert(1, "-" * len(lines[0]))
    return "\n".join(([title] if title else []) + lines)


def _cell(value: Cell, digits: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)
