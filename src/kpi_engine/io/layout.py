"""Where a table starts in a sheet made for people: title rows above the header.

An appraisal table exported from Excel often opens with a merged title (2026年3月销售代表考核表),
a line such as 制表日期 and a blank row before the header. The header is the first row, among
the first ``SCAN_ROWS``, with at least two filled cells and at least half as many as the fullest
of those rows, all of them labels (not numbers or dates). Rows above it have fewer filled cells:
titles, notes, blank rows. If that row holds a number, it is data and the first row is the
header, as before. A header found below row 1 is reported as a warning naming the row taken and
the option that chooses another (``--header-row N``, ``read_table(..., header_row=N)``).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence

from kpi_engine.errors import Issue, KpiError, Location

SCAN_ROWS = 30
_NUMBER = re.compile(r"[+-]?(?:\d[\d,]*(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?\s*%?")


def _filled(row: Sequence[object]) -> list[object]:
    return [c for c in row if c is not None and not (isinstance(c, str) and not c.strip())]


def _label(cell: object) -> bool:
    """A header cell: text that is not a number (CSV cells are all text)."""
    if isinstance(cell, bool | int | float | dt.date | dt.time):
        return False
    return not _NUMBER.fullmatch(str(cell).strip())


def find_header(rows: Sequence[Sequence[object]]) -> int:
    """The index (from 0) of the header among the first rows of a sheet; 0 when none stands out."""
    head = [_filled(r) for r in rows[:SCAN_ROWS]]
    width = max((len(f) for f in head), default=0)
    need = max(2, -(-width // 2))
    for i, filled in enumerate(head):
        if len(filled) >= need:
            return i if all(_label(c) for c in filled) else 0
    return 0


def header_note(label: str, rows: Sequence[Sequence[object]], index: int, line: int) -> Issue:
    """The warning that row ``line`` was taken as the header, quoting the title above it."""
    title = next((str(f[0]).strip() for f in map(_filled, rows[:index]) if f), "")
    above = f" ('{title[:40]}')" if title else ""
    return Issue(
        "header_row",
        f"took row {line} as the header: the {index} row(s) above it look like a title{above}",
        "",
        Location(label, line),
        "warning",
        suggestion="choose another with --header-row N (API: read_table(..., header_row=N))",
    )


def check_header_row(header_row: int, rows: int, label: str) -> int:
    """The index (from 0) of an explicitly chosen header row.

    Raises:
        KpiError: when the row is not a positive number or beyond the rows of the table.
    """
    if header_row < 1:
        msg = f"{label}: --header-row {header_row}: rows are numbered from 1"
        raise KpiError(msg)
    if header_row > rows:
        msg = f"{label}: --header-row {header_row}: the table has {rows} row(s)"
        raise KpiError(msg)
    return header_row - 1
