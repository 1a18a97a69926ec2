"""CSV and JSON Lines, read by the standard parsers straight from the file, row by row.

Rows are never split by ``str.splitlines`` (which also breaks at U+2028, U+0085 and other
separators a name pasted from WeChat may hold): the ``csv`` module reads the file object opened
with ``newline=""``, and JSON Lines are split at line feeds only. Memory grows with the compact
rows kept (stripped cells in tuples), not with the bytes read.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from kpi_engine._limits import watched
from kpi_engine.errors import DataError, Issue, Location
from kpi_engine.evaluation.records import Table
from kpi_engine.io.layout import SCAN_ROWS, check_header_row, find_header, header_note


def _reject_constant(name: str) -> Any:
    msg = f"{name} is not a number"
    raise ValueError(msg)


def json_loads(text: str) -> Any:
    """``json.loads`` with exact decimals (``NaN``, ``Infinity`` refused); nested too deep is a ``ValueError``.

    The C scanner guards each level with the interpreter's recursion limit (no C-stack risk), so
    a document nested 100,000 deep ends in ``RecursionError`` after about 1,000 levels, cheaply.
    A lone surrogate escape (``ud800`` after a backslash) is refused: it is no character and could not be written out.
    """
    try:
        data = json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)
    except RecursionError:
        msg = "nested too deeply"
        raise ValueError(msg) from None
    if _SURROGATE.search(text):
        _refuse_lone_surrogates(data)
    return data


_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")


def _refuse_lone_surrogates(data: Any) -> None:
    """An escape such as ``ud800`` without its pair is no character: it could never be written out again."""
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                msg = "text holds an unpaired surrogate escape (\\ud800-\\udfff), which is not a character"
                raise ValueError(msg) from None
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def read_csv_lines(lines: Iterable[str], label: str, header_row: int | None = None) -> Table:
    """Parse CSV with a header row from an iterable of lines (a file opened with ``newline=""``).

    Cells stay text (exact), stripped, ``None`` when empty; row numbers are file lines. The header
    is row ``header_row`` (from 1), or, by default, the first row below any title rows
    (``io.layout``; the table's ``notes`` say which row was taken when it is not row 1).

    Raises:
        DataError: for duplicate or blank headers and rows with too many cells.
    """
    reader = csv.reader(lines, strict=True)  # an unclosed quote is an error, never rows swallowed
    head: list[tuple[int, list[str]]] = []
    want = SCAN_ROWS if header_row is None else max(header_row, 1)
    try:
        for cells in reader:
            head.append((reader.line_num, cells))
            if len(head) >= want:
                break
    except csv.Error as exc:
        raise DataError.from_issues([Issue("bad_csv", str(exc), "", Location(label, reader.line_num))], label) from None
    if not head:
        return Table(label, ())
    notes: tuple[Issue, ...] = ()
    if header_row is not None:
        start = check_header_row(header_row, len(head), label)
    else:
        start = find_header([cells for _, cells in head])
        if start:
            notes = (header_note(label, [cells for _, cells in head], start, head[start][0]),)
    header_line, header = head[start]
    issues: list[Issue] = []
    columns: dict[str, int] = {}
    for i, cell in enumerate(header, start=1):
        col = cell.strip()
        if not col:
            issues.append(Issue("bad_header", f"column {i} has no name", "", Location(label, header_line, i)))
        elif col in columns:
            issues.append(
                Issue("duplicate_column", f"column '{col}' appears twice", col, Location(label, header_line, i))
            )
        else:
            columns[col] = i
    names = tuple(c.strip() for c in header)
    width = len(names)
    pad = (None,) * (width + 1)
    rows: list[tuple[int, tuple[str | None, ...]]] = []

    def take(line: int, cells: list[str]) -> None:
        if not "".join(cells).strip():
            return
        if len(cells) > width:
            message = f"row has {len(cells)} cells but the header has {width}"
            issues.append(Issue("bad_csv", message, "", Location(label, line, width + 1)))
            return
        values = tuple([c.strip() or None for c in cells])
        rows.append((line, values + pad[len(values) :]))

    try:
        for line, cells in head[start + 1 :]:  # rows read while looking for the header
            take(line, cells)
        for cells in watched(reader):  # under a memory cap: MemoryError near it, never a spin at it
            take(reader.line_num, cells)
    except csv.Error as exc:
        issues.append(Issue("bad_csv", str(exc), "", Location(label, reader.line_num)))
    if issues:
        raise DataError.from_issues(issues, label)
    return Table(label, (), columns, header=names, cells=tuple(rows), header_line=header_line, notes=notes)


def _row(value: Any, label: str, line: int) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise DataError.from_issues(
            [Issue("bad_json", "each row must be a JSON object", "", Location(label, line))], label
        )
    return value


def read_jsonl_lines(lines: Iterable[str], label: str) -> Table:
    """Parse JSON Lines (one object per line; blank lines skipped) from an iterable of lines.

    Raises:
        DataError: naming every line that is not a JSON object.
    """
    rows: list[tuple[int, dict[str, Any]]] = []
    issues: list[Issue] = []
    for line, raw in enumerate(watched(lines), start=1):
        if not raw.strip():
            continue
        try:
            rows.append((line, _row(json_loads(raw), label, line)))
        except (ValueError, DataError) as exc:
            message = exc.render() if isinstance(exc, DataError) else f"not valid JSON: {exc}"
            issues.append(Issue("bad_json", message, "", Location(label, line)))
    if issues:
        raise DataError.from_issues(issues, label)
    return Table(label, tuple(rows))


def read_json_text(text: str, label: str) -> Table:
    """Parse a JSON array of objects (or ``{"records": [...]}``).

    Raises:
        DataError: for text that is not such an array.
    """
    try:
        data = json_loads(text)
    except ValueError as exc:
        raise DataError.from_issues([Issue("bad_json", f"not valid JSON: {exc}", "", Location(label))], label) from None
    if isinstance(data, dict) and isinstance(data.get("records"), list):
        data = data["records"]
    if not isinstance(data, list):
        raise DataError.from_issues([Issue("bad_json", "expected an array of objects", "", Location(label))], label)
    return Table(label, tuple((i, _row(item, label, i)) for i, item in enumerate(data, start=1)))
