"""The I/O edge: the only module that reads files. Rulesets, CSV, JSON and JSONL tables.

Numbers in text are kept as text (CSV) or parsed straight to ``Decimal`` (JSON), never through
a binary float. ``NaN`` and ``Infinity`` in JSON are refused.
"""

from __future__ import annotations

import csv
import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

from kpi_engine._perf import paused_gc
from kpi_engine.errors import DataError, Issue, KpiError, Location
from kpi_engine.evaluation.records import Table
from kpi_engine.language.build import Ruleset, parse_ruleset

MAX_FILE_BYTES = 512 * 1024 * 1024


def _read_text(path: Path) -> str:
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            msg = f"{path}: file is larger than {MAX_FILE_BYTES} bytes"
            raise KpiError(msg)
        with path.open("rb") as fh:  # at most the cap, also from a device or pipe (/dev/zero has size 0)
            data = fh.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:
            msg = f"{path}: file is larger than {MAX_FILE_BYTES} bytes"
            raise KpiError(msg)
        text = data.decode("utf-8-sig")
        return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text  # as read_text does
    except FileNotFoundError:
        msg = f"{path}: no such file"
        raise KpiError(msg) from None
    except UnicodeDecodeError as exc:
        msg = f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})"
        raise KpiError(msg) from None
    except IsADirectoryError:
        msg = f"{path}: is a directory, not a file"
        raise KpiError(msg) from None
    except OSError as exc:  # permission denied, a device that cannot be read, …
        msg = f"{path}: cannot read: {exc.strerror or exc}"
        raise KpiError(msg) from None
    except MemoryError:
        msg = f"{path}: not enough memory to read the file"
        raise KpiError(msg) from None


def load_ruleset(path_or_text: str | Path) -> Ruleset:
    """Load a ruleset from a file path, or from YAML text (a ``str`` containing a newline).

    Raises:
        RulesetError: listing every problem with ``file:line:col``. KpiError: if the file cannot be read.
    """
    if isinstance(path_or_text, str) and "\n" in path_or_text:
        return parse_ruleset(path_or_text, "<string>")
    path = Path(path_or_text)
    return parse_ruleset(_read_text(path), str(path))


def _reject_constant(name: str) -> Any:
    msg = f"{name} is not a number"
    raise ValueError(msg)


def _json_loads(text: str) -> Any:
    """``json.loads`` with exact decimals; a document nested too deep is a ``ValueError``.

    The C scanner guards each level with the interpreter's recursion limit (no C-stack risk), so
    a document nested 100,000 deep ends in ``RecursionError`` after about 1,000 levels, cheaply.
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


def read_table(path: str | Path, name: str | None = None) -> Table:
    """Read a CSV (with a header row), JSON (an array of objects) or JSONL file into a ``Table``.

    Raises:
        DataError: for a malformed file, naming the row. KpiError: if the file cannot be read.
    """
    with paused_gc():
        return _read_table(path, name)


def _read_table(path: str | Path, name: str | None = None) -> Table:
    path = Path(path)
    label = name or str(path)
    text = _read_text(path)
    suffix = path.suffix.lower()
    if suffix in {".jsonl", ".ndjson"}:
        return _jsonl(text, label)
    if suffix == ".json":
        return _json(text, label)
    return read_csv_text(text, label)


def read_csv_text(text: str, label: str) -> Table:
    """Parse CSV text with a header row; cells stay text (exact), stripped, ``None`` when empty.

    Row numbers are file lines.

    Raises:
        DataError: for duplicate or blank headers and rows with too many cells.
    """
    reader = csv.reader(text.splitlines(keepends=True), strict=True)  # an unclosed quote must not swallow rows
    try:
        header = next(reader)
    except StopIteration:
        return Table(label, ())
    except csv.Error as exc:
        raise DataError.from_issues([Issue("bad_csv", str(exc), "", Location(label, 1))], label) from None
    issues: list[Issue] = []
    columns: dict[str, int] = {}
    for i, cell in enumerate(header, start=1):
        col = cell.strip()
        if not col:
            issues.append(Issue("bad_header", f"column {i} has no name", "", Location(label, 1, i)))
        elif col in columns:
            issues.append(Issue("duplicate_column", f"column '{col}' appears twice", col, Location(label, 1, i)))
        else:
            columns[col] = i
    names = tuple(c.strip() for c in header)
    width = len(names)
    pad = (None,) * (width + 1)
    rows: list[tuple[int, tuple[str | None, ...]]] = []
    try:
        for cells in reader:
            line = reader.line_num
            if not "".join(cells).strip():
                continue
            if len(cells) > len(names):
                issues.append(
                    Issue(
                        "bad_csv",
                        f"row has {len(cells)} cells but the header has {len(names)}",
                        "",
                        Location(label, line, len(names) + 1),
                    )
                )
                continue
            values = tuple([c.strip() or None for c in cells])
            rows.append((line, values + pad[len(values) :]))
    except csv.Error as exc:
        issues.append(Issue("bad_csv", str(exc), "", Location(label, reader.line_num)))
    if issues:
        raise DataError.from_issues(issues, label)
    return Table(label, (), columns, header=names, cells=tuple(rows))


def _row(value: Any, label: str, line: int) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise DataError.from_issues(
            [Issue("bad_json", "each row must be a JSON object", "", Location(label, line))], label
        )
    return value


def _jsonl(text: str, label: str) -> Table:
    rows: list[tuple[int, dict[str, Any]]] = []
    issues: list[Issue] = []
    for line, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            rows.append((line, _row(_json_loads(raw), label, line)))
        except (ValueError, DataError) as exc:
            message = exc.render() if isinstance(exc, DataError) else f"not valid JSON: {exc}"
            issues.append(Issue("bad_json", message, "", Location(label, line)))
    if issues:
        raise DataError.from_issues(issues, label)
    return Table(label, tuple(rows))


def _json(text: str, label: str) -> Table:
    try:
        data = _json_loads(text)
    except ValueError as exc:
        raise DataError.from_issues([Issue("bad_json", f"not valid JSON: {exc}", "", Location(label))], label) from None
    if isinstance(data, dict) and isinstance(data.get("records"), list):
        data = data["records"]
    if not isinstance(data, list):
        raise DataError.from_issues([Issue("bad_json", "expected an array of objects", "", Location(label))], label)
    return Table(label, tuple((i, _row(item, label, i)) for i, item in enumerate(data, start=1)))
