"""Excel workbooks (``.xlsx``, ``.xlsm``, ``.xls``, ``.ods``) through python-calamine (the ``excel`` extra).

The first row of the sheet is the header, unless title rows stand above it (``io.layout``) or
``header_row`` names it; row numbers are the sheet's own, so a message points at the cell a user
sees. Numbers arrive as binary floats (Excel stores doubles) and are read by their shortest repr
under the rule of ``_numbers.float_text``; dates become ISO text. A location reads
``book.xlsx[Sheet1]:3:2``.

A cell *formatted* as a percent shows ``95%`` but stores 0.95. In an ``.xlsx`` such cells are
found from the workbook's styles and read as the user sees them, ``95%``: the percent rule of the
records then applies (exactly 0.95 in a ``ratio`` column, 95 points in a ``score`` column, an
error elsewhere), where the number 0.95 would silently have been a score of 0.95.

A formula cell whose value was never saved (a workbook written by a program, not yet opened and
saved in Excel) is refused at its cell, where it would have read as an empty value. A cell merged
down its column holds its value in every row of the merge, as Excel shows it.
"""

from __future__ import annotations

import re
import zipfile
from decimal import Decimal
from pathlib import Path
from typing import IO, Any
from xml.etree import ElementTree as ET

import attrs

from kpi_engine._numbers import NumberFormatError, canonical, float_text
from kpi_engine.errors import DataError, Issue, KpiError, Location
from kpi_engine.evaluation.frames import rows_table
from kpi_engine.evaluation.records import Table
from kpi_engine.io.layout import check_header_row, find_header, header_note

EXCEL_SUFFIXES = frozenset({".xlsx", ".xlsm", ".xls", ".xlsb", ".ods"})


def read_excel(path: Path, sheet: str | None = None, name: str | None = None, header_row: int | None = None) -> Table:
    """Read one sheet (default: the first visible one) of a workbook into a ``Table``.

    The header is row ``header_row`` (from 1), or, by default, the first row below any title rows
    (``io.layout``; the table's ``notes`` say which row was taken when it is not row 1).

    Raises:
        KpiError: when the reader is not installed, the file cannot be read or the sheet does not
            exist (naming the sheets). DataError: naming each bad cell.
    """
    try:
        from python_calamine import CalamineWorkbook  # noqa: PLC0415 - optional dependency
    except ImportError:
        raise KpiError(f"{path}: reading Excel needs python-calamine: pip install 'kpi_engine[excel]'") from None
    if not path.is_file():
        raise KpiError(f"{path}: no such file")
    try:
        book = CalamineWorkbook.from_path(str(path))
    except Exception as exc:  # noqa: BLE001 - calamine raises its own error types for a damaged file
        raise KpiError(f"{path}: not a readable workbook ({exc})") from None
    names = list(book.sheet_names)
    chosen = sheet if sheet is not None else _first_visible(book, names)
    if chosen is None or chosen not in names:
        shown = ", ".join(names) or "none"
        raise KpiError(f"{path}: no sheet named '{chosen}' (sheets: {shown}); name one with --sheet")
    data = book.get_sheet_by_name(chosen)
    rows: list[list[object]] = [list(r) for r in data.to_python(skip_empty_area=False)]
    label = name or f"{path}[{chosen}]"
    if not rows:
        return Table(label, ())
    percent, unsaved = _styled_cells(path, chosen)
    for line, col in percent:
        if line <= len(rows) and col <= len(rows[line - 1]):
            rows[line - 1][col - 1] = _as_percent(rows[line - 1][col - 1])
    _fill_down(rows, getattr(data, "merged_cell_ranges", None) or ())
    notes: tuple[Issue, ...] = ()
    if header_row is not None:
        start = check_header_row(header_row, len(rows), label)
    else:
        start = find_header(rows)
        if start:
            notes = (header_note(label, rows, start, start + 1),)
    header = list(rows[start])
    while header and (header[-1] is None or header[-1] == ""):
        header.pop()  # trailing empty columns of the sheet's used area
    width = len(header)
    _refuse_unsaved(unsaved, rows, start, width, header, label)
    body = ((i, row[:width]) for i, row in enumerate(rows[start + 1 :], start=start + 2))
    table = rows_table(header, body, label, header_line=start + 1)
    return attrs.evolve(table, notes=notes) if notes else table


def _fill_down(rows: list[list[object]], merges: Any) -> None:
    """Give each cell of a merge down one column the value the sheet shows in it: its top cell's.

    A two-row header merges 工号 over both header rows (the second row has it empty) and a department
    column merges its name down its members' rows; Excel shows the value in every cell of the merge,
    the file holds it in the top one only. Merges across columns (a title, a group label over its
    columns) are left as stored.
    """
    for (top, col), (bottom, last) in merges:
        if col != last or bottom <= top or top >= len(rows) or col >= len(rows[top]):
            continue
        value = rows[top][col]
        for line in range(top + 1, min(bottom, len(rows) - 1) + 1):
            if col < len(rows[line]) and rows[line][col] in (None, ""):
                rows[line][col] = value


def _first_visible(book: Any, names: list[str]) -> str | None:
    """The sheet read when none is named: the first visible worksheet, else the first sheet.

    A hidden first sheet often holds an HR system's drop-down lists; the analyst sees the sheet after it.
    """
    import python_calamine as calamine  # noqa: PLC0415 - optional dependency, imported by the caller already

    visible, worksheet = calamine.SheetVisibleEnum.Visible, calamine.SheetTypeEnum.WorkSheet
    for meta in book.sheets_metadata:
        if meta.visible == visible and meta.typ == worksheet:
            return str(meta.name)
    return names[0] if names else None


_M = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_R = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_PERCENT_BUILTIN = frozenset({9, 10})  # 0% and 0.00%
_LITERAL = re.compile(r'"[^"]*"|\\.')  # quoted text and escaped characters in a number format
_REF = re.compile(r"([A-Z]+)(\d+)")
_FORMULA_TAG = re.compile(rb"<(?:\w+:)?f[\s/>]")


def _as_percent(value: object) -> object:
    """A number shown as a percent, as the text the user sees (0.95 → ``95%``); other values unchanged."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    try:
        number = Decimal(float_text(value) if isinstance(value, float) else str(value))
    except NumberFormatError:
        return value  # the reader reports the float itself
    return canonical(number * 100) + "%"


def _refuse_unsaved(
    unsaved: dict[tuple[int, int], str],
    rows: list[list[object]],
    start: int,
    width: int,
    header: list[object],
    label: str,
) -> None:
    """Refuse the data cells that hold a formula whose value was never saved.

    A workbook written by a program (a report generator, openpyxl, an HR system's export) keeps a
    formula without its value until Excel or LibreOffice computes and saves it; read as it is, the
    cell would be an empty value.

    Raises:
        DataError: naming each such cell of the table, with the formula and what to do.
    """
    issues = []
    for (line, col), formula in sorted(unsaved.items()):
        if line <= start + 1 or col > width or line > len(rows) or rows[line - 1][col - 1] not in (None, ""):
            continue
        shown = f"={formula}" if formula else "a formula"
        issues.append(
            Issue(
                "formula_without_value",
                f"the cell holds {shown} whose value was never saved in the workbook",
                str(header[col - 1] or ""),
                Location(label, line, col),
                suggestion="open the workbook in Excel or LibreOffice and save it, so that the value is stored",
            )
        )
    if issues:
        raise DataError.from_issues(issues, label)


def _styled_cells(path: Path, sheet: str) -> tuple[set[tuple[int, int]], dict[tuple[int, int], str]]:
    """The sheet's percent-formatted cells and its formula cells with no saved value (row, column).

    Each unsaved formula cell maps to its formula; both are empty when the file is not an .xlsx.
    """
    try:
        book = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        return set(), {}
    with book:
        try:
            styles = _percent_styles(book.read("xl/styles.xml"))
            member = _sheet_member(book, sheet)
            if member is None:
                return set(), {}
            formulas = _may_hold_formulas(book, member)
            if not styles and not formulas:
                return set(), {}
            with book.open(member) as fh:
                return _cells_with_style(fh, styles, formulas=formulas)
        except (KeyError, ET.ParseError, ValueError):
            return set(), {}  # not the usual layout: read values as they are


def _may_hold_formulas(book: zipfile.ZipFile, member: str) -> bool:
    """Whether the worksheet's XML has a formula element (``<f>``, any prefix), read in chunks."""
    tail = b""
    with book.open(member) as fh:
        while chunk := fh.read(1 << 20):
            if _FORMULA_TAG.search(tail + chunk):
                return True
            tail = chunk[-16:]
    return False


def _percent_styles(xml: bytes) -> set[int]:
    root = ET.fromstring(xml)  # noqa: S314 - the workbook the user chose to read
    custom = {int(n.get("numFmtId", "0")): n.get("formatCode", "") for n in root.iter(f"{_M}numFmt")}
    xfs = root.find(f"{_M}cellXfs")
    found: set[int] = set()
    for i, xf in enumerate(xfs if xfs is not None else []):
        fid = int(xf.get("numFmtId", "0"))
        if fid in _PERCENT_BUILTIN or "%" in _LITERAL.sub("", custom.get(fid, "")):
            found.add(i)
    return found


def _sheet_member(book: zipfile.ZipFile, sheet: str) -> str | None:
    workbook = ET.fromstring(book.read("xl/workbook.xml"))  # noqa: S314 - the workbook the user chose
    rid = next((s.get(f"{_R}id") for s in workbook.iter(f"{_M}sheet") if s.get("name") == sheet), None)
    rels = ET.fromstring(book.read("xl/_rels/workbook.xml.rels"))  # noqa: S314 - the workbook the user chose
    target = next((r.get("Target", "") for r in rels if r.get("Id") == rid), None)
    if not target:
        return None
    return target.lstrip("/") if target.startswith("/") else f"xl/{target}"


def _cells_with_style(
    fh: IO[bytes], styles: set[int], *, formulas: bool = False
) -> tuple[set[tuple[int, int]], dict[tuple[int, int], str]]:
    cells: set[tuple[int, int]] = set()
    unsaved: dict[tuple[int, int], str] = {}
    for _, el in ET.iterparse(fh):  # noqa: S314 - streamed, element by element
        if el.tag == f"{_M}c":
            style, ref = el.get("s"), _REF.fullmatch(el.get("r", ""))
            if ref is None:
                continue
            col = 0
            for ch in ref.group(1):
                col = col * 26 + ord(ch) - 64
            if style is not None and int(style) in styles:
                cells.add((int(ref.group(2)), col))
            if formulas and (f := el.find(f"{_M}f")) is not None:
                v = el.find(f"{_M}v")  # a text result saved empty (t="str") is a value: an empty one
                if v is None or (not (v.text or "") and el.get("t") not in {"str", "s", "inlineStr"}):
                    unsaved[int(ref.group(2)), col] = (f.text or "").strip()
        elif el.tag == f"{_M}row":
            el.clear()  # memory stays flat over long sheets
    return cells, unsaved
